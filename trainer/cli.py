"""The `shoal` command line.

    shoal train ENV [--config FILE] [--run-dir DIR] [--key value ...]
    shoal train ENV --resume RUN_DIR
    torchrun --nproc-per-node N -m shoal.trainer.cli train ENV ...   (data parallel)
    shoal eval  ENV --checkpoint PATH [--episodes N] [--deterministic] [--seed S]
                [--render] [--video FILE.gif|FILE.mp4] [--max-frames N]
    shoal play  ENV [--checkpoint PATH] [--agent I] [--view world|agent] [--fps N] [--seed S]
    shoal bench ENV [--num-envs N] [--threads T] [--steps S]
    shoal reproduce ENV [--seed S] [--run-dir DIR] [--total-timesteps N] [--reference-root DIR]
    shoal sweep ENV --trials N [--budget-minutes M | --budget-steps S] [--storage URL]
                [--study NAME] [--out DIR] [--config FILE] [--threads T] [--pruner P]
                [--prune-after PERCENT] [--seeds K] [--sampler-seed S]

ENV is a short name (breakout, snake, snake_arena, 2048, maze, drone, mmo) or a full id
(shoal/Breakout-v0). `train` resolves its settings as configs/default.toml < the env's file <
--config FILE < --key value (see trainer/config.py); `--key value` takes dashes or
underscores, values are TOML literals (--total-timesteps 5e6, --anneal-lr false) and dotted
keys set env parameters (--env.width 8).

`sweep` searches hyperparameters with Optuna (trainer/sweep.py): the search space is the
[sweep] table of the env's config file or of --config FILE.

`reproduce` trains with the env's reference config (trainer/reference/<env>/config.toml) and
compares the run with the reference band (trainer/reference.py): exit status 0 inside, 1 outside.

torch is imported only inside `train`, `eval`, `reproduce`, `sweep` and `play --checkpoint`: `shoal
bench` needs shoal, gymnasium and numpy alone, and `shoal play` adds only raylib. A bad
setting, a bad value, a missing checkpoint or a missing reference prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from gymnasium.error import DependencyNotInstalled

from shoal.render.raylib_canvas import DisplayUnavailable
from shoal.trainer.config import (
    ConfigError,
    TrainingDiverged,
    load_config,
    parse_overrides,
    resolve_env,
)

if TYPE_CHECKING:
    from shoal.trainer.reference import Reference


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command not in ("train", "eval") and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "train":
            return run_train(args, extra)
        if args.command == "eval":
            return run_eval(args, env_overrides(extra))
        if args.command == "reproduce":
            return run_reproduce(args)
        if args.command == "play":
            return run_play(args)
        if args.command == "sweep":
            return run_sweep(args)
        return run_bench(args)
    except (ConfigError, DisplayUnavailable, DependencyNotInstalled) as error:
        fail(str(error))
    except OSError as error:  # a read-only folder, a full disk, an unwritable --video path
        target = error.filename2 or error.filename  # a rename names its destination second
        where = f"{target}: " if target else ""
        fail(f"{where}{error.strerror or error}")
    except TrainingDiverged as error:
        print(f"shoal: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        resumable = " (continue a run with shoal train ENV --resume RUN_DIR)" \
            if args.command == "train" else ""
        print(f"shoal: interrupted{resumable}", file=sys.stderr)
        return 130


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
    train.add_argument("env", metavar="ENV", help="a short name (breakout, snake, snake_arena, 2048, maze, drone, mmo) or a full id")
    train.add_argument("--config", type=Path, help="a TOML file overriding the env's settings")
    train.add_argument("--run-dir", type=Path,
                       help="where config.toml, metrics.csv and checkpoints/ go "
                            "(default: a new runs/<env>-<YYYYmmdd-HHMMSS>); one that holds a "
                            "run is refused")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run already in --run-dir (its config.toml, "
                            "metrics.csv and checkpoints are deleted)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue the run in RUN_DIR from its checkpoints/latest.pt, with "
                            "its own settings (no --config or --key value); a resumed CPU run "
                            "matches an uninterrupted one")

    evaluate = commands.add_parser(
        "eval", allow_abbrev=False, help="play a checkpoint's policy and report its returns",
        description="Play a checkpoint's policy in its env and report return, score, length and "
                    "the game's statistics. --env.NAME value changes a game parameter for the "
                    "evaluation (Maze: --env.split test plays held-out mazes).",
    )
    evaluate.add_argument("env", metavar="ENV")
    policy = evaluate.add_mutually_exclusive_group(required=True)
    policy.add_argument("--checkpoint", type=Path, help="a .pt file of a run")
    policy.add_argument("--pretrained", action="store_true",
                        help="the policy shipped with shoal for ENV (trainer/pretrained/)")
    evaluate.add_argument("--episodes", type=positive_int,
                          help="episodes to play (default 10; 1 with --render or --video)")
    evaluate.add_argument("--deterministic", action="store_true",
                          help="the most likely action instead of a sample")
    evaluate.add_argument("--seed", type=non_negative_int, default=0)
    evaluate.add_argument("--render", action="store_true",
                          help="watch the episodes (one after another) in a window")
    evaluate.add_argument("--video", type=Path, metavar="FILE",
                          help="record the episodes to FILE (.gif needs Pillow; .mp4 needs "
                               "imageio-ffmpeg), drawn headless")
    evaluate.add_argument("--max-frames", type=positive_int, default=3000, metavar="N",
                          help="the video keeps at most N frames (default 3000)")

    play = commands.add_parser(
        "play", allow_abbrev=False, help="play an env with the keyboard in a window",
        description="Play in a raylib window: the game's keys (shown under the scene), P pause, "
                    "R reset, +/- speed, Esc quit. In a multi-agent game you control one agent; "
                    "the others follow --checkpoint, or act at random.",
    )
    play.add_argument("env", metavar="ENV")
    others = play.add_mutually_exclusive_group()
    others.add_argument("--checkpoint", type=Path,
                        help="multi-agent games: the policy of the agents you do not control")
    others.add_argument("--pretrained", action="store_true",
                        help="the policy shipped with shoal: one-agent games, watch it play "
                             "(in the window, or headless with --video); multi-agent games, "
                             "it drives the agents you do not control")
    play.add_argument("--video", type=Path, metavar="FILE",
                      help="with --pretrained in a one-agent game: record its episodes to "
                           "FILE (.gif or .mp4) headless instead of opening a window")
    play.add_argument("--episodes", type=positive_int, default=1,
                      help="with --pretrained in a one-agent game: episodes to watch (default 1)")
    play.add_argument("--agent", type=int, default=0, help="the agent you control (default 0)")
    play.add_argument("--view", choices=("world", "agent"), default="world",
                      help="the whole world, or a camera on your agent (default world)")
    play.add_argument("--fps", type=positive_int, help="steps per second (default: the env's)")
    play.add_argument("--seed", type=non_negative_int, help="seed of the world (default: random)")

    bench = commands.add_parser("bench", allow_abbrev=False,
                                help="agent-steps per second of the env with random actions")
    bench.add_argument("env", metavar="ENV")
    bench.add_argument("--num-envs", type=positive_int, help="default: the env's config")
    bench.add_argument("--threads", type=positive_int, help="default: the env's config")
    bench.add_argument("--steps", type=positive_int, default=1000, help="vector steps timed")
    bench.add_argument("--trainer", type=positive_int, metavar="UPDATES", default=0,
                       help="also time UPDATES updates of PPO end to end with the env's "
                            "training config (needs torch), split into rollout and update")

    reproduce = commands.add_parser(
        "reproduce", allow_abbrev=False,
        help="train with an env's reference config and compare the run with the reference",
        description="Train with the env's reference config (trainer/reference/ENV/config.toml), "
                    "then compare the run's final score with the band of the reference seeds "
                    "and plot both (RUN_DIR/reproduce.png, needs matplotlib).",
        epilog="exit status: 0 the run lies inside the reference band, 1 it lies outside, "
               "2 bad input (an unknown env, no reference for it, a bad value)",
    )
    reproduce.add_argument("env", metavar="ENV")
    reproduce.add_argument("--seed", type=int,
                           help="the run's seed (default: the reference's first seed)")
    reproduce.add_argument("--run-dir", type=Path,
                           help="where the run and reproduce.png go "
                                "(default: a new runs/<env>-reproduce-<YYYYmmdd-HHMMSS>); one "
                                "that holds a run is refused")
    reproduce.add_argument("--overwrite", action="store_true",
                           help="replace the run already in --run-dir")
    reproduce.add_argument("--total-timesteps", metavar="N",
                           help="train for N steps instead of the reference's and compare on "
                                "the steps both runs reach")
    reproduce.add_argument("--reference-root", type=Path,
                           help="the folder of <env>/ references (default: the shipped "
                                "trainer/reference/)")
    reproduce.add_argument("--from-run", type=Path, metavar="RUN_DIR",
                           help="compare a run that has already finished (e.g. shoal train ENV "
                                "--seed K) instead of training one; its settings must be the "
                                "reference's, its seed and how it ran (threads, logging) aside")

    sweep = commands.add_parser(
        "sweep", allow_abbrev=False, help="search hyperparameters with Optuna",
        description="Train one run per trial with hyperparameters drawn from the search space "
                    "(the [sweep] table of the env's config file, or of --config FILE), score "
                    "each by its final score within the budget, prune weak trials early. "
                    "Running the command again continues the study; workers that share "
                    "--storage share the study. See docs/sweep.md.",
        epilog="writes OUT/best.toml (for shoal train ENV --config), OUT/trials.csv and the "
               "plots OUT/history.png, importance.png, intermediate.png",
    )
    sweep.add_argument("env", metavar="ENV")
    sweep.add_argument("--trials", type=non_negative_int, required=True, metavar="N",
                       help="finished (complete or pruned) trials the study should hold; a "
                            "study that has them already only writes its results")
    sweep.add_argument("--budget-minutes", type=positive_float, metavar="M",
                       help="cut every trial at M minutes of training wall time: a cost-aware "
                            "comparison (keep threads x workers within the machine's cores)")
    sweep.add_argument("--budget-steps", type=positive_int_literal, metavar="S",
                       help="train every trial for S agent-steps (its total_timesteps)")
    sweep.add_argument("--storage", metavar="URL",
                       help="an Optuna storage URL shared by the workers (default: "
                            "sqlite:///OUT/study.db; e.g. postgresql://user@host/db)")
    sweep.add_argument("--study", metavar="NAME", help="the study's name (default: the env's)")
    sweep.add_argument("--out", type=Path, metavar="DIR",
                       help="where results and trials/ go (default: sweeps/<study>)")
    sweep.add_argument("--config", type=Path,
                       help="a TOML file over the env's settings; its [sweep] table, if any, "
                            "replaces the env's search space")
    sweep.add_argument("--threads", type=positive_int, metavar="T",
                       help="torch_threads and num_threads of every trial (default: the config's)")
    sweep.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median",
                       help="how weak trials stop early (default: median)")
    sweep.add_argument("--prune-after", type=non_negative_int, default=33, metavar="PERCENT",
                       help="the share of its budget a trial spends before it may be pruned "
                            "(default 33)")
    sweep.add_argument("--seeds", type=positive_int, default=1, metavar="K",
                       help="train each trial K times (seeds seed, seed + 1, ...), each with "
                            "the whole budget, and score it by the mean: K times the cost, "
                            "less luck in the winner (default 1)")
    sweep.add_argument("--sampler-seed", type=int, metavar="S",
                       help="seed of the TPE sampler (default: random)")
    return parser


def int_at_least(lowest: int):
    """An argparse type: an int >= lowest, or an error that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lowest}, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lowest}, got {value}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def positive_int_literal(text: str) -> int:
    """An int >= 1 written as an int or a float literal with no fraction (5e6, 1_000_000)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if not (value.is_integer() and value >= 1):
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return int(value)


def fail(message: str) -> NoReturn:
    print(f"shoal: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ---- commands ----


def run_train(args: argparse.Namespace, overrides: list[str]) -> int:
    name, env_id = resolve_env(args.env)
    if args.resume is not None:
        return run_resume(args, overrides, env_id)
    config = load_config(args.env, args.config, overrides)

    from shoal.trainer.ppo import train  # torch only from here on

    with run_dir_for(args.run_dir, name) as run_dir:
        summary = train(config, run_dir, overwrite=args.overwrite)
    report_training(summary, run_dir)
    return 0


@contextlib.contextmanager
def run_dir_for(run_dir: Path | None, default_name: str) -> Iterator[Path]:
    """The user's --run-dir, or a new default one (trainer/run_dirs.py), which is removed
    again if the run fails before writing anything into it."""
    if run_dir is not None:
        yield run_dir
        return
    from shoal.trainer.run_dirs import new_run_dir

    created = new_run_dir("runs", default_name)
    try:
        yield created
    except BaseException:
        with contextlib.suppress(OSError):
            created.rmdir()  # only if still empty
        raise


def run_resume(args: argparse.Namespace, overrides: list[str], env_id: str) -> int:
    if overrides or args.config is not None or args.run_dir is not None:
        fail("--resume continues a run with its own settings: drop --config, --run-dir and "
             "--key value")
    from shoal.trainer.checkpoint import load_checkpoint  # torch only from here on
    from shoal.trainer.config import config_from_dict
    from shoal.trainer.ppo import train

    path = args.resume / "checkpoints" / "latest.pt"
    checkpoint = read_checkpoint(path, load_checkpoint)
    config = config_from_dict(checkpoint["config"], f"the config of {path}")
    if config.env_id != env_id:
        fail(f"{args.resume} trained {config.env_id}, not {env_id}")
    if checkpoint["update"] >= config.num_updates:
        fail(f"{args.resume} already finished ({checkpoint['update']} of {config.num_updates} updates)")
    report_training(train(config, args.resume, resume=checkpoint), args.resume)
    return 0


def report_training(summary: dict, run_dir: Path) -> None:
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return
    print(f"done: {summary['global_step']:,} steps in {summary['total_wall_time']:.1f} s "
          f"({summary['mean_sps']:,.0f} steps/s); checkpoints in {Path(run_dir) / 'checkpoints'}")


def read_checkpoint(path: Path, load_checkpoint) -> dict:
    """The checkpoint at path, or exit 2 with one line saying why it cannot be read."""
    try:
        checkpoint = load_checkpoint(path)
    except FileNotFoundError as error:
        fail(str(error))
    except Exception as error:  # a torn, foreign or non-checkpoint file
        fail(f"cannot read checkpoint {path}: {type(error).__name__}: {error}")
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "model" not in checkpoint:
        fail(f"{path} is not a shoal checkpoint (no model and config)")
    if not isinstance(checkpoint["config"], dict) or not isinstance(checkpoint["model"], dict) \
            or not checkpoint["model"]:
        fail(f"{path} is not a shoal checkpoint (its config or model is not a table of values)")
    for key in ("step", "update"):
        if key in checkpoint and (not isinstance(checkpoint[key], int) or checkpoint[key] < 0):
            fail(f"{path} is not a shoal checkpoint ({key} is {checkpoint[key]!r}, not a count)")
    return checkpoint


def env_overrides(extra: list[str]) -> dict:
    """`--env.NAME value` pairs of shoal eval: game parameters changed for the evaluation
    (--env.split '"test"'); any other setting is refused, the policy is the checkpoint's."""
    values = parse_overrides(extra)
    others = sorted(set(values) - {"env"})
    if others:
        raise ConfigError(f"shoal eval takes only --env.NAME settings, got --{others[0]}")
    return values.get("env", {})


def run_eval(args: argparse.Namespace, env_overrides: dict | None = None) -> int:
    _, env_id = resolve_env(args.env)

    from shoal.trainer.checkpoint import load_checkpoint  # torch only from here on
    from shoal.trainer.evaluation import evaluate

    checkpoint = policy_checkpoint(args, env_id, load_checkpoint)
    if args.episodes is None:
        args.episodes = 1 if (args.render or args.video) else 10
    if args.render or args.video:
        result = watch_checkpoint(args, checkpoint, env_id, env_overrides)
    else:
        result = evaluate(checkpoint, args.episodes, args.deterministic, args.seed, env_overrides)
    mode = "deterministic" if args.deterministic else "sampled actions"
    changed = "".join(f", {name}={value!r}" for name, value in (env_overrides or {}).items())
    print(f"{env_id}: {args.episodes} episodes ({mode}{changed}), checkpoint step "
          f"{checkpoint['step']:,}")
    print(f"  return {result['return_mean']:.2f} +- {result['return_std']:.2f}   "
          f"score {result['score_mean']:.2f} +- {result['score_std']:.2f}   "
          f"length {result['length_mean']:.1f}")
    others = [name.removesuffix("_mean") for name in result if name.endswith("_mean")
              and name.removesuffix("_mean") not in ("return", "score", "length")]
    if others:
        print("  " + "   ".join(f"{name} {result[name + '_mean']:.3f}" for name in others))
    return 0


def policy_checkpoint(args: argparse.Namespace, env_id: str, load_checkpoint) -> dict:
    """The policy of --checkpoint PATH, or with --pretrained the one shipped for env_id."""
    if args.pretrained:
        from shoal.trainer.pretrained import pretrained_path

        return checkpoint_for(pretrained_path(env_id), env_id, load_checkpoint)
    return checkpoint_for(args.checkpoint, env_id, load_checkpoint)


def checkpoint_for(path: Path, env_id: str, load_checkpoint) -> dict:
    """The checkpoint at path, which must have been trained on env_id (or exit 2)."""
    checkpoint = read_checkpoint(path, load_checkpoint)
    trained_on = checkpoint["config"].get("env_id")
    if trained_on != env_id:
        fail(f"checkpoint {path} was trained on {trained_on}, not {env_id}")
    return checkpoint


def watch_checkpoint(args: argparse.Namespace, checkpoint: dict, env_id: str,
                     env_overrides: dict | None = None) -> dict:
    """Watch the episodes in a window (--render) or record them headless (--video)."""
    import shoal

    from shoal.render.video import VIDEO_SUFFIXES, VideoWriter
    from shoal.trainer.evaluation import watch

    if args.render and args.video:
        fail("--render and --video watch in two ways: choose one")
    if args.render:
        return watch(checkpoint, args.episodes, args.deterministic, args.seed, "human",
                     env_overrides=env_overrides)
    if args.video.suffix.lower() not in VIDEO_SUFFIXES:
        fail(f"--video must end in one of {', '.join(VIDEO_SUFFIXES)}, got {args.video}")
    frames_seen = 0

    def record(frame):
        nonlocal frames_seen
        frames_seen += 1
        if writer.frames < args.max_frames:
            writer.add(frame)

    env_parameters = {**checkpoint["config"].get("env", {}), **(env_overrides or {})}
    fps = shoal.vector_env_class(env_id).presentation_for(**env_parameters).render_fps()
    with VideoWriter(args.video, fps=fps) as writer:
        result = watch(checkpoint, args.episodes, args.deterministic, args.seed, "rgb_array",
                       on_frame=record, env_overrides=env_overrides)
    print(f"wrote {args.video}: {writer.frames} frames at {writer.fps:g} per second")
    if frames_seen > writer.frames:
        print(f"  (the episodes drew {frames_seen} frames; the video keeps the first "
              f"{writer.frames}: raise --max-frames for more)")
    return result


def run_play(args: argparse.Namespace) -> int:
    """Play ENV with the keyboard (shoal.render.play) in a raylib window."""
    import gymnasium

    import shoal

    from shoal.render.play import HELP_HEIGHT, PlaySession
    from shoal.render.raylib_canvas import RaylibCanvas

    _, env_id = resolve_env(args.env)
    env_parameters: dict = {}
    checkpoint = None
    if args.checkpoint is not None or args.pretrained:
        from shoal.trainer.checkpoint import load_checkpoint  # torch only with a checkpoint

        checkpoint = policy_checkpoint(args, env_id, load_checkpoint)
        env_parameters = dict(checkpoint["config"].get("env", {}))
    game = shoal.vector_env_class(env_id).game_for(**env_parameters)
    agents = game.agents_per_world()
    if args.video is not None and not (args.pretrained and agents == 1):
        fail("--video records a pretrained agent playing a one-agent game: add --pretrained, "
             "or record a run's policy with shoal eval ENV --checkpoint PATH --video FILE")
    if args.pretrained and agents == 1:  # nobody to play beside it: watch it
        return watch_pretrained(args, checkpoint, env_id)
    if checkpoint is not None and agents == 1:
        fail("--checkpoint drives the agents you do not control, and this game has one agent: "
             "watch a checkpoint with shoal eval ENV --checkpoint PATH --render")
    if not 0 <= args.agent < agents:
        fail(f"--agent must be in [0, {agents - 1}] for {env_id}, got {args.agent}")
    # Several agents: SAME_STEP, so each respawned agent's first observation reaches the
    # policy with its episode start. One agent: NEXT_STEP, so the final frame stays on screen.
    autoreset = "SameStep" if agents > 1 else "NextStep"
    envs = gymnasium.make_vec(env_id, num_envs=agents, render_env_index=args.agent,
                              render_view=args.view, autoreset_mode=autoreset, **env_parameters)
    others = None
    if checkpoint is not None:
        from shoal.trainer.evaluation import CheckpointPolicy

        others = CheckpointPolicy(checkpoint, envs)
    scene = envs.scene
    window = RaylibCanvas(scene.width, scene.height + HELP_HEIGHT, title=f"shoal play {env_id}")
    controls = envs.presentation.controls()
    session = PlaySession(envs, window, window, controls, agent=args.agent, others=others,
                          steps_per_second=args.fps or envs.metadata["render_fps"], seed=args.seed)
    try:
        result = session.run()
    finally:
        window.close()
        envs.close()
    scores = ", ".join(f"{score:g}" for score in result.scores) or "none finished"
    actions = ", ".join(f"{action}: {count}" for action, count in sorted(result.action_counts.items()))
    print(f"played {result.steps} steps, {result.episodes} episodes (scores: {scores})")
    print(f"actions taken: {actions or 'none'}")
    return 0


def watch_pretrained(args: argparse.Namespace, checkpoint: dict, env_id: str) -> int:
    """shoal play ENV --pretrained in a one-agent game: the shipped policy plays, in the
    window or (--video) headless, as shoal eval --render / --video would show it."""
    args.render, args.deterministic, args.max_frames = args.video is None, False, 3000
    args.seed = 0 if args.seed is None else args.seed
    result = watch_checkpoint(args, checkpoint, env_id)
    print(f"{env_id}: the pretrained policy played {args.episodes} episode(s): score "
          f"{result['score_mean']:.2f}, length {result['length_mean']:.0f} steps")
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
    if args.trainer:
        run_trainer_bench(args.env, args.trainer)
    return 0


def run_trainer_bench(env: str, updates: int) -> None:
    """Time `updates` PPO updates of the env's training config (after one warm-up update)."""
    import tempfile

    from shoal.trainer.checkpoint import load_checkpoint  # torch only from here on
    from shoal.trainer.ppo import train

    config = load_config(env)
    overrides = ["--total-timesteps", str((updates + 1) * config.batch_size),
                 "--checkpoint-interval", "0", "--display", "none"]
    config = load_config(env, overrides=overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        train(config, run_dir, quiet=True, stop_after_updates=1)  # warm-up: first-call costs
        latest = Path(run_dir) / "checkpoints" / "latest.pt"
        summary = train(config, run_dir, quiet=True, resume=read_checkpoint(latest, load_checkpoint))
    seconds = summary["rollout_seconds"] + summary["update_seconds"]
    steps = updates * config.batch_size
    print(f"{config.env_id} trainer: {updates} updates of {config.batch_size:,} steps: "
          f"{steps / seconds:,.0f} agent-steps/s end to end "
          f"(rollout {summary['rollout_seconds'] / seconds:.0%}, "
          f"update {summary['update_seconds'] / seconds:.0%})")



def run_reproduce(args: argparse.Namespace) -> int:
    from shoal.trainer import reference as references

    reference = references.load_reference(args.env, args.reference_root
                                          or references.REFERENCE_ROOT)
    if args.from_run is not None:
        return compare_finished_run(args, reference)
    seed = reference.seeds[0] if args.seed is None else args.seed
    overrides = ["--seed", str(seed), "--display", "auto"]
    if args.total_timesteps is not None:
        overrides += ["--total-timesteps", args.total_timesteps]
    config = load_config(args.env, reference.config_file, overrides)

    from shoal.trainer.ppo import train  # torch only from here on

    with run_dir_for(args.run_dir, f"{reference.name}-reproduce") as run_dir:
        train(config, run_dir, overwrite=args.overwrite)
    return report_reproduction(reference, Path(run_dir), seed)


def compare_finished_run(args: argparse.Namespace, reference: Reference) -> int:
    """shoal reproduce --from-run: the comparison of a run trained before, without training."""
    from shoal.trainer import reference as references

    if args.seed is not None or args.total_timesteps is not None or args.overwrite \
            or args.run_dir is not None:
        fail("--from-run compares the run as it was trained: drop --seed, --total-timesteps, "
             "--run-dir and --overwrite")
    config = references.finished_run_config(args.from_run)
    expected = load_config(args.env, reference.config_file, ["--seed", str(config.seed)])
    differing = references.differing_settings(config, expected, references.HOW_IT_RUNS)
    if differing:
        fail(f"--from-run {args.from_run} was not trained with the reference's settings: "
             f"{differing} differ (train it with --config {reference.config_file})")
    return report_reproduction(reference, args.from_run, config.seed)


def report_reproduction(reference: Reference, run_dir: Path, seed: int) -> int:
    """Print how the run in run_dir compares with the reference, plot both, and the exit
    status: 0 inside the band, 1 outside."""
    from shoal.trainer import reference as references

    run = references.read_curve(run_dir / "metrics.csv")
    comparison = references.compare(reference, run, seed)
    print(references.describe(comparison, reference))
    plot = run_dir / "reproduce.png"
    try:
        references.plot_reference(reference, plot, run, run_label=f"this run (seed {seed})")
        print(f"  plot: {plot}")
    except ModuleNotFoundError as error:
        print(f"  no plot: {error}")
    return 0 if comparison.inside else 1


def run_sweep(args: argparse.Namespace) -> int:
    from shoal.trainer import sweep as sweeps

    name, _ = resolve_env(args.env)
    study = args.study or name
    settings = sweeps.SweepSettings(
        env=args.env, trials=args.trials,
        budget=sweeps.Budget(minutes=args.budget_minutes, steps=args.budget_steps),
        out=args.out or Path("sweeps") / study, storage=args.storage, study=study,
        config_file=args.config, threads=args.threads, pruner=args.pruner,
        prune_after=args.prune_after, seeds=args.seeds, sampler_seed=args.sampler_seed,
    )
    try:
        summary = sweeps.sweep(settings)
    except KeyboardInterrupt:
        print(f"interrupted: run the same command again to continue study {study!r}",
              file=sys.stderr)
        return 130
    print(sweeps.trials_table(sweeps.load_study(settings)))
    counts = ", ".join(f"{count} {state}" for state, count in summary["trials"].items())
    print(f"study {study!r}: {counts}")
    if "best_score" in summary:
        print(f"best: trial {summary['best_trial']}, final score {summary['best_score']:.4g}; "
              f"config {settings.out / 'best.toml'} (shoal train {name} --config "
              f"{settings.out / 'best.toml'}); table {settings.out / 'trials.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
