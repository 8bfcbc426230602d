"""The single env: the same native core as the vector env, with one row.

`ShoalEnv` is what `gymnasium.make("shoal/<Game>-v0")` returns (inside Gymnasium's usual
wrappers). It holds a one-row `ShoalVectorEnv` with autoreset off and no native time limit:
`gymnasium.make` adds the `TimeLimit` wrapper from the registered `max_episode_steps`, as for
every Gymnasium env. Buffers, seeding, validation and statistics are the vector env's.
"""

from __future__ import annotations

import functools
import types
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode

from shoal.game import Game, Presentation, bind_game
from shoal.validation import check_options, check_seed
from shoal.vector_env import RENDER_MODES, SEED_LIMIT, ResetNeeded, ShoalVectorEnv, check_actions


#: Arguments of the vector env that a single env does not take: it is one row with autoreset
#: off, and gymnasium.make consumes max_episode_steps itself and adds its TimeLimit wrapper.
VECTOR_ARGUMENTS = ShoalVectorEnv.WRAPPER_ARGUMENTS - {"render_mode", "render_view"}


@functools.cache
def one_row_env_class(game_class: type[Game], presentation_class: type[Presentation],
                      env_name: str) -> type[ShoalVectorEnv]:
    """The one-row vector env a single env wraps, named after the single env, so that the
    errors it raises name the class the user made (BreakoutEnv, not an internal one)."""
    return types.new_class(env_name, (ShoalVectorEnv,),
                           {"game": game_class, "presentation": presentation_class})


class ShoalEnv(gymnasium.Env):
    """Base of every shoal single env; see the game modules for the documentation of each."""

    game_class: ClassVar[type[Game]]  # the rules
    presentation_class: ClassVar[type[Presentation]]  # how they are drawn and played
    metadata: ClassVar[dict[str, Any]] = {"render_modes": RENDER_MODES, "render_fps": 30}

    def __init_subclass__(cls, game: type[Game] | None = None,
                          presentation: type[Presentation] | None = None, **kwargs: Any):
        """`class MyGameEnv(ShoalEnv, game=MyGame, presentation=MyPresentation)`."""
        super().__init_subclass__(**kwargs)
        bind_game(cls, game, presentation, documented=True)

    def __init__(self, render_mode: str | None = None, **game_kwargs: Any):
        if not self.game_class.single_agent:
            raise TypeError(
                f"{self.game_class.__name__} is multi-agent: create it with gymnasium.make_vec"
            )
        vector_only = sorted(VECTOR_ARGUMENTS & game_kwargs.keys())
        if vector_only:
            raise TypeError(
                f"{type(self).__name__} is a single env and does not take {vector_only}: "
                "those are arguments of gymnasium.make_vec"
            )
        self._rows = one_row_env_class(self.game_class, self.presentation_class, type(self).__name__)(
            1,
            max_episode_steps=None,
            autoreset_mode=AutoresetMode.DISABLED,
            render_mode=render_mode,
            copy=False,
            **game_kwargs,
        )
        self.game = self._rows.game
        self.core = self._rows.core
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "render_fps": self._rows.metadata["render_fps"]}
        self.observation_space = self._rows.single_observation_space
        self.action_space = self._rows.single_action_space
        self._episode_over = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        # Checked here, before Gymnasium's own seeding raises its gymnasium.error.Error, so
        # that a bad seed is the same ValueError / TypeError as in the vector env.
        seed = check_seed(seed, SEED_LIMIT)
        options = check_options(options)
        if options:
            raise ValueError(
                f"options are not used by {type(self).__name__}, got keys {sorted(options)}"
            )
        super().reset(seed=seed)
        observations, infos = self._rows.reset(seed=seed)
        self._episode_over = False
        return observations[0].copy(), self._row_info(infos)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._rows.check_steppable(type(self).__name__)
        if self._episode_over:
            # Gymnasium leaves stepping a finished episode undefined; shoal says so clearly.
            raise ResetNeeded(f"{type(self).__name__}.step() after the episode ended: call reset()")
        action = check_actions(self.action_space, action, self.action_space.shape, "action")
        self._rows.refuse_rows_awaiting_reset()  # the game's own truncation (Maze) ended it
        observations, rewards, terminations, truncations, infos = self._rows.step_unchecked(action[None])
        terminated = bool(terminations[0])
        self._episode_over = terminated
        info = self._row_info(infos)
        if "episode_stats" in infos:
            stats = infos["episode_stats"]
            info["episode_stats"] = {
                name: stats[name][0].item() for name in self._rows.stat_names
            }
        return observations[0].copy(), float(rewards[0]), terminated, bool(truncations[0]), info

    @staticmethod
    def _row_info(infos: dict[str, Any]) -> dict[str, Any]:
        """The single env's info: the game's action mask (if it has masks) of its one row."""
        return {"action_mask": infos["action_mask"][0]} if "action_mask" in infos else {}

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled: its state lives in native "
                        "memory. Make another with gymnasium.make(env.spec); a vector env of "
                        "one row (gymnasium.make_vec) can copy its state with get_state() / "
                        "set_state()")

    def render(self) -> np.ndarray | None:
        """"rgb_array": the frame, uint8 [height, width, 3], drawn without a display;
        "human": a raylib window (drawn by itself after every reset and step)."""
        return self._rows.render()

    @property
    def scene(self) -> Any:
        """The game's scene (render/scenes/)."""
        return self._rows.scene

    def scene_state(self) -> dict[str, Any]:
        """What the scene draws (see ShoalVectorEnv.scene_state)."""
        return self._rows.scene_state()

    def get_keys_to_action(self) -> dict[tuple[str, ...], int]:
        """Keys for gymnasium.utils.play.play: the game's letter keys (WASD)."""
        return self._rows.presentation.controls().keys_to_action()

    def close(self) -> None:
        self._rows.close()
        super().close()
