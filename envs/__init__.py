"""shoal: fast reinforcement-learning environments with Cython cores and the Gymnasium API.

Importing shoal registers its environments with Gymnasium:

    import gymnasium, shoal
    env = gymnasium.make("shoal/Breakout-v0")
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=1024)   # the native vector env
"""

from __future__ import annotations

from typing import Any, NoReturn

import gymnasium

from shoal.breakout import BreakoutEnv, BreakoutVectorEnv
from shoal.drone import DroneEnv, DroneVectorEnv
from shoal.game2048 import Game2048Env, Game2048VectorEnv
from shoal.maze import MazeEnv, MazeVectorEnv
from shoal.mmo import MMOVectorEnv
from shoal.snake import SnakeEnv, SnakeVectorEnv
from shoal.snake_arena import SnakeArenaVectorEnv
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


#: The catalogue, the one list of shoal's ids: each id with its single env class (None: the
#: game is multi-agent and exists only as a vector env) and its native vector env class.
#: Registration, ENV_IDS and __all__ all come from it.
CATALOGUE: tuple[tuple[str, type[ShoalEnv] | None, type[ShoalVectorEnv]], ...] = (
    ("shoal/Breakout-v0", BreakoutEnv, BreakoutVectorEnv),
    ("shoal/Snake-v0", SnakeEnv, SnakeVectorEnv),
    ("shoal/SnakeArena-v0", None, SnakeArenaVectorEnv),
    ("shoal/2048-v0", Game2048Env, Game2048VectorEnv),
    ("shoal/Maze-v0", MazeEnv, MazeVectorEnv),
    ("shoal/Drone-v0", DroneEnv, DroneVectorEnv),
    ("shoal/MMO-v0", None, MMOVectorEnv),
)


def entry_point(cls: type) -> str:
    return f"{cls.__module__}:{cls.__name__}"


def register(env_id: str, single: type[ShoalEnv] | None, vector: type[ShoalVectorEnv]) -> None:
    if env_id in gymnasium.registry:
        return  # importlib.reload(shoal) must not warn about re-registration
    gymnasium.register(
        id=env_id,
        entry_point=entry_point(single) if single else VECTOR_ONLY_ENTRY_POINT,
        vector_entry_point=entry_point(vector),
        max_episode_steps=vector.game_class.default_max_episode_steps,
    )


for _env_id, _single, _vector in CATALOGUE:
    register(_env_id, _single, _vector)


def vector_env_class(env_id: str) -> type[ShoalVectorEnv]:
    """The native vector env class registered for a shoal id; its `game_for(**kwargs)` gives
    the game (and so its agents per world, scene and controls) without building an env."""
    from gymnasium.envs.registration import load_env_creator

    spec = gymnasium.spec(env_id)
    if spec.vector_entry_point is None or not env_id.startswith("shoal/"):
        raise ValueError(f"{env_id!r} is not a shoal id")
    return load_env_creator(spec.vector_entry_point)


#: Every id shoal registers; the conformance tests and the benchmark run over all of them.
ENV_IDS: tuple[str, ...] = tuple(env_id for env_id, _, _ in CATALOGUE)

__all__ = [
    "CATALOGUE",
    "ENV_IDS",
    "ClosedEnvironmentError",
    "ResetNeeded",
    "ShoalEnv",
    "ShoalVectorEnv",
    "vector_env_class",
    *(cls.__name__ for _, single, vector in CATALOGUE for cls in (single, vector) if cls is not None),
]
