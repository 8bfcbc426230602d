"""Agent-steps per second of every registered shoal env.

For each id, num_envs and num_threads: the median over repeats of the full Python `step()`
and of the native loop alone (`core only`), timed by shoal.trainer.bench (the same loop as
`shoal bench`). Prints a table and writes JSON.

    python scripts/bench_envs.py                                  # every id, 1024 envs, 1 thread
    python scripts/bench_envs.py --num-envs 4096 --threads 1 2    # thread scaling
    python scripts/bench_envs.py --envs shoal/Maze-v0 --env max_size=47   # game parameters
"""

from __future__ import annotations

import os

# numpy's OpenBLAS worker threads spin on a small machine and steal time from the measured
# loop; the benchmark uses no BLAS, so keep them off (must precede the numpy import).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import tomllib
from pathlib import Path

import gymnasium
import numpy as np

import shoal
from shoal._ext.core import openmp_available
from shoal.files import write_text_atomically
from shoal.trainer.bench import bench_env, cpu_capability, cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(shoal.ENV_IDS), help="ids to measure")
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1024])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--steps", type=int, default=2000, help="vector steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-copy", action="store_true",
                        help="return the env's buffers instead of copies (copy=False)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a game parameter for every id measured, the value a TOML literal "
                             "(--env max_size=47 --env moves='\"relative\"'); repeatable")
    parser.add_argument("--json", type=Path, default=Path("bench_results/envs.json"))
    args = parser.parse_args()
    env_kwargs = {}
    for item in args.env:
        key, equals, value = item.partition("=")
        if not equals or not key.isidentifier():
            parser.error(f"--env {item!r}: expected KEY=VALUE, e.g. max_size=47")
        try:
            env_kwargs[key] = tomllib.loads(f"value = {value}")["value"]
        except tomllib.TOMLDecodeError as error:
            parser.error(f"--env {item!r}: the value must be a TOML literal ({error})")
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    unknown = sorted(set(args.envs) - set(shoal.ENV_IDS))
    if unknown:
        parser.error(f"--envs: unknown ids {unknown}; registered: {list(shoal.ENV_IDS)}")

    machine = {
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "shoal": shoal.__version__,
        "openmp": openmp_available(),
    }
    print(f"machine: {machine}")
    if env_kwargs:
        print(f"parameters: {env_kwargs}")
    header = (f"{'env':<22}{'num_envs':>9}{'threads':>8}{'steps/s (median)':>18}"
              f"{'core only':>14}{'reset us/world':>16}")
    print(header)
    print("-" * len(header))
    results = []
    for env_id in args.envs:
        for num_envs in args.num_envs:
            for threads in args.threads:
                row = bench_env(env_id, num_envs, threads, args.steps, args.repeats,
                                copy=not args.no_copy, **env_kwargs)
                results.append(row)
                print(
                    f"{env_id.removeprefix('shoal/'):<22}{num_envs:>9}{threads:>8}"
                    f"{row['steps_per_second_median'] / 1e6:>16.2f} M"
                    f"{row['core_steps_per_second_median'] / 1e6:>12.2f} M"
                    f"{row['reset_microseconds_per_world_median']:>16.2f}"
                )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.json, json.dumps({"machine": machine, "parameters": env_kwargs, "results": results}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
