"""Shared fixtures of the env tests: every registered id, with small settings so the whole
conformance suite stays fast. A new game adds its id to shoal.ENV_IDS and, if its defaults
are large, a small setting here; the suite then runs over it unchanged."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import shoal

# Small worlds for ids whose defaults are large (a 640 x 360 arena of 256 snakes).
SMALL_KWARGS: dict[str, dict] = {
    "shoal/SnakeArena-v0": dict(snakes_per_arena=4, width=20, height=14, num_food=12),
    "shoal/MMO-v0": dict(width=32, height=32, agents_per_world=8, npcs_per_world=6),
}


def is_single_agent(env_id: str) -> bool:
    return gymnasium.spec(env_id).entry_point != shoal.VECTOR_ONLY_ENTRY_POINT


def small_kwargs(env_id: str) -> dict:
    return dict(SMALL_KWARGS.get(env_id, {}))


def rows_per_world(env_id: str, **kwargs) -> int:
    """Agents per world of the id with its small settings (and kwargs)."""
    game = shoal.vector_env_class(env_id).game_for(**{**small_kwargs(env_id), **kwargs})
    return game.agents_per_world()


def make_small_vec(env_id: str, worlds: int = 3, **kwargs) -> shoal.ShoalVectorEnv:
    return gymnasium.make_vec(
        env_id, num_envs=worlds * rows_per_world(env_id), **{**small_kwargs(env_id), **kwargs}
    )


def random_actions(envs, steps: int, seed: int) -> list[np.ndarray]:
    """Actions drawn up front from the batched action space, reproducible by seed."""
    space = envs.action_space
    space.seed(seed)
    return [space.sample() for _ in range(steps)]


@pytest.fixture(params=shoal.ENV_IDS)
def env_id(request) -> str:
    return request.param


@pytest.fixture(params=[i for i in shoal.ENV_IDS if is_single_agent(i)])
def single_env_id(request) -> str:
    return request.param
