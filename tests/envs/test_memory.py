"""The native cores allocate once: resident memory does not grow over a long run."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium
import pytest
from gymnasium.vector import AutoresetMode

import shoal

from .conftest import make_small_vec, random_actions

STATM = Path("/proc/self/statm")


def resident_bytes() -> int:
    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not STATM.exists(), reason="needs /proc/self/statm (Linux)")
@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_resident_memory_is_flat_over_a_long_run(env_id, mode):
    envs = make_small_vec(env_id, worlds=16, max_episode_steps=50, autoreset_mode=mode)
    envs.reset(seed=0)
    actions = random_actions(envs, 32, seed=0)

    def run(steps: int) -> None:
        for i in range(steps):
            if mode is AutoresetMode.DISABLED and envs.buffers.awaiting_reset.any():
                envs.reset(options={"reset_mask": envs.buffers.awaiting_reset.copy()})
            envs.step(actions[i % len(actions)])

    run(3_000)  # warm-up: allocator pools, caches of numpy and Python
    before = resident_bytes()
    run(20_000)  # about 400 episodes per row, every ending path of the mode
    growth = resident_bytes() - before
    envs.close()
    assert growth < 2 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MiB"


def test_creating_and_closing_envs_does_not_leak():
    def cycle() -> None:
        envs = gymnasium.make_vec("shoal/SnakeArena-v0", num_envs=512)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())
        envs.close()

    for _ in range(3):
        cycle()
    before = resident_bytes()
    for _ in range(20):
        cycle()
    growth = resident_bytes() - before
    assert growth < 8 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MiB over 20 envs"
