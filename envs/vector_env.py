"""The native vector env shared by every shoal game.

`ShoalVectorEnv` is a `gymnasium.vector.VectorEnv` whose sub-envs are rows of one native core
(cython_ext/core.pyx). It owns the buffers (allocated once and bound to the core), turns seeds
into per-world RNG seeds, validates actions at the boundary, and builds infos that follow
Gymnasium's vector conventions. A game subclasses it with only `game_class` set.

Per step the Python work is a fixed number of numpy calls, whatever num_envs is: validate and
copy the actions, one call into the core (GIL released), then copies of the result buffers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from shoal._ext.core import (
    STATE_FORMAT_VERSION,
    STATE_SCOPE,
    checked_state_arrays,
    openmp_available,
)
from shoal.game import Game, Presentation, bind_game
from shoal.validation import check_bool, check_int, check_options

if TYPE_CHECKING:
    from shoal.render.scene import Scene, SceneView

# Codes of the autoreset modes in the native loop (cython_ext/core.pxd, AutoresetCode).
AUTORESET_CODES = {
    AutoresetMode.NEXT_STEP: 0,
    AutoresetMode.SAME_STEP: 1,
    AutoresetMode.DISABLED: 2,
}
MAX_THREADS = 256
#: Bounds that keep sizes far inside the native int and int64 types.
MAX_NUM_ENVS = 2**24
MAX_EPISODE_STEPS = 2**62
SEED_LIMIT = 2**64
#: max_episode_steps default: the game's own time limit (None means no time limit).
GAME_DEFAULT: Any = "game default"
#: "rgb_array": render() returns frames drawn by numpy, no display needed; "human": a raylib
#: window, drawn after every reset and step.
RENDER_MODES = ["human", "rgb_array"]
#: What a render shows: the whole world, or a camera following the rendered agent.
RENDER_VIEWS = ("world", "agent")


#: The buffers a state holds: those that carry over from one call to the next (the final
#: observations and the actions are written afresh before they are read).
BUFFERS_IN_STATE = (
    "observations",
    "rewards",
    "terminations",
    "truncations",
    "episode_ended",
    "awaiting_reset",
    "episode_stats",
)


def text_array(text: str) -> np.ndarray:
    """Text as a uint8 array: a state holds numpy arrays only (torch.load weights_only)."""
    return np.frombuffer(text.encode(), np.uint8).copy()


def array_text(array: np.ndarray) -> str:
    return array.tobytes().decode()


class ResetNeeded(gymnasium.error.ResetNeeded, ValueError):
    """step() before reset(), or a sub-env stepped after its episode ended with autoreset off."""


class ClosedEnvironmentError(gymnasium.error.ClosedEnvironmentError, ValueError):
    """The env was used after close()."""


def parse_autoreset_mode(value: Any) -> AutoresetMode:
    """Accept an AutoresetMode, its value ("NextStep") or its name ("NEXT_STEP", any case)."""
    if isinstance(value, AutoresetMode):
        return value
    if isinstance(value, str):
        for mode in AutoresetMode:
            if value in (mode.value, mode.name) or value.upper() == mode.name:
                return mode
    choices = ", ".join(f"AutoresetMode.{mode.name}" for mode in AutoresetMode)
    raise ValueError(f"autoreset_mode must be one of {choices}, got {value!r}")


def check_actions(space: gymnasium.Space, actions: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Return `actions` as an array of `shape` whose entries lie in `space` (Discrete or Box).

    Raises TypeError for a wrong kind of dtype and ValueError for a wrong shape, NaN/inf or an
    out-of-range entry, naming `name`, what was expected and what came. Vectorized: a few numpy
    reductions, never a Python loop over entries.
    """
    array = np.asarray(actions)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} for {space}, got shape {array.shape}")
    if isinstance(space, gymnasium.spaces.Discrete):
        if array.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integers for {space}, got dtype {array.dtype}")
        low, high = int(space.start), int(space.start + space.n - 1)
        if array.size and (array.min() < low or array.max() > high):
            bad = array[(array < low) | (array > high)]
            raise ValueError(f"{name} must be in [{low}, {high}] for {space}, got {bad[:8].tolist()}")
        return array
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be real numbers for {space}, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite for {space}, got NaN or inf")
    outside = (array < space.low) | (array > space.high)
    if outside.any():
        raise ValueError(
            f"{name} must lie in [{space.low.min()}, {space.high.max()}] for {space}, "
            f"got {array[outside][:8].tolist()}"
        )
    return array


@dataclasses.dataclass(eq=False)
class CoreBuffers:
    """The arrays a native core is bound to (cython_ext/core.pxd), one row per agent.

    Allocated once; the core writes them in place on every reset and step.
    """

    observations: np.ndarray  # [rows, *observation shape], the observation space's dtype
    final_observations: np.ndarray  # SAME_STEP: last observation of the rows that just ended
    actions: np.ndarray  # [rows] int32 for Discrete, [rows, *shape] float32 for Box
    rewards: np.ndarray  # [rows] float32
    terminations: np.ndarray  # [rows] bool
    truncations: np.ndarray  # [rows] bool
    episode_ended: np.ndarray  # [rows] bool: the row's episode ended on the last step
    awaiting_reset: np.ndarray  # [rows] bool: ended and not reset yet
    episode_stats: np.ndarray  # [2 + game stats, rows] float64: return, length, game stats
    # Games with action masks: [rows, actions] bool, of the observations (and, in SAME_STEP,
    # of the final observations); None for games without.
    action_masks: np.ndarray | None
    final_action_masks: np.ndarray | None

    @classmethod
    def bind(
        cls, core: Any, observation_space: gymnasium.spaces.Box, action_space: gymnasium.Space
    ) -> CoreBuffers:
        n = core.num_rows
        observations = np.zeros((n, *observation_space.shape), dtype=observation_space.dtype)
        if isinstance(action_space, gymnasium.spaces.Discrete):
            actions = np.zeros(n, dtype=np.int32)
        else:
            actions = np.zeros((n, *action_space.shape), dtype=np.float32)
        buffers = cls(
            observations=observations,
            final_observations=np.zeros_like(observations),
            actions=actions,
            rewards=np.zeros(n, dtype=np.float32),
            terminations=np.zeros(n, dtype=np.bool_),
            truncations=np.zeros(n, dtype=np.bool_),
            episode_ended=np.zeros(n, dtype=np.bool_),
            awaiting_reset=np.zeros(n, dtype=np.bool_),
            episode_stats=np.zeros((2 + core.num_game_stats, n), dtype=np.float64),
            action_masks=None,
            final_action_masks=None,
        )
        if core.action_mask_size:
            buffers.action_masks = np.zeros((n, core.action_mask_size), dtype=np.bool_)
            buffers.final_action_masks = np.zeros_like(buffers.action_masks)
        core.bind(*(getattr(buffers, field.name) for field in dataclasses.fields(cls)))
        return buffers


class ShoalVectorEnv(gymnasium.vector.VectorEnv):
    """Base of every shoal vector env; see the game modules for the documentation of each."""

    game_class: ClassVar[type[Game]]  # the rules
    presentation_class: ClassVar[type[Presentation]]  # how they are drawn and played

    def __init_subclass__(cls, game: type[Game] | None = None,
                          presentation: type[Presentation] | None = None, **kwargs: Any):
        """`class MyGameVectorEnv(ShoalVectorEnv, game=MyGame, presentation=MyPresentation)`."""
        super().__init_subclass__(**kwargs)
        # A multi-agent game has no single env: its docs live on its vector env.
        bind_game(cls, game, presentation, documented=game is not None and not game.single_agent)

    #: The vector env's own keyword arguments (those of __init__); every other keyword is
    #: the game's. gymnasium.make's single env takes only render_mode and render_view of
    #: them; the PettingZoo adapter sets num_envs, autoreset_mode and copy itself.
    WRAPPER_ARGUMENTS: ClassVar[frozenset[str]] = frozenset({
        "num_envs", "max_episode_steps", "autoreset_mode", "num_threads",
        "render_mode", "render_env_index", "render_view", "copy",
    })
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": RENDER_MODES,
        "render_fps": 30,  # each instance holds its game's rate
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        *,
        max_episode_steps: int | None = GAME_DEFAULT,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        num_threads: int = 1,
        render_mode: str | None = None,
        render_env_index: int = 0,
        render_view: str = "world",
        copy: bool = True,
        **game_kwargs: Any,
    ):
        self.game = self.game_class(**game_kwargs)
        self.presentation = self.presentation_class(self.game)
        num_envs = check_int("num_envs", num_envs, 1, MAX_NUM_ENVS)
        agents = self.game.agents_per_world()
        if num_envs % agents != 0:
            raise ValueError(
                f"num_envs must be a multiple of the {agents} agents per world of "
                f"{type(self).__name__} (num_envs = worlds x agents), got {num_envs}"
            )
        if max_episode_steps is GAME_DEFAULT:
            max_episode_steps = self.game.default_max_episode_steps
        if max_episode_steps is not None:
            max_episode_steps = check_int("max_episode_steps", max_episode_steps, 1, MAX_EPISODE_STEPS)
        self.autoreset_mode = parse_autoreset_mode(autoreset_mode)
        self.num_threads = check_int("num_threads", num_threads, 1, MAX_THREADS)
        if self.num_threads > 1 and not openmp_available():
            warnings.warn(
                f"num_threads={self.num_threads} was asked for but shoal was built without OpenMP;"
                " stepping runs on one thread",
                RuntimeWarning,
                stacklevel=2,
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {[None, *self.metadata['render_modes']]}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.render_env_index = check_int("render_env_index", render_env_index, 0, num_envs - 1)
        if render_view not in RENDER_VIEWS:
            raise ValueError(f"render_view must be one of {RENDER_VIEWS}, got {render_view!r}")
        self.render_view = render_view
        self._view: SceneView | None = None
        self.copy = check_bool("copy", copy)
        self.max_episode_steps = max_episode_steps

        self.num_envs = num_envs
        self.agents_per_world = agents
        self.num_worlds = num_envs // agents
        self.metadata = {
            **type(self).metadata,
            "autoreset_mode": self.autoreset_mode,
            "render_fps": self.presentation.render_fps(),
        }
        self.single_observation_space = self.game.observation_space()
        self.single_action_space = self.game.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.stat_names = ("return", "length", *self.game.stat_names)
        self.score_stat = self.game.score_stat  # what the trainer logs as the score

        self.core = self.game.make_core(self.num_worlds)
        self.core.configure(
            AUTORESET_CODES[self.autoreset_mode], max_episode_steps or 0, self.num_threads
        )
        self.buffers = CoreBuffers.bind(
            self.core, self.single_observation_space, self.single_action_space
        )
        self._needs_reset = True
        self._seeded_once = False

    @classmethod
    def game_for(cls, **kwargs: Any) -> Game:
        """The game that make_vec(id, **kwargs) would run: kwargs without the wrapper's own
        arguments (num_envs, max_episode_steps, render_mode, ...) go to the game."""
        return cls.game_class(**{k: v for k, v in kwargs.items() if k not in cls.WRAPPER_ARGUMENTS})

    @classmethod
    def presentation_for(cls, **kwargs: Any) -> Presentation:
        """How the game that make_vec(id, **kwargs) would run is drawn and played (its scene,
        rate and keys), without building an env."""
        return cls.presentation_class(cls.game_for(**kwargs))

    # ---- Gymnasium API ----

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self._check_open()
        row_mask = None
        options = check_options(options)
        if "reset_mask" in options:
            row_mask = self._check_reset_mask(options.pop("reset_mask"))
        if options:
            raise ValueError(
                f"options may only contain 'reset_mask' for {type(self).__name__}, "
                f"got unknown keys {sorted(options)}"
            )
        if self.copy:
            # Never write into an array the user holds: rows that are not reset keep their
            # last observation, in a new array.
            self._use_new_observation_buffer(self.buffers.observations.copy())
        self._seed(seed, row_mask)
        if isinstance(seed, int) and not isinstance(seed, bool):
            super().reset(seed=seed)  # keeps self.np_random in step with the seed, as Gymnasium does
        self.core.reset(None if row_mask is None else row_mask.view(np.uint8))
        if row_mask is None:
            self.buffers.terminations[:] = False
            self.buffers.truncations[:] = False
        else:
            self.buffers.terminations[row_mask] = False
            self.buffers.truncations[row_mask] = False
        self._needs_reset = False
        if self.render_mode == "human":
            self.render()
        return self.buffers.observations, self._action_mask_infos()

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.check_steppable(type(self).__name__)
        self.refuse_rows_awaiting_reset()
        return self.step_unchecked(
            check_actions(self.single_action_space, actions, self.action_space.shape, "actions")
        )

    def refuse_rows_awaiting_reset(self) -> None:
        """ResetNeeded if rows ended with autoreset off and were not reset since."""
        if self.autoreset_mode is AutoresetMode.DISABLED and self.buffers.awaiting_reset.any():
            rows = np.flatnonzero(self.buffers.awaiting_reset)
            raise ResetNeeded(
                f"sub-envs {rows[:8].tolist()} ended and autoreset_mode is DISABLED: reset them "
                "with reset(options={'reset_mask': mask}) before stepping"
            )

    def step_unchecked(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """step() for actions its caller has checked already (the single env checks its one
        action itself): an action is checked once."""
        episodes_ended = self.advance(actions)
        infos = self._action_mask_infos()
        if episodes_ended:
            infos.update(self._episode_infos())
        if self.copy:
            return (
                self.buffers.observations,
                self.buffers.rewards.copy(),
                self.buffers.terminations.copy(),
                self.buffers.truncations.copy(),
                infos,
            )
        return self.buffers.observations, self.buffers.rewards, self.buffers.terminations, self.buffers.truncations, infos

    def advance(self, actions: np.ndarray, rows: np.ndarray | None = None) -> bool:
        """The one unchecked row step behind step(), the single env and the PettingZoo
        adapter: write the checked `actions` (of `rows` only, if given: the other rows keep
        their last action, which the game ignores in rows that ended), step every world once
        and draw the window in "human" mode. Returns whether an episode ended."""
        if rows is None:
            self.buffers.actions[...] = actions
        else:
            self.buffers.actions[rows] = actions
        if self.copy:
            # The core writes this step's observations straight into a new array, which the
            # user keeps: no copy, and the writing is spread over the threads.
            self._use_new_observation_buffer(np.empty_like(self.buffers.observations))
        episodes_ended = self.core.step()
        if self.render_mode == "human":
            self.render()
        return bool(episodes_ended)

    # ---- Snapshots ----

    def get_state(self) -> dict[str, np.ndarray]:
        """The env's complete state as named numpy arrays (copies), for set_state.

        It holds what a state must match (format version, game, game parameters, num_envs,
        agents per world, autoreset mode, time limit), the native state (every world's game
        state and Rng, each row's episode return and length), the buffers that carry over
        from one call to the next (observations, last rewards and flags, ended and
        awaiting-reset rows, episode statistics) and whether a reset is needed. Only numpy
        arrays, so it converts to torch tensors for torch.save. docs/api.md lists the entries.
        """
        self._check_open()
        state = self._state_header()
        state["needs_reset"] = np.array(self._needs_reset)
        state["seeded_once"] = np.array(self._seeded_once)
        for name in BUFFERS_IN_STATE:
            state[name] = getattr(self.buffers, name).copy()
        state.update(self.core.get_state())
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue exactly from `state`, which get_state returned in an env made with the same
        id, num_envs, game parameters, autoreset mode and time limit, by the same shoal build
        (num_threads and copy may differ). The current observations are state["observations"].

        Raises ValueError naming what differs (or is damaged), and then changes nothing.
        """
        self._check_open()
        if not isinstance(state, Mapping):
            raise TypeError(
                f"state must be a dict of arrays from get_state, got {type(state).__name__}"
            )
        self._check_state_header(state)  # first: "another game" says more than "a wrong size"
        core_layout = self.core.state_layout()
        layout = {
            "needs_reset": (np.dtype(np.bool_), ()),
            "seeded_once": (np.dtype(np.bool_), ()),
            **{name: (getattr(self.buffers, name).dtype, getattr(self.buffers, name).shape)
               for name in BUFFERS_IN_STATE},
            **core_layout,
        }
        extra = sorted(set(state) - set(layout) - set(self._state_header()))
        if extra:
            raise ValueError(f"the state has unknown entries {extra}; {STATE_SCOPE}")
        arrays = checked_state_arrays(state, layout)
        # The core checks its part and writes it only when all of it is sound; nothing is
        # written before, and nothing written after can fail.
        self.core.set_state({name: arrays[name] for name in core_layout})
        if self.copy:
            # The user may hold the current observation buffer: restore into a new one.
            self._use_new_observation_buffer(np.empty_like(self.buffers.observations))
        for name in BUFFERS_IN_STATE:
            getattr(self.buffers, name)[...] = arrays[name]
        self._needs_reset = bool(arrays["needs_reset"])
        self._seeded_once = bool(arrays["seeded_once"])

    def _state_header(self) -> dict[str, np.ndarray]:
        """What a state must match to be loaded here."""
        return {
            "format_version": np.array(STATE_FORMAT_VERSION, np.int64),
            "game_name": text_array(self.game_class.__name__),
            "game_parameters": text_array(json.dumps(self.game.parameters(), sort_keys=True)),
            "num_envs": np.array(self.num_envs, np.int64),
            "agents_per_world": np.array(self.agents_per_world, np.int64),
            "autoreset_mode": np.array(AUTORESET_CODES[self.autoreset_mode], np.int64),
            "max_episode_steps": np.array(self.max_episode_steps or 0, np.int64),
        }

    def _check_state_header(self, state: Mapping[str, Any]) -> None:
        mine = self._state_header()
        missing = [name for name in mine if name not in state]
        if missing:
            raise ValueError(f"the state lacks {missing}: it is not a state from get_state")
        theirs = {name: np.asarray(state[name]) for name in mine}
        for name, value in theirs.items():
            # The texts' lengths vary; their contents are compared below.
            if value.dtype != mine[name].dtype or value.ndim != mine[name].ndim:
                raise ValueError(
                    f"state[{name!r}] must be a {mine[name].ndim}-d {mine[name].dtype} array, "
                    f"got a {value.ndim}-d {value.dtype} array"
                )
        version = int(theirs["format_version"])
        if version != STATE_FORMAT_VERSION:
            raise ValueError(
                f"the state has format version {version}, this shoal reads version "
                f"{STATE_FORMAT_VERSION}; {STATE_SCOPE}"
            )
        try:
            game = array_text(theirs["game_name"])
            parameters = json.loads(array_text(theirs["game_parameters"]))
            if not isinstance(parameters, dict):
                raise ValueError(f"a dict was expected, got {type(parameters).__name__}")
        except ValueError as error:  # also UnicodeDecodeError and JSONDecodeError
            raise ValueError(f"the state's game name or parameters are damaged: {error}") from None
        my_game = self.game_class.__name__
        if game != my_game:
            raise ValueError(f"the state is of the game {game}, this env runs {my_game}")
        my_parameters = self.game.parameters()
        differences = [
            f"{name} is {parameters.get(name, 'absent')} in the state, "
            f"{my_parameters.get(name, 'absent')} here"
            for name in sorted(parameters.keys() | my_parameters.keys())
            if parameters.get(name, "absent") != my_parameters.get(name, "absent")
        ]
        if differences:
            raise ValueError(f"the state's game parameters differ: {'; '.join(differences)}")
        mode_names = {code: mode.name for mode, code in AUTORESET_CODES.items()}
        for name, show in (
            ("num_envs", str),
            ("agents_per_world", str),
            ("autoreset_mode", lambda code: mode_names.get(code, f"code {code}")),
            ("max_episode_steps", lambda steps: str(steps or None)),
        ):
            value, my_value = int(theirs[name]), int(mine[name])
            if value != my_value:
                raise ValueError(
                    f"the state has {name}={show(value)}, this env has {name}={show(my_value)}"
                )

    # ---- Rendering ----

    @functools.cached_property
    def scene(self) -> Scene:
        """The game's scene (render/scenes/) for this env's render_view."""
        return self.presentation.make_scene(self.render_view)

    def scene_state(self) -> dict[str, Any]:
        """What the scene draws: the state of sub-env `render_env_index` (its world, and which
        agent the HUD and camera follow) and "step", its episode's steps so far."""
        self._check_open()
        world, agent = divmod(self.render_env_index, self.agents_per_world)
        state = self.presentation.scene_state(self.core, world, agent)
        state["step"] = self.core.episode_progress(self.render_env_index)[1]
        return state

    def render(self) -> np.ndarray | None:
        """Draw sub-env `render_env_index`: "rgb_array" returns the frame, uint8
        [height, width, 3] (no display needed); "human" shows it in a raylib window paced at
        metadata["render_fps"] (and happens by itself after every reset and step)."""
        self._check_open()
        if self.render_mode is None:
            gymnasium.logger.warn(
                f"{type(self).__name__}.render() was called with render_mode=None: pass "
                "render_mode='rgb_array' or 'human' when making the env"
            )
            return None
        if self._needs_reset:
            raise ResetNeeded(f"{type(self).__name__}.render() was called before reset()")
        if self._view is None:
            from shoal.render.scene import SceneView  # drawing imports render/, stepping never

            title = f"shoal: {self.game_class.__name__.removesuffix('Game')}"
            self._view = SceneView(self.scene, self.render_mode, fps=self.metadata["render_fps"],
                                   title=title)
        return self._view.show(self.scene_state())

    def close_extras(self, **kwargs: Any) -> None:
        # VectorEnv.close() calls this once and sets self.closed, so close() is idempotent.
        view = getattr(self, "_view", None)  # absent when __init__ failed before making it
        if view is not None:
            view.close()
            self._view = None
        self.core = None

    def check_steppable(self, caller: str) -> None:
        """Raise ClosedEnvironmentError after close(), ResetNeeded before the first reset():
        what every step() over these rows checks first (`caller` names the class whose
        step() it is: this env, a single env, the PettingZoo adapter)."""
        self._check_open()
        if self._needs_reset:
            raise ResetNeeded(f"{caller}.step() was called before reset()")

    # ---- helpers ----

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedEnvironmentError(f"{type(self).__name__} was used after close()")

    def _use_new_observation_buffer(self, observations: np.ndarray) -> None:
        self.buffers.observations = observations
        self.core.bind_observations(observations)

    def _check_reset_mask(self, reset_mask: Any) -> np.ndarray:
        if not isinstance(reset_mask, np.ndarray):
            raise TypeError(f"options['reset_mask'] must be a numpy array, got {type(reset_mask).__name__}")
        if reset_mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask'] must have shape ({self.num_envs},), got {reset_mask.shape}"
            )
        if reset_mask.dtype != np.bool_:
            raise TypeError(f"options['reset_mask'] must have dtype bool, got {reset_mask.dtype}")
        if not reset_mask.any():
            raise ValueError("options['reset_mask'] must contain at least one True value")
        if self._needs_reset:
            raise ResetNeeded("reset(options={'reset_mask': ...}) needs a full reset() first")
        return np.ascontiguousarray(reset_mask)

    def _seed(self, seed: Any, row_mask: np.ndarray | None) -> None:
        """Seed the worlds: an int s seeds row i with s + i (as Gymnasium's vector envs do), a
        list gives each row its own seed (None: keep its stream); a world takes the seed of
        its first row. seed=None continues every stream. The first reset seeds every world:
        rows without a seed then draw fresh entropy from the operating system."""
        n = self.num_envs
        if seed is None and self._seeded_once:
            return
        if seed is None:
            row_seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seed = check_int("seed", seed, 0, SEED_LIMIT - n)
            row_seeds = [seed + row for row in range(n)]
        elif isinstance(seed, (list, tuple, np.ndarray)):
            if len(seed) != n:
                raise ValueError(f"seed as a list must have num_envs={n} entries, got {len(seed)}")
            row_seeds = [
                None if s is None else check_int(f"seed[{row}]", s, 0, SEED_LIMIT - 1)
                for row, s in enumerate(seed)
            ]
        else:
            raise TypeError(
                f"seed must be None, an int or a list of num_envs ints, got {type(seed).__name__}"
            )
        if not self._seeded_once:
            fresh = int(np.random.SeedSequence().entropy) % (SEED_LIMIT - n)
            row_seeds = [fresh + row if s is None else s for row, s in enumerate(row_seeds)]
        first_rows = range(0, n, self.agents_per_world)
        world_seeds = np.array([row_seeds[row] or 0 for row in first_rows], dtype=np.uint64)
        world_mask = np.array([row_seeds[row] is not None for row in first_rows], dtype=np.uint8)
        if row_mask is not None:
            world_mask &= row_mask[list(first_rows)].astype(np.uint8)
        self.core.seed_worlds(world_seeds, world_mask)
        self._seeded_once = True

    def _action_mask_infos(self) -> dict[str, Any]:
        """{"action_mask": bool [num_envs, actions], "_action_mask": all True} for games with
        action masks (which actions change anything, for the current observations); else {}."""
        masks = self.buffers.action_masks
        if masks is None:
            return {}
        return {"action_mask": masks.copy(), "_action_mask": np.ones(self.num_envs, np.bool_)}

    def _episode_infos(self) -> dict[str, Any]:
        """Per-episode statistics of the rows whose episode ended on this step, laid out as
        Gymnasium's vector envs lay out a sub-env info {"episode_stats": {...}}."""
        ended = self.buffers.episode_ended.copy()
        # The core keeps zeros in the rows that did not end on this step.
        columns = self.buffers.episode_stats.copy()
        stats: dict[str, Any] = {}
        for name, values in zip(self.stat_names, columns):
            stats[name] = values.astype(np.int64) if name == "length" else values
            stats[f"_{name}"] = ended.copy()
        infos: dict[str, Any] = {"episode_stats": stats, "_episode_stats": ended}
        if self.autoreset_mode is AutoresetMode.SAME_STEP:
            # Gymnasium's layout: an object array holding the last observation of each ended
            # row (None elsewhere), and the ending step's info, here its statistics. One copy
            # of the ended rows; the loop only places one view per ended row.
            rows = np.flatnonzero(ended)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for row, observation in zip(rows, self.buffers.final_observations[rows]):
                final_obs[row] = observation
            infos["final_obs"] = final_obs
            infos["_final_obs"] = ended.copy()
            infos["final_info"] = {
                "episode_stats": {name: values.copy() for name, values in stats.items()},
                "_episode_stats": ended.copy(),
            }
            if self.buffers.final_action_masks is not None:
                # The masks of the final observations, as the ending step's info held them.
                final_masks = np.where(ended[:, None], self.buffers.final_action_masks, False)
                infos["final_info"]["action_mask"] = final_masks
                infos["final_info"]["_action_mask"] = ended.copy()
            infos["_final_info"] = ended.copy()
        return infos

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled: its state lives in native "
                        "memory. Make another with gymnasium.make_vec(...), and copy a state "
                        "with get_state() / set_state()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_envs={self.num_envs}, {self.game.parameters()})"
