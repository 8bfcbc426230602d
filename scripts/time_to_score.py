"""Time to the reference score: how long each seed of two sets of references (before and
after a re-tune) takes to reach the same target, a fraction of the first set's final score.

    python scripts/time_to_score.py --before OLD_ROOT [--after trainer/reference] [--fraction 0.9]

A root holds <env>/seed<k>/metrics.csv and summary.json (trainer/reference.py). The target of
an env is FRACTION x the mean final score of its BEFORE reference; a seed reaches it at the
first logged step from which its final score so far (the mean score over the last 5% of the
steps up to there) stays at or above the target to the end of the run
(shoal.trainer.reference.holds_from). The table gives each seed's seconds, their median (a seed
that never reaches it counts as infinite), the median steps by then, the mean agent-steps per
second of the runs, and the final scores, as Markdown. Seconds carry the machine's noise of the
day each set ran on; steps do not, and steps/s shows how much of a change is throughput.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from shoal.trainer.reference import (
    REFERENCE_ROOT, available_references, final_score, holds_from, load_reference, time_to_score,
)


def seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f}"


def millions(value: float) -> str:
    return "never" if math.isinf(value) else f"{value / 1e6:.2f}M"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the references before")
    parser.add_argument("--after", type=Path, default=REFERENCE_ROOT,
                        help="the references after (default: the shipped ones)")
    parser.add_argument("--fraction", type=float, default=0.9,
                        help="the target as a share of BEFORE's mean final score (default 0.9)")
    args = parser.parse_args(argv)
    if not 0 < args.fraction <= 1:
        parser.error(f"--fraction must be in (0, 1], got {args.fraction}")
    envs = {name: set(available_references(root)) for name, root in
            (("--before", args.before), ("--after", args.after))}
    for option, found in envs.items():
        if not found:
            parser.error(f"{option} {getattr(args, option[2:])} holds no references "
                         "(<env>/summary.json, as scripts/run_reference.py writes them)")
    if not envs["--before"] & envs["--after"]:
        parser.error("--before and --after share no env")

    print(f"| env | target ({args.fraction:.0%} of before) | before: s per seed | median s | "
          "median steps | steps/s | after: s per seed | median s | median steps | steps/s | "
          "speed-up (s) | final score before -> after |")
    print("|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for env in sorted(envs["--before"] & envs["--after"]):
        references = {"before": load_reference(env, args.before),
                      "after": load_reference(env, args.after)}
        curves = {name: list(reference.runs.values()) for name, reference in references.items()}
        target = args.fraction * float(np.mean([final_score(curve) for curve in curves["before"]]))
        cells, medians = [], {}
        for name, runs in curves.items():
            times = [time_to_score(curve, target) for curve in runs]
            rows = [holds_from(curve, target) for curve in runs]
            steps = [math.inf if row is None else float(curve.steps[row])
                     for curve, row in zip(runs, rows)]
            rates = [curve.steps[-1] / curve.wall_times[-1] for curve in runs]
            medians[name] = float(np.median(times))
            cells += [" / ".join(map(seconds, times)), seconds(medians[name]),
                      millions(float(np.median(steps))), f"{np.mean(rates) / 1e3:.0f}K"]
        speedup = (f"{medians['before'] / medians['after']:.2f}x"
                   if math.isfinite(medians["after"]) and math.isfinite(medians["before"]) else "-")
        finals = [np.mean([final_score(curve) for curve in curves[name]])
                  for name in ("before", "after")]
        print(f"| {env} | {target:.4g} | {' | '.join(cells)} | {speedup} | "
              f"{finals[0]:.4g} -> {finals[1]:.4g} |")


if __name__ == "__main__":
    main()
