"""shoal: fast reinforcement-learning environments with Cython cores and the Gymnasium API.

Importing shoal registers its environments with Gymnasium:

    import gymnasium, shoal
    env = gymnasium.make("shoal/Breakout-v0")
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=1024)   # the native vector env
"""

from __future__ import annotations

from typing import Any, NoReturn

import gymnasium

from shoal.breakout import BreakoutEnv, BreakoutGame, BreakoutVectorEnv
from shoal.drone import DroneEnv, DroneGame, DroneVectorEnv
from shoal.game2048 import Game2048, Game2048Env, Game2048VectorEnv
from shoal.maze import MazeEnv, MazeGame, MazeVectorEnv
from shoal.mmo import MMOGame, MMOVectorEnv
from shoal.snake import SnakeArenaGame, SnakeArenaVectorEnv, SnakeEnv, SnakeGame, SnakeVectorEnv
from shoal.single_env import ShoalEnv
from shoal.vector_env import ClosedEnvironmentError, ResetNeeded, ShoalVectorEnv

__version__ = "0.1.0"


#: The entry point of ids that exist only as vector envs (many agents share one world).
VECTOR_ONLY_ENTRY_POINT = "shoal:vector_only"


def vector_only(**kwargs: Any) -> NoReturn:
    """What gymnasium.make (and make_vec's "sync"/"async" modes) get for a vector-only id."""
    raise TypeError(
        "this environment is multi-agent and exists only as shoal's native vector env: create "
        "it with gymnasium.make_vec(id, num_envs=N) and the default vectorization mode, where "
        "N is a multiple of its agents per world"
    )


def _register(env_id: str, module: str, single: str | None, vector: str, game: type) -> None:
    if env_id in gymnasium.registry:
        return  # importlib.reload(shoal) must not warn about re-registration
    gymnasium.register(
        id=env_id,
        entry_point=f"shoal.{module}:{single}" if single else VECTOR_ONLY_ENTRY_POINT,
        vector_entry_point=f"shoal.{module}:{vector}",
        max_episode_steps=game.default_max_episode_steps,
    )


_register("shoal/Breakout-v0", "breakout", "BreakoutEnv", "BreakoutVectorEnv", BreakoutGame)
_register("shoal/Snake-v0", "snake", "SnakeEnv", "SnakeVectorEnv", SnakeGame)
_register("shoal/SnakeArena-v0", "snake", None, "SnakeArenaVectorEnv", SnakeArenaGame)
_register("shoal/2048-v0", "game2048", "Game2048Env", "Game2048VectorEnv", Game2048)
_register("shoal/Maze-v0", "maze", "MazeEnv", "MazeVectorEnv", MazeGame)
_register("shoal/Drone-v0", "drone", "DroneEnv", "DroneVectorEnv", DroneGame)
_register("shoal/MMO-v0", "mmo", None, "MMOVectorEnv", MMOGame)


def vector_env_class(env_id: str) -> type[ShoalVectorEnv]:
    """The native vector env class registered for a shoal id; its `game_for(**kwargs)` gives
    the game (and so its agents per world, scene and controls) without building an env."""
    from gymnasium.envs.registration import load_env_creator

    spec = gymnasium.spec(env_id)
    if spec.vector_entry_point is None or not env_id.startswith("shoal/"):
        raise ValueError(f"{env_id!r} is not a shoal id")
    return load_env_creator(spec.vector_entry_point)


#: Every id shoal registers; the conformance tests and the benchmark run over all of them.
ENV_IDS: tuple[str, ...] = (
    "shoal/Breakout-v0", "shoal/Snake-v0", "shoal/SnakeArena-v0", "shoal/2048-v0", "shoal/Maze-v0",
    "shoal/Drone-v0", "shoal/MMO-v0",
)

__all__ = [
    "ENV_IDS",
    "BreakoutEnv",
    "BreakoutVectorEnv",
    "DroneEnv",
    "DroneVectorEnv",
    "Game2048Env",
    "Game2048VectorEnv",
    "MazeEnv",
    "MazeVectorEnv",
    "MMOVectorEnv",
    "ClosedEnvironmentError",
    "ResetNeeded",
    "ShoalEnv",
    "ShoalVectorEnv",
    "SnakeArenaVectorEnv",
    "SnakeEnv",
    "SnakeVectorEnv",
    "vector_env_class",
]
