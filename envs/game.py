"""What a game module tells the shared env wrappers (envs/vector_env.py, envs/single_env.py).

A game subclasses `Game`: its constructor takes the game's keyword parameters and validates
them (envs/validation.py), and its methods describe the spaces and build the native core.
Everything else (buffers, seeding, autoreset, time limits, action checks, infos, episode
statistics, threading, rendering) is shared and lives once in the wrappers and
cython_ext/core.pyx. For rendering a game names its scene (render/scenes/), hands it the
state of one world, and says which keys play it.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import gymnasium

from shoal.render.play import Controls
from shoal.render.scene import Scene


class Game(abc.ABC):
    #: Names of the game's per-episode statistics, in the order the core writes them
    #: (write_game_stats); the loop adds "return" and "length" in front.
    stat_names: ClassVar[tuple[str, ...]] = ()
    #: The statistic the trainer logs, plots and checks as the game's score.
    score_stat: ClassVar[str] = "score"
    #: False for games that exist only as many agents in one world (make_vec only).
    single_agent: ClassVar[bool] = True
    #: Default time limit (a truncation); None for none.
    default_max_episode_steps: ClassVar[int | None] = None

    def agents_per_world(self) -> int:
        """Rows (agents) per world; num_envs must be a multiple of it."""
        return 1

    @abc.abstractmethod
    def observation_space(self) -> gymnasium.spaces.Box:
        """The space of one row's observation (a Box: the core writes fixed-size rows)."""

    @abc.abstractmethod
    def action_space(self) -> gymnasium.spaces.Discrete | gymnasium.spaces.Box:
        """The space of one row's action."""

    @abc.abstractmethod
    def make_core(self, num_worlds: int) -> Any:
        """Build the game's VectorCore subclass for `num_worlds` worlds."""

    def parameters(self) -> dict[str, Any]:
        """The validated parameters, for repr and docs."""
        return dict(vars(self))

    # ---- Rendering (render/) ----

    @abc.abstractmethod
    def make_scene(self, view: str) -> Scene:
        """The game's scene; view is "world" (the whole world) or "agent" (a camera on the
        followed agent, where the scene has one; otherwise the same as "world")."""

    @abc.abstractmethod
    def scene_state(self, core: Any, world: int, agent: int) -> dict[str, Any]:
        """What the scene draws for `agent` of `world` (the wrapper adds "step")."""

    @abc.abstractmethod
    def render_fps(self) -> int:
        """Steps shown per second in a window, and the frame rate of videos."""

    @abc.abstractmethod
    def controls(self) -> Controls:
        """The keys that play the game (shoal play, and get_keys_to_action for
        gymnasium.utils.play)."""
