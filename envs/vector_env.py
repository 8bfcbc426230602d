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
import warnings
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from shoal._ext.core import openmp_available
from shoal.game import Game
from shoal.validation import check_bool, check_int

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
        )
        core.bind(*(getattr(buffers, field.name) for field in dataclasses.fields(cls)))
        return buffers


class ShoalVectorEnv(gymnasium.vector.VectorEnv):
    """Base of every shoal vector env; see the game modules for the documentation of each."""

    game_class: ClassVar[type[Game]]
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
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
        copy: bool = True,
        **game_kwargs: Any,
    ):
        self.game = self.game_class(**game_kwargs)
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
        self.copy = check_bool("copy", copy)
        self.max_episode_steps = max_episode_steps

        self.num_envs = num_envs
        self.agents_per_world = agents
        self.num_worlds = num_envs // agents
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = self.game.observation_space()
        self.single_action_space = self.game.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.stat_names = ("return", "length", *self.game.stat_names)

        self.core = self.game.make_core(self.num_worlds)
        self.core.configure(
            AUTORESET_CODES[self.autoreset_mode], max_episode_steps or 0, self.num_threads
        )
        self.buffers = CoreBuffers.bind(
            self.core, self.single_observation_space, self.single_action_space
        )
        self._needs_reset = True
        self._seeded_once = False

    # ---- Gymnasium API ----

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self._check_open()
        row_mask = None
        options = dict(options or {})
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
        return self.buffers.observations, {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self._check_open()
        if self._needs_reset:
            raise ResetNeeded(f"{type(self).__name__}.step() was called before reset()")
        if self.autoreset_mode is AutoresetMode.DISABLED and self.buffers.awaiting_reset.any():
            rows = np.flatnonzero(self.buffers.awaiting_reset)
            raise ResetNeeded(
                f"sub-envs {rows[:8].tolist()} ended and autoreset_mode is DISABLED: reset them "
                "with reset(options={'reset_mask': mask}) before stepping"
            )
        self.buffers.actions[...] = check_actions(
            self.single_action_space, actions, self.action_space.shape, "actions"
        )
        if self.copy:
            # The core writes this step's observations straight into a new array, which the
            # user keeps: no copy, and the writing is spread over the threads.
            self._use_new_observation_buffer(np.empty_like(self.buffers.observations))
        episodes_ended = self.core.step()
        infos: dict[str, Any] = {}
        if episodes_ended:
            infos = self._episode_infos()
        if self.copy:
            return (
                self.buffers.observations,
                self.buffers.rewards.copy(),
                self.buffers.terminations.copy(),
                self.buffers.truncations.copy(),
                infos,
            )
        return self.buffers.observations, self.buffers.rewards, self.buffers.terminations, self.buffers.truncations, infos

    def render(self) -> None:
        """Rendering arrives with shoal.render; with render_mode=None there is nothing to draw."""
        return None

    def close_extras(self, **kwargs: Any) -> None:
        # VectorEnv.close() calls this once and sets self.closed, so close() is idempotent.
        self.core = None

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
            infos["_final_info"] = ended.copy()
        return infos

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_envs={self.num_envs}, {self.game.parameters()})"
