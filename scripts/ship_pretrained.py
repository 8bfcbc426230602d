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
from shoal.trainer.ppo import evaluate
from shoal.trainer.pretrained import PRETRAINED_DIR, save_pretrained, strip_checkpoint
from shoal.trainer.reference import final_score, machine_info, read_curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a finished run (its checkpoints/final.pt)")
    parser.add_argument("--out", type=Path, default=PRETRAINED_DIR,
                        help="where <env>.pt goes (default: trainer/pretrained/)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (default 20)")
    args = parser.parse_args(argv)
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
        result = evaluate(shipped, episodes=args.episodes, seed=12345)
    except (ConfigError, FileNotFoundError, KeyError) as error:
        print(f"ship_pretrained: error: {error}", file=sys.stderr)
        return 2
    shipped["source"]["evaluation"] = {"episodes": args.episodes, "seed": 12345,
                                       "score_mean": result["score_mean"],
                                       "score_std": result["score_std"]}
    path = args.out / f"{name}.pt"
    save_pretrained(shipped, path)
    print(f"{env_id}: wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(json.dumps(shipped["source"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
