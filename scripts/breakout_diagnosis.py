"""The Breakout diagnosis of docs/breakout_diagnosis.md: its table and its plot, from the
curves of the runs behind it (docs/breakout_diagnosis/curves.csv: one row per logged update
of every run: experiment, seed, global_step, wall_time, score, and grad_norm where it was kept).

    python scripts/breakout_diagnosis.py                   # the markdown table on stdout
    python scripts/breakout_diagnosis.py --plot docs/breakout_diagnosis/curves.png \
        --grad-norm-plot docs/breakout_diagnosis/grad_norm.png
    python scripts/breakout_diagnosis.py --add "PANEL:LABEL" 0 runs/b0/metrics.csv   # add a run
    python scripts/breakout_diagnosis.py --plot docs/breakout_diagnosis/value_head.png \
        --panels "6 reward_scale" "7 value head"                 # some panels only
    python scripts/breakout_diagnosis.py --plot docs/breakout_diagnosis/minibatch_1024.png \
        --panels "6 reward_scale" "8 minibatch 1024"             # section 9's plot
    python scripts/breakout_diagnosis.py --adam-state RUN/checkpoints/latest.pt   # section 8

Steps to a score are trainer/reference.py's steps_to_score: the first logged step at which
the running final score (the mean over the last 5% of the steps so far) reaches it.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from shoal.files import write_text_atomically
from shoal.trainer.reference import Curve, final_score, steps_to_score

ROOT = Path(__file__).resolve().parent.parent
CURVES = ROOT / "docs" / "breakout_diagnosis" / "curves.csv"
MILESTONES = (400, 778)
#: The columns of curves.csv; grad_norm (the global gradient norm before clipping) is empty
#: for the runs whose metrics.csv was not kept whole.
COLUMNS = ("experiment", "seed", "global_step", "wall_time", "score", "grad_norm")
#: PufferLib 3.0's own trainer on its own Breakout, on a 2-core CPU (issue 17's measurement).
PUFFERLIB = {400: 43.5e6, 778: 61.3e6, 855: 72.9e6}


def read_runs(path: Path, columns: tuple[str, ...]) -> dict[str, dict[int, list[np.ndarray]]]:
    """Each run's values of `columns` (one array per column), by experiment and seed; rows
    where a column is empty (grad_norm of a run whose metrics.csv was not kept) are left out."""
    rows: dict[tuple[str, int], list[tuple[float, ...]]] = defaultdict(list)
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            if all(row.get(column) for column in columns):
                rows[row["experiment"], int(row["seed"])].append(
                    tuple(float(row[column]) for column in columns))
    runs: dict[str, dict[int, list[np.ndarray]]] = defaultdict(dict)
    for (experiment, seed), values in rows.items():
        runs[experiment][seed] = [np.array(column) for column in zip(*values)]
    return runs


def read_curves(path: Path) -> dict[str, dict[int, Curve]]:
    return {experiment: {seed: Curve(*arrays) for seed, arrays in seeds.items()}
            for experiment, seeds in read_runs(path, ("global_step", "wall_time", "score")).items()}


def read_grad_norms(path: Path) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Each run's (global steps, grad norms), for the runs whose grad norms were kept."""
    return {experiment: {seed: (steps, norms) for seed, (steps, norms) in seeds.items()}
            for experiment, seeds in read_runs(path, ("global_step", "grad_norm")).items()}


def add_run(path: Path, experiment: str, seed: int, metrics: Path) -> int:
    """Append one run's metrics.csv to curves.csv under `experiment` (the file rewritten
    atomically); the rows it added."""
    text = path.read_text()
    if any(row["experiment"] == experiment and int(row["seed"]) == seed
           for row in csv.DictReader(io.StringIO(text))):
        raise SystemExit(f"breakout_diagnosis: {experiment!r} seed {seed} is already in {path}")
    try:
        with open(metrics, newline="") as file:
            rows = [{"experiment": experiment, "seed": seed,
                     **{column: row[column] for column in COLUMNS[2:]}}
                    for row in csv.DictReader(file)]
    except (OSError, KeyError) as error:
        raise SystemExit(f"breakout_diagnosis: --add {metrics} is not a shoal metrics.csv with "
                         f"the columns {', '.join(COLUMNS[2:])} ({error!r})") from None
    added = io.StringIO()
    csv.DictWriter(added, fieldnames=COLUMNS, lineterminator="\n").writerows(rows)
    write_text_atomically(path, text + added.getvalue())
    return len(rows)


def adam_scales(checkpoint_path: Path) -> tuple[int, list[tuple[str, float, float]]]:
    """(the checkpoint's agent-steps, one row per weight tensor that Adam steps: its name, the
    median of Adam's running gradient scale sqrt(v) (bias-corrected), and the fraction of its
    entries where that scale is under adam_eps, so that the epsilon, not the gradient, sets
    the step). The policy and optimizer are built as the trainer builds them."""
    import gymnasium
    import torch

    from shoal.trainer.checkpoint import load_checkpoint
    from shoal.trainer.cli import read_checkpoint
    from shoal.trainer.config import config_from_dict
    from shoal.trainer.optimizers import make_optimizer
    from shoal.trainer.policies import make_policy

    # A missing, torn or foreign file exits with one line saying why, as `shoal eval` does.
    checkpoint = read_checkpoint(checkpoint_path, load_checkpoint)
    if "optimizer" not in checkpoint:
        raise SystemExit(f"breakout_diagnosis: {checkpoint_path} holds no optimizer state (a "
                         "shipped policy keeps only the weights); give a run's checkpoint")
    config = config_from_dict(checkpoint["config"], str(checkpoint_path))
    envs = gymnasium.make_vec(config.env_id, num_envs=1, **config.env)
    policy = make_policy(config, envs.single_observation_space, envs.single_action_space)
    envs.close()
    optimizer = make_optimizer(config, policy)
    optimizer.load_state_dict(checkpoint["optimizer"])
    names = {id(parameter): name for name, parameter in policy.named_parameters()}
    rows = []
    for torch_optimizer in optimizer.optimizers.values():
        for group in torch_optimizer.param_groups:
            for parameter in group["params"]:
                state = torch_optimizer.state.get(parameter, {})
                if "exp_avg_sq" not in state:  # Muon's matrices keep no second moment
                    continue
                correction = 1.0 - group["betas"][1] ** float(state["step"])
                scale = (state["exp_avg_sq"] / correction).sqrt()
                rows.append((names[id(parameter)], float(scale.median()),
                             float((scale < group["eps"]).float().mean())))
    return int(checkpoint["step"]), rows


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


PANELS_PER_ROW = 4


def plot(curves: dict[str, dict[int, Curve]], path: Path,
         panels: list[str] | None = None) -> None:
    """One panel per experiment prefix (PANEL of PANEL:LABEL), or only the `panels` named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    known = sorted({experiment.split(":")[0] for experiment in curves})
    unknown = sorted(set(panels or ()) - set(known))
    if unknown:
        raise SystemExit(f"breakout_diagnosis: --panels {unknown} are not in the curves; "
                         f"they hold {known}")
    panels = known if not panels else [panel for panel in known if panel in panels]
    # At most PANELS_PER_ROW side by side, so the page's picture stays readable.
    columns = min(len(panels), PANELS_PER_ROW)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.8 * rows), sharey=True,
                                squeeze=False)
    for axis in axes.flat[len(panels):]:
        axis.set_visible(False)
    for axis, panel in zip(axes.flat, panels):
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
    for row in axes:
        row[0].set_ylabel("score (running final score: mean of the last 5% of steps)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def plot_grad_norms(norms: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]], path: Path,
                    max_grad_norm: float = 0.5) -> None:
    """The global gradient norm before clipping, per update, against agent-steps: above
    max_grad_norm the clip scales the whole step down by max_grad_norm / norm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.8))
    for number, (experiment, seeds) in enumerate(norms.items()):
        for index, (seed, (steps, grad_norms)) in enumerate(sorted(seeds.items())):
            axis.plot(steps / 1e6, grad_norms, color=f"C{number}", linewidth=0.6, alpha=0.7,
                      label=experiment.split(":", 1)[-1] if index == 0 else None)
    axis.axhline(max_grad_norm, color="k", linestyle="--", linewidth=1,
                 label=f"max_grad_norm {max_grad_norm}: above it every step is scaled down")
    axis.set_yscale("log")
    axis.set_xlabel("agent-steps (millions)")
    axis.set_ylabel("global gradient norm before clipping")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", type=Path, default=CURVES)
    parser.add_argument("--plot", type=Path, help="also draw the curves to this PNG")
    parser.add_argument("--panels", nargs="+", metavar="PANEL",
                        help="draw only these panels (the PANEL of PANEL:LABEL) in --plot")
    parser.add_argument("--grad-norm-plot", type=Path,
                        help="also draw the kept runs' gradient norms to this PNG")
    parser.add_argument("--adam-state", type=Path, nargs="+", metavar="CHECKPOINT",
                        help="print Adam's gradient scale per weight tensor of checkpoints")
    parser.add_argument("--add", nargs=3, metavar=("EXPERIMENT", "SEED", "METRICS_CSV"),
                        help="first append a run's metrics.csv to --curves as EXPERIMENT "
                             "(PANEL:LABEL) and SEED")
    args = parser.parse_args()
    if args.add:
        experiment, seed, metrics = args.add
        added = add_run(args.curves, experiment, int(seed), Path(metrics))
        print(f"added {added} rows of {metrics} as {experiment!r} seed {seed}")
    for path in args.adam_state or ():
        steps, rows = adam_scales(path)
        print(f"{path} at {steps / 1e6:.1f}M steps\n| weights | median sqrt(v) | under adam_eps |"
              "\n|---|---:|---:|")
        print("\n".join(f"| {name} | {scale:.2e} | {under:.0%} |" for name, scale, under in rows))
    if args.adam_state:
        return 0
    curves = read_curves(args.curves)
    print(table(curves))
    if args.plot:
        plot(curves, args.plot, args.panels)
        print(f"wrote {args.plot}")
    if args.grad_norm_plot:
        plot_grad_norms(read_grad_norms(args.curves), args.grad_norm_plot)
        print(f"wrote {args.grad_norm_plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
