"""The Breakout diagnosis of docs/breakout_diagnosis.md: its table and its plot, from the
curves of the runs behind it (docs/breakout_diagnosis/curves.csv: one row per logged update
of every run: experiment, seed, global_step, wall_time, score).

    python scripts/breakout_diagnosis.py                   # the markdown table on stdout
    python scripts/breakout_diagnosis.py --plot docs/breakout_diagnosis/curves.png

Steps to a score are trainer/reference.py's steps_to_score: the first logged step at which
the running final score (the mean over the last 5% of the steps so far) reaches it.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from shoal.trainer.reference import Curve, final_score, steps_to_score

ROOT = Path(__file__).resolve().parent.parent
CURVES = ROOT / "docs" / "breakout_diagnosis" / "curves.csv"
MILESTONES = (400, 778)
#: PufferLib 3.0's own trainer on its own Breakout, on a 2-core CPU (issue 17's measurement).
PUFFERLIB = {400: 43.5e6, 778: 61.3e6, 855: 72.9e6}


def read_curves(path: Path) -> dict[str, dict[int, Curve]]:
    rows: dict[tuple[str, int], list[tuple[float, float, float]]] = defaultdict(list)
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            rows[row["experiment"], int(row["seed"])].append(
                (float(row["global_step"]), float(row["wall_time"]), float(row["score"])))
    curves: dict[str, dict[int, Curve]] = defaultdict(dict)
    for (experiment, seed), values in rows.items():
        steps, walls, scores = (np.array(column) for column in zip(*values))
        curves[experiment][seed] = Curve(steps, walls, scores)
    return curves


def millions(steps: float) -> str:
    return "never" if not math.isfinite(steps) else f"{steps / 1e6:.1f}M"


def table(curves: dict[str, dict[int, Curve]]) -> str:
    lines = ["| experiment | seed | steps | " + " | ".join(f"to {m}" for m in MILESTONES)
             + " | score at 40M | final score |", "|---|---:|---:|" + "---:|" * (len(MILESTONES) + 2)]
    for experiment, seeds in curves.items():
        for seed, curve in sorted(seeds.items()):
            at_40 = final_score(curve, 40_000_000) if curve.last_step >= 40e6 else math.nan
            lines.append(
                f"| {experiment} | {seed} | {curve.last_step / 1e6:.0f}M | "
                + " | ".join(millions(steps_to_score(curve, m)) for m in MILESTONES)
                + f" | {at_40:.0f} | {final_score(curve):.0f} |")
    return "\n".join(lines)


def plot(curves: dict[str, dict[int, Curve]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({experiment.split(":")[0] for experiment in curves})
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), sharey=True,
                                squeeze=False)
    for axis, panel in zip(axes[0], panels):
        for number, (experiment, seeds) in enumerate(
                (name, seeds) for name, seeds in curves.items() if name.split(":")[0] == panel):
            color = f"C{number}"
            for index, (seed, curve) in enumerate(sorted(seeds.items())):
                running = [final_score(curve, int(step)) for step in curve.steps]
                axis.plot(curve.steps / 1e6, running, color=color, linewidth=1.2,
                          label=experiment.split(":", 1)[-1] if index == 0 else None)
        for score, steps in PUFFERLIB.items():
            axis.plot(steps / 1e6, score, "k*", markersize=9,
                      label="PufferLib's trainer on its Breakout" if score == 400 else None)
        axis.axhline(778, color="grey", linestyle=":", linewidth=0.8)
        axis.set_title(panel)
        axis.set_xlabel("agent-steps (millions)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    axes[0][0].set_ylabel("score (running final score: mean of the last 5% of steps)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", type=Path, default=CURVES)
    parser.add_argument("--plot", type=Path, help="also draw the curves to this PNG")
    args = parser.parse_args()
    curves = read_curves(args.curves)
    print(table(curves))
    if args.plot:
        plot(curves, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
