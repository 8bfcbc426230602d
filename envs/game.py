"""What a game module tells the shared env wrappers (envs/vector_env.py, envs/single_env.py).

A game subclasses `Game`: its constructor takes the game's keyword parameters and validates
them (envs/validation.py), and its methods describe the spaces and build the native core.
Everything else (buffers, seeding, autoreset, time limits, action checks, infos, episode
statistics, threading) is shared and lives once in the wrappers and cython_ext/core.pyx.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import gymnasium


class Game(abc.ABC):
    #: Names of the game's per-episode statistics, in the order the core writes them
    #: (write_game_stats); the loop adds "return" and "length" in front.
    stat_names: ClassVar[tuple[str, ...]] = ()
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
