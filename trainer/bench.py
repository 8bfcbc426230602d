"""Agent-steps per second of shoal's vector envs: the one timing loop behind
scripts/bench_envs.py and `shoal bench`. torch-free.

Random actions are drawn up front from the batched action space; `step()` is timed over
several repeats after a warm-up, with the full Python call (action checks, the native step,
fresh result arrays, episode infos). The `core` times run the native loop alone
(`envs.core.step()` on the same buffers), which bounds what the Python wrapper can reach,
and time `envs.core.reset()`: the cost of starting one world's episode.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium

import shoal  # noqa: F401  (registers the shoal ids)


def time_steps(step: Callable[[Any], Any], actions: list, steps: int, repeats: int) -> list[float]:
    """Seconds per `steps` calls of step(actions[i % len]) for each repeat."""
    for i in range(min(steps, 50)):  # warm-up: caches, branch predictors, first episodes
        step(actions[i % len(actions)])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            step(actions[i % len(actions)])
        seconds.append(time.perf_counter() - start)
    return seconds


def bench_env(
    env_id: str,
    num_envs: int,
    threads: int,
    steps: int,
    repeats: int,
    copy: bool = True,
    core_only: bool = True,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Median agent-steps/s of `step()` (and of the native loop alone when core_only)."""
    envs = gymnasium.make_vec(env_id, num_envs=num_envs, num_threads=threads, copy=copy,
                              **env_kwargs)
    try:
        envs.reset(seed=0)
        envs.action_space.seed(0)
        actions = [envs.action_space.sample() for _ in range(64)]
        per_second = [num_envs * steps / s for s in time_steps(envs.step, actions, steps, repeats)]
        result: dict[str, Any] = {
            "env_id": env_id,
            "num_envs": num_envs,
            "num_threads": threads,
            "copy": copy,
            "steps": steps,
            "repeats": repeats,
            "steps_per_second_median": statistics.median(per_second),
            "steps_per_second_all": per_second,
        }
        if core_only:
            core, action_buffer = envs.core, envs.buffers.actions

            def core_step(batch: Any) -> None:
                action_buffer[...] = batch
                core.step()

            native = time_steps(core_step, actions, steps, repeats)
            result["core_steps_per_second_median"] = statistics.median(
                num_envs * steps / s for s in native
            )
            # What one episode start costs (an autoreset pays it once per episode).
            resets = time_steps(lambda _: core.reset(), [None], max(1, steps // 50), repeats)
            result["reset_microseconds_per_world_median"] = statistics.median(
                1e6 * s / (max(1, steps // 50) * envs.core.num_worlds) for s in resets
            )
        return result
    finally:
        envs.close()


def cpu_capability() -> str:
    """The SIMD level torch's CPU kernels use here ("AVX512", "AVX2", "DEFAULT", ...): runs
    are bit-identical only between machines of the same capability. torch's own answer when
    torch is installed, else the same rule read from /proc/cpuinfo's flags."""
    try:
        import torch
    except ImportError:
        pass
    else:
        return torch.backends.cpu.get_cpu_capability()
    try:
        flags = next((line.split(":", 1)[1].split() for line in
                      Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), [])
    except OSError:
        flags = []
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= set(flags):
        return "AVX512"
    return "AVX2" if "avx2" in flags else "DEFAULT"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), for benchmark and reference records."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
