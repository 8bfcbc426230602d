"""Ship a run's final policy with shoal: trainer/pretrained/<env>.pt, used by
`shoal eval ENV --pretrained` and `shoal play ENV --pretrained`.

    python scripts/ship_pretrained.py runs/reference-breakout/seed0

It keeps the policy's weights and the run's config (no optimizer, no env state), records
where the policy came from (the run, its step count, final score and machine), evaluates it
on 20 episodes and writes the file atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shoal.trainer.checkpoint import load_checkpoint
from shoal.trainer.config import ConfigError, resolve_env
from shoal.trainer.evaluation import evaluate
from shoal.trainer.pretrained import (
    PRETRAINED_DIR,
    evaluation_limit,
    save_pretrained,
    strip_checkpoint,
)
from shoal.trainer.reference import final_score, machine_info, read_curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, nargs="?",
                        help="a finished run (its checkpoints/final.pt)")
    parser.add_argument("--table", action="store_true",
                        help="print the markdown table of the shipped policies (docs/trainer.md)")
    parser.add_argument("--out", type=Path, default=PRETRAINED_DIR,
                        help="where <env>.pt goes (default: trainer/pretrained/)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (default 20)")
    args = parser.parse_args(argv)
    if args.table:
        print(shipped_table(args.out))
        return 0
    if args.run_dir is None:
        parser.error("give a RUN_DIR, or --table")
    try:
        checkpoint = load_checkpoint(args.run_dir / "checkpoints" / "final.pt")
        name, env_id = resolve_env(checkpoint["config"]["env_id"])
        curve = read_curve(args.run_dir / "metrics.csv")
        source = {
            "run": f"{args.run_dir.parent.name}/{args.run_dir.name}",
            "seed": int(checkpoint["config"]["seed"]),
            "steps": int(checkpoint["step"]),
            "final_score": float(final_score(curve)),
            "machine": machine_info(checkpoint["config"]),
        }
        shipped = strip_checkpoint(checkpoint, source)
        overrides = evaluation_limit(checkpoint["config"])
        result = evaluate(shipped, episodes=args.episodes, seed=12345, env_overrides=overrides)
    except (ConfigError, FileNotFoundError, KeyError) as error:
        print(f"ship_pretrained: error: {error}", file=sys.stderr)
        return 2
    shipped["source"]["evaluation"] = {"episodes": args.episodes, "seed": 12345, **overrides,
                                       "score_mean": float(result["score_mean"]),
                                       "score_std": float(result["score_std"])}
    path = args.out / f"{name}.pt"
    save_pretrained(shipped, path)
    load_checkpoint(path)  # it must load as every checkpoint does: weights_only
    print(f"{env_id}: wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(json.dumps(shipped["source"], indent=1))
    return 0


def shipped_table(folder: Path) -> str:
    """One row per shipped policy: where it came from and how it plays."""
    lines = ["| env | from | steps | run's final score | evaluation (20 episodes) | machine |",
             "|---|---|---:|---:|---:|---|"]
    for path in sorted(folder.glob("*.pt")):
        checkpoint = load_checkpoint(path)
        source, evaluation = checkpoint["source"], checkpoint["source"]["evaluation"]
        machine = source["machine"]
        lines.append(
            f"| `{checkpoint['config']['env_id']}` | seed {source['seed']} | {source['steps']:,} | "
            f"{source['final_score']:.4g} | {evaluation['score_mean']:.4g} +- "
            f"{evaluation['score_std']:.3g} | {machine['cpu']} ({machine.get('cpu_capability', '?')}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
