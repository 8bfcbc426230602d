"""Make the reference results of an env: train its tuned config once per seed, one run after
the other, and write trainer/reference/<env>/ (config.toml, seed<k>/metrics.csv, summary.json).

The settings are the env's own (configs/default.toml < configs/<env>.toml) with the seed set
per run; any `--key value` after the options overrides a setting for every seed, as in
`shoal train`. The runs themselves (checkpoints included) stay in --runs-dir. The old
reference of the env is replaced only once every seed has finished. Afterwards, regenerate
the docs page: python scripts/make_reference_docs.py

    python scripts/run_reference.py snake --seeds 0 1 2
    python scripts/run_reference.py breakout --seeds 0 1 2 --total-timesteps 2e7
    python scripts/run_reference.py snake --seeds 0 1 --root /tmp/ref --total-timesteps 4096
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shoal.trainer.config import ConfigError
from shoal.trainer.reference import FINAL_FRACTION, make_reference, reference_from_runs

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env", metavar="ENV", help="a short name (breakout, snake, snake_arena, 2048, maze, drone) or a full id")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="one run per seed (default: 0 1 2; at least 2, 3 or more advised)")
    parser.add_argument("--root", type=Path, default=ROOT / "trainer" / "reference",
                        help="where <env>/ goes (default: trainer/reference/ of this checkout)")
    parser.add_argument("--runs-dir", type=Path,
                        help="where the runs go, seed<k>/ each (default: runs/reference-<env>)")
    parser.add_argument("--milestones", type=float, nargs="+", default=[],
                        help="scores whose steps_to_score (the agent-steps at which a run first "
                             "reaches them) each run records, e.g. --milestones 400 778")
    parser.add_argument("--from-runs", action="store_true",
                        help="no training: write the reference from finished runs already in "
                             "--runs-dir (seed<k>/config.toml and metrics.csv each)")
    args, overrides = parser.parse_known_args(argv)
    try:
        if args.from_runs:
            summary = reference_from_runs(args.env, args.seeds, args.root, args.runs_dir,
                                          args.milestones, overrides)
        else:
            summary = make_reference(args.env, args.seeds, args.root, overrides, args.runs_dir,
                                     args.milestones)
    except ConfigError as error:
        print(f"run_reference: error: {error}", file=sys.stderr)
        return 2
    final = summary["final_score"]
    print(f"{summary['env_id']}: final score {final['mean']:.3f} +- {final['std']:.3f} over seeds "
          f"{summary['seeds']} (the last {FINAL_FRACTION:.0%} of {summary['steps']:,} steps), "
          f"{summary['wall_time_s_mean']:.0f} s per run; written to {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
