"""The `shoal` command line.

    shoal train ENV [--config FILE] [--run-dir DIR] [--key value ...]
    shoal eval  ENV --checkpoint PATH [--episodes N] [--deterministic] [--seed S]
    shoal bench ENV [--num-envs N] [--threads T] [--steps S]

ENV is a short name (breakout, snake, snake_arena or snakearena) or a full id
(shoal/Breakout-v0). `train` resolves its settings as configs/default.toml < the env's file <
--config FILE < --key value (see trainer/config.py); `--key value` takes dashes or
underscores, values are TOML literals (--total-timesteps 5e6, --anneal-lr false) and dotted
keys set env parameters (--env.width 8).

torch is imported only inside `train` and `eval`: `shoal bench` needs shoal, gymnasium and
numpy alone. A bad setting, a bad value or a missing checkpoint prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NoReturn

from shoal.trainer.config import ConfigError, load_config, resolve_env


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "train" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "train":
            return run_train(args, extra)
        if args.command == "eval":
            return run_eval(args)
        return run_bench(args)
    except ConfigError as error:
        fail(str(error))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoal", description="Train, evaluate and benchmark on shoal's envs.",
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", allow_abbrev=False, help="train a policy with PPO",
        description="Train with PPO. Any setting of configs/default.toml can follow as "
                    "--key value (TOML literal); --env.NAME value sets an env parameter.",
    )
    train.add_argument("env", metavar="ENV", help="breakout, snake, snake_arena or a full id")
    train.add_argument("--config", type=Path, help="a TOML file overriding the env's settings")
    train.add_argument("--run-dir", type=Path,
                       help="where config.toml, metrics.csv and checkpoints/ go "
                            "(default: runs/<env>-<YYYYmmdd-HHMMSS>)")

    evaluate = commands.add_parser("eval", allow_abbrev=False,
                                   help="play a checkpoint's policy and report its returns")
    evaluate.add_argument("env", metavar="ENV")
    evaluate.add_argument("--checkpoint", type=Path, required=True, help="a .pt file of a run")
    evaluate.add_argument("--episodes", type=positive_int, default=10)
    evaluate.add_argument("--deterministic", action="store_true",
                          help="the most likely action instead of a sample")
    evaluate.add_argument("--seed", type=int, default=0)

    bench = commands.add_parser("bench", allow_abbrev=False,
                                help="agent-steps per second of the env with random actions")
    bench.add_argument("env", metavar="ENV")
    bench.add_argument("--num-envs", type=positive_int, help="default: the env's config")
    bench.add_argument("--threads", type=positive_int, help="default: the env's config")
    bench.add_argument("--steps", type=positive_int, default=1000, help="vector steps timed")
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def fail(message: str) -> NoReturn:
    print(f"shoal: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ---- commands ----


def run_train(args: argparse.Namespace, overrides: list[str]) -> int:
    config = load_config(args.env, args.config, overrides)
    name, _ = resolve_env(args.env)
    run_dir = args.run_dir or Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"

    from shoal.trainer.ppo import train  # torch only from here on

    summary = train(config, run_dir)
    print(f"done: {summary['global_step']:,} steps in {summary['total_wall_time']:.1f} s "
          f"({summary['mean_sps']:,.0f} steps/s); checkpoints in {Path(run_dir) / 'checkpoints'}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    _, env_id = resolve_env(args.env)

    from shoal.trainer.checkpoint import load_checkpoint  # torch only from here on
    from shoal.trainer.ppo import evaluate

    try:
        checkpoint = load_checkpoint(args.checkpoint)
    except FileNotFoundError as error:
        fail(str(error))
    except Exception as error:  # a torn, foreign or non-checkpoint file
        fail(f"cannot read checkpoint {args.checkpoint}: {type(error).__name__}: {error}")
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "model" not in checkpoint:
        fail(f"{args.checkpoint} is not a shoal checkpoint (no model and config)")
    trained_on = checkpoint["config"].get("env_id")
    if trained_on != env_id:
        fail(f"checkpoint {args.checkpoint} was trained on {trained_on}, not {env_id}")
    result = evaluate(checkpoint, args.episodes, args.deterministic, args.seed)
    mode = "deterministic" if args.deterministic else "sampled actions"
    print(f"{env_id}: {args.episodes} episodes ({mode}), checkpoint step {checkpoint['step']:,}")
    print(f"  return {result['return_mean']:.2f} +- {result['return_std']:.2f}   "
          f"score {result['score_mean']:.2f} +- {result['score_std']:.2f}   "
          f"length {result['length_mean']:.1f}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """Time envs.step with random actions drawn up front (shoal.trainer.bench)."""
    from shoal.trainer.bench import bench_env

    config = load_config(args.env)
    num_envs = args.num_envs or config.num_envs
    threads = args.threads or config.num_threads
    try:
        result = bench_env(config.env_id, num_envs, threads, args.steps, repeats=1,
                           core_only=False, **config.env)
    except (TypeError, ValueError) as error:
        fail(f"{config.env_id}: {error}")
    print(f"{config.env_id}: {num_envs} envs, {threads} threads, {args.steps} steps: "
          f"{result['steps_per_second_median'] / 1e6:.2f} M agent-steps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
