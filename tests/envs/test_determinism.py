"""A fixed seed and fixed actions give a recorded trajectory, bit for bit.

The hashes pin the games' rules and the RNG streams: a change to either shows up here. A change
that is meant (a rule fixed, a new version of an env) records new hashes, and the env's
Version History says what changed. The actions come from a fixed formula, not from a library
RNG, so they cannot move with a dependency's version.
"""

from __future__ import annotations

import hashlib

import gymnasium
import numpy as np
import pytest

import shoal

from .conftest import make_small_vec

RECORDED = {
    "shoal/Breakout-v0": "c4b45f9e8503aabbefb4241149124ed874f898acb6d363bf3eee8d8bf841c1cd",
    "shoal/Snake-v0": "ff9a439d511860021dbee336ffe8504f1bc6e1434eccb1a07d14486c57b2b429",
    "shoal/SnakeArena-v0": "4ec2760a5b618fe9125619e078fa0e259b1919c10e95b589d99d6f614e8494ec",
    "shoal/2048-v0": "6c62b78deb138c00d3c150eeeb08bba0bb90c4267de830a757cca444037a1171",
    "shoal/Maze-v0": "4600374c07057daecfbe5f1832b5feaafed1afca106baf5ed48c8420ca96cdfc",
    "shoal/Drone-v0": "71d8a1b2a5fb69d64ac065cd180a29b632d4af10fa99cc7ec93f34be50167180",
    "shoal/MMO-v0": "8ee287be868d93b7d2cb4fc9d034eee9b2bd487a31cbf3de708fb232778edcc4",
}


def fixed_actions(envs, steps: int) -> list[np.ndarray]:
    rows = envs.num_envs
    t = np.arange(steps)[:, None]
    i = np.arange(rows)[None, :]
    pattern = t * 7 + i * 13 + (t * i) % 5
    space = envs.single_action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        return list((pattern % space.n).astype(np.int64))
    # Box: each entry a fixed fraction of the way from low to high (Drone's motor commands).
    components = np.arange(int(np.prod(space.shape))).reshape(space.shape)
    fractions = ((pattern[..., None] + 3 * components) % 11 / 10).astype(np.float32)
    return list(space.low + fractions * (space.high - space.low))


def trajectory_hash(env_id: str) -> str:
    envs = make_small_vec(env_id, worlds=4, max_episode_steps=100)
    digest = hashlib.sha256()
    observations, _ = envs.reset(seed=2024)
    digest.update(observations.tobytes())
    for actions in fixed_actions(envs, 400):
        observations, rewards, terminations, truncations, infos = envs.step(actions)
        for array in (observations, rewards, terminations, truncations):
            digest.update(array.tobytes())
        if "episode_stats" in infos:
            for name in envs.stat_names:
                digest.update(infos["episode_stats"][name].tobytes())
    envs.close()
    return digest.hexdigest()


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_recorded_trajectory(env_id):
    assert trajectory_hash(env_id) == RECORDED[env_id]


def test_single_env_trajectory_is_reproducible():
    def run() -> bytes:
        env = gymnasium.make("shoal/Breakout-v0")
        obs, _ = env.reset(seed=99)
        out = [obs.tobytes()]
        for step in range(300):
            obs, reward, terminated, truncated, _ = env.step(step % 3)
            out.append(obs.tobytes())
            if terminated or truncated:
                obs, _ = env.reset()
        return b"".join(out)

    assert run() == run()
