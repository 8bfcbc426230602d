"""Agent-steps per second of every registered shoal env.

For each id, num_envs and num_threads: build the native vector env with `gymnasium.make_vec`,
draw random actions up front, and time `step()` (the full Python step, validation and result
copies included) over several repeats; the median is reported. The `core` column times the
native loop alone (`envs.core.step()` on the same buffers), which bounds what the wrapper can
reach. Prints a table and writes JSON.

    python scripts/bench_envs.py                                  # every id, 1024 envs, 1 thread
    python scripts/bench_envs.py --num-envs 4096 --threads 1 2    # thread scaling
"""

from __future__ import annotations

import os

# numpy's OpenBLAS worker threads spin on a small machine and steal time from the measured
# loop; the benchmark uses no BLAS, so keep them off (must precede the numpy import).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import gymnasium
import numpy as np

import shoal
from shoal._ext.core import openmp_available


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_steps(step, actions: list, steps: int, repeats: int) -> list[float]:
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


def bench(env_id: str, num_envs: int, threads: int, steps: int, repeats: int, copy: bool) -> dict:
    envs = gymnasium.make_vec(env_id, num_envs=num_envs, num_threads=threads, copy=copy)
    envs.reset(seed=0)
    space = envs.action_space
    space.seed(0)
    actions = [space.sample() for _ in range(64)]
    full = time_steps(envs.step, actions, steps, repeats)

    core, action_buffer = envs.core, envs.buffers.actions

    def core_step(batch):
        action_buffer[...] = batch
        core.step()

    native = time_steps(core_step, actions, steps, repeats)
    envs.close()
    per_second = [num_envs * steps / s for s in full]
    return {
        "env_id": env_id,
        "num_envs": num_envs,
        "num_threads": threads,
        "copy": copy,
        "steps": steps,
        "repeats": repeats,
        "steps_per_second_median": statistics.median(per_second),
        "steps_per_second_all": per_second,
        "core_steps_per_second_median": statistics.median(num_envs * steps / s for s in native),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(shoal.ENV_IDS), help="ids to measure")
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1024])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--steps", type=int, default=2000, help="vector steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-copy", action="store_true",
                        help="return the env's buffers instead of copies (copy=False)")
    parser.add_argument("--json", type=Path, default=Path("bench_results/envs.json"))
    args = parser.parse_args()
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    unknown = sorted(set(args.envs) - set(shoal.ENV_IDS))
    if unknown:
        parser.error(f"--envs: unknown ids {unknown}; registered: {list(shoal.ENV_IDS)}")

    machine = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "shoal": shoal.__version__,
        "openmp": openmp_available(),
    }
    print(f"machine: {machine}")
    header = f"{'env':<22}{'num_envs':>9}{'threads':>8}{'steps/s (median)':>18}{'core only':>14}"
    print(header)
    print("-" * len(header))
    results = []
    for env_id in args.envs:
        for num_envs in args.num_envs:
            for threads in args.threads:
                row = bench(env_id, num_envs, threads, args.steps, args.repeats, not args.no_copy)
                results.append(row)
                print(
                    f"{env_id.removeprefix('shoal/'):<22}{num_envs:>9}{threads:>8}"
                    f"{row['steps_per_second_median'] / 1e6:>16.2f} M"
                    f"{row['core_steps_per_second_median'] / 1e6:>12.2f} M"
                )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.json.with_suffix(".tmp")
    temporary.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    temporary.replace(args.json)  # atomic: a reader never sees half a file
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
