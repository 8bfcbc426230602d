"""Reference results: the curves shipped for every env, the band they span, the comparison of
a new run with that band (`shoal reproduce`), and the one plotting function of the trainer.

    reference = load_reference("snake")            # trainer/reference/snake/
    run = read_curve("runs/snake/metrics.csv")
    comparison = compare(reference, run)           # comparison.inside: True or False
    plot_reference(reference, "reproduce.png", run)

A reference is one folder per env, trainer/reference/<short name>/, made by
scripts/run_reference.py (`make_reference` below):

    config.toml         the resolved config of the reference runs, which differ only in the seed
                        (the file holds the first seed's)
    seed<k>/metrics.csv each seed's metrics.csv, as shoal.trainer.ppo.train wrote it
    summary.json        seeds, final score mean and std, steps, wall time per seed, the machine

Two definitions hold everywhere (summary.json, `shoal reproduce`, docs/reference.md):

- The **final score** of a run up to step T is the mean of the logged `score` over the last
  FINAL_FRACTION (5%) of its steps, the rows with (1 - 0.05) T <= global_step <= T; rows where
  no episode ended (NaN) are skipped, and a window with no score falls back to the last score
  logged before T. One row is noisy (the mean of the episodes of one update); 5% of a run
  averages a few to a hundred rows.
- The **band** is the 95% prediction interval of one new run's score from the n reference
  seeds: mean +- k std over the seeds, with k = t(0.975, n - 1) sqrt(1 + 1/n) (Student's t;
  k = 4.97 for 3 seeds, 3.04 for 5) and a half-width of at least 2% of the mean, so that seeds
  which all reach a capped score do not leave a band of zero width. Not min..max: a new run
  from the same distribution falls inside the min..max of 3 seeds only half the time (it is
  equally likely to rank anywhere among 4 runs), so half of all good reproductions would fail.

A run is **inside** when its final score lies in the band of the reference's final scores at
the same step. The band of the curve (the score at each logged step, every seed interpolated
onto the union of their steps) is drawn in the plots, and the share of the run's logged points
inside it is reported, but only the final score decides.

torch-free but for `make_reference`, which trains; matplotlib is imported only to plot.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import shoal
from shoal.trainer.config import (
    Config, ConfigError, config_from_dict, env_names, load_config, read_toml, resolve_env,
    save_config,
)
from shoal.trainer.bench import cpu_capability, cpu_model
from shoal.trainer.run_dirs import check_run_dir_free
from shoal.files import write_text_atomically

REFERENCE_ROOT = Path(__file__).resolve().parent / "reference"
#: The final score is the mean score over this last share of a run's steps.
FINAL_FRACTION = 0.05
#: The band's half-width is at least this share of the mean (scores all at a cap).
MIN_RELATIVE_HALF_WIDTH = 0.02
PLOT_HINT = "the plot needs matplotlib: pip install 'shoal[plot]'"

# Student's t(0.975, df) for small df; larger df use a series in the normal quantile.
_T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571,
          6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}  # fmt: skip


# ---- curves ----


@dataclasses.dataclass(frozen=True)
class Curve:
    """The score of one run against its steps and wall time: metrics.csv's global_step,
    wall_time and score columns (NaN where no episode ended since the previous row)."""

    steps: np.ndarray
    wall_times: np.ndarray
    scores: np.ndarray

    @property
    def last_step(self) -> int:
        return int(self.steps[-1])


def read_curve(path: str | Path) -> Curve:
    """A run's curve from its metrics.csv; a ConfigError for a missing or malformed file."""
    path = Path(path)
    try:
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    needed = ("global_step", "wall_time", "score")
    if not rows:
        raise ConfigError(f"{path} has no logged rows")
    missing = [column for column in needed if column not in rows[0]]
    if missing:
        raise ConfigError(f"{path} lacks the columns {missing}")
    try:
        columns = [np.array([float(row[column]) for row in rows]) for column in needed]
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{path} has a value that is not a number: {error}") from None
    return Curve(*columns)


def final_score(curve: Curve, end_step: int | None = None) -> float:
    """The mean score over the last FINAL_FRACTION of the steps up to end_step (default: the
    run's last); the last score logged up to end_step if that window has none; else NaN."""
    end = curve.last_step if end_step is None else end_step
    logged = (curve.steps <= end) & np.isfinite(curve.scores)
    window = logged & (curve.steps >= (1.0 - FINAL_FRACTION) * end)
    if window.any():
        return float(curve.scores[window].mean())
    return float(curve.scores[logged][-1]) if logged.any() else math.nan


def score_by_wall_time(curve: Curve, seconds: float) -> float:
    """The final score (see final_score) of the run cut at `seconds` of wall time: up to the
    last step logged by then, or the whole run if it ended sooner; NaN if nothing was logged
    by then."""
    reached = curve.steps[curve.wall_times <= seconds]
    if not len(reached):
        return math.nan
    return final_score(curve, int(reached[-1]))


def time_to_score(curve: Curve, target: float) -> float:
    """The wall time from which the run holds `target` (see holds_from); inf if it ends below."""
    row = holds_from(curve, target)
    return math.inf if row is None else float(curve.wall_times[row])


def steps_to_score(curve: Curve, target: float) -> float:
    """The agent-steps at which the run first reaches `target`: the first logged row whose
    final score so far (final_score at that row: the mean over the last FINAL_FRACTION of
    the steps up to it) is at least target; inf if it never does. Reaching, not holding (see
    holds_from): the milestone other trainers report ("400 points at 43.5M steps")."""
    for step in curve.steps:
        if final_score(curve, int(step)) >= target:
            return float(step)
    return math.inf


def holds_from(curve: Curve, target: float) -> int | None:
    """The first logged row after which the run's final score so far (see final_score, at
    that row and every later one) never falls below `target`; None if it ends below. Holding,
    not touching: a run's first rows average a few episodes, and the ones that end first are
    often the lucky short ones."""
    held_from = None
    for row in range(len(curve.steps) - 1, -1, -1):
        score = final_score(curve, int(curve.steps[row]))
        if score < target:
            break
        if math.isfinite(score):
            held_from = row
    return held_from


def at_steps(curve: Curve, steps: np.ndarray) -> np.ndarray:
    """The curve's score linearly interpolated at `steps` (rows without a score skipped), NaN
    outside the steps it logged a score at."""
    logged = np.isfinite(curve.scores)
    if not logged.any():
        return np.full(len(steps), math.nan)
    return np.interp(steps, curve.steps[logged], curve.scores[logged],
                     left=math.nan, right=math.nan)


# ---- the band ----


def prediction_factor(seeds: int) -> float:
    """k of the band mean +- k std: one new draw lies inside with probability 0.95 when the
    scores of `seeds` runs are normal, k = t(0.975, seeds - 1) sqrt(1 + 1/seeds)."""
    if seeds < 2:
        raise ValueError(f"a band needs at least 2 seeds, got {seeds}")
    df = seeds - 1
    if df in _T_975:
        t = _T_975[df]
    else:  # Cornish-Fisher series, within 0.2% of the exact quantile for df > 10
        z = 1.959964
        t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    return t * math.sqrt(1.0 + 1.0 / seeds)


@dataclasses.dataclass(frozen=True)
class Band:
    """mean +- k std over seeds at each step (NaN where fewer than 2 seeds have a score)."""

    steps: np.ndarray
    wall_times: np.ndarray  # the seeds' mean wall time at each step (for the wall-time plot)
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray


def band_limits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, low, high) over axis 0 of a [seeds, points] array, NaNs skipped."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    counts = np.isfinite(values).sum(axis=0)
    mean = np.full(values.shape[1], math.nan)
    std = np.full(values.shape[1], math.nan)
    half = np.full(values.shape[1], math.nan)
    for count in np.unique(counts[counts >= 2]):
        columns = counts == count
        mean[columns] = np.nanmean(values[:, columns], axis=0)
        std[columns] = np.nanstd(values[:, columns], axis=0, ddof=1)
        half[columns] = np.maximum(prediction_factor(int(count)) * std[columns],
                                   MIN_RELATIVE_HALF_WIDTH * np.abs(mean[columns]))
    return mean, std, mean - half, mean + half


def score_band(curves: Sequence[Curve]) -> Band:
    """The band of `curves` on the union of their logged steps."""
    steps = np.unique(np.concatenate([curve.steps for curve in curves]))
    scores = np.stack([at_steps(curve, steps) for curve in curves])
    wall_times = np.stack([np.interp(steps, curve.steps, curve.wall_times, left=math.nan,
                                     right=math.nan) for curve in curves])
    counts = np.isfinite(wall_times).sum(axis=0)
    mean_wall_times = np.where(np.isfinite(wall_times), wall_times, 0.0).sum(axis=0) / counts
    return Band(steps, mean_wall_times, *band_limits(scores))


# ---- a reference ----


@dataclasses.dataclass(frozen=True)
class Reference:
    """One env's reference results, as read from its folder."""

    name: str  # the env's short name
    env_id: str
    directory: Path
    summary: dict[str, Any]
    runs: dict[int, Curve]  # seed -> curve

    @property
    def config_file(self) -> Path:
        return self.directory / "config.toml"

    @property
    def seeds(self) -> list[int]:
        return list(self.runs)

    @property
    def last_step(self) -> int:
        return min(curve.last_step for curve in self.runs.values())

    def band(self) -> Band:
        return score_band(list(self.runs.values()))

    def final_scores(self, end_step: int | None = None) -> np.ndarray:
        end = self.last_step if end_step is None else end_step
        return np.array([final_score(curve, end) for curve in self.runs.values()])

    def scores_by_wall_time(self, seconds: float) -> np.ndarray:
        """Each seed's score within `seconds` of wall time (score_by_wall_time)."""
        return np.array([score_by_wall_time(curve, seconds) for curve in self.runs.values()])


def available_references(root: str | Path = REFERENCE_ROOT) -> list[str]:
    """Short names of the envs that have a reference under root, in registry order."""
    root = Path(root)
    return [name for name in env_names() if (root / name / "summary.json").is_file()]


def load_reference(env: str, root: str | Path = REFERENCE_ROOT) -> Reference:
    """The reference of `env` (any spelling resolve_env takes) under root; a ConfigError that
    lists the envs with a reference if it has none."""
    name, env_id = resolve_env(env)
    root = Path(root)
    directory = root / name
    summary_file = directory / "summary.json"
    if not summary_file.is_file():
        have = ", ".join(available_references(root)) or "none yet"
        raise ConfigError(
            f"no reference results for {env_id} in {root}; envs with a reference: {have} "
            "(scripts/run_reference.py makes one)"
        )
    try:
        summary = json.loads(summary_file.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{summary_file} is not valid JSON: {error}") from None
    if summary.get("env_id") != env_id:
        raise ConfigError(f"{summary_file} is for {summary.get('env_id')!r}, not {env_id}")
    if not (directory / "config.toml").is_file():
        raise ConfigError(f"{directory} lacks config.toml")
    seeds = summary.get("seeds", [])
    if len(seeds) < 2:
        raise ConfigError(f"{summary_file} lists {len(seeds)} seeds; a band needs at least 2")
    runs = {int(seed): read_curve(directory / f"seed{seed}" / "metrics.csv") for seed in seeds}
    return Reference(name, env_id, directory, summary, runs)


# ---- comparing a run with a reference ----


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A run against a reference up to end_step, the last step both reach."""

    end_step: int
    run_steps: int
    reference_steps: int
    run_final: float
    reference_final_mean: float
    reference_final_std: float
    low: float
    high: float
    points_inside: int  # the run's logged points (up to end_step) inside the band of the curve
    points: int
    seed: int | None  # the run's seed, if known
    #: True/False when the run has a reference seed and its length: whether their scores are
    #: identical at every logged step (same machine, build and thread counts); else None
    identical_to_seed: bool | None

    @property
    def inside(self) -> bool:
        return bool(self.low <= self.run_final <= self.high)


def compare(reference: Reference, run: Curve, seed: int | None = None) -> Comparison:
    """Compare `run` with the reference on the steps both reach (a shorter run: its length; a
    longer one: the reference's). `seed`, if one of the reference's, also checks whether the
    run repeated that seed's scores exactly."""
    end = min(run.last_step, reference.last_step)
    finals = reference.final_scores(end)
    mean, std, low, high = (float(value[0]) for value in band_limits(finals[:, None]))

    band = reference.band()
    compared = band.steps <= end
    run_scores = at_steps(run, band.steps[compared])
    both = np.isfinite(run_scores) & np.isfinite(band.low[compared])
    inside = (band.low[compared] <= run_scores) & (run_scores <= band.high[compared])

    identical = None
    if seed in reference.runs and run.last_step == reference.runs[seed].last_step:
        seed_curve = reference.runs[seed]
        identical = bool(np.array_equal(run.steps, seed_curve.steps)
                         and np.array_equal(run.scores, seed_curve.scores, equal_nan=True))
    return Comparison(
        end_step=end, run_steps=run.last_step, reference_steps=reference.last_step,
        run_final=final_score(run, end), reference_final_mean=mean, reference_final_std=std,
        low=low, high=high, points_inside=int((both & inside).sum()), points=int(both.sum()),
        seed=seed, identical_to_seed=identical,
    )


def describe(comparison: Comparison, reference: Reference) -> str:
    """The report `shoal reproduce` prints: the final scores, the band, the verdict."""
    c = comparison
    n = len(reference.runs)
    lines = [f"{reference.env_id} against its reference ({n} seeds, {c.reference_steps:,} steps"
             f" each, on {machine_name(reference.summary)}):", hosts_line(reference.summary)]
    if c.run_steps < c.reference_steps:
        lines.append(f"  this run has {c.run_steps:,} steps, the reference {c.reference_steps:,}:"
                     f" compared on the first {c.end_step:,} steps only (anneal_lr decays the "
                     "learning rate over a run's own length: a rough check)")
    elif c.run_steps > c.reference_steps:
        lines.append(f"  this run has {c.run_steps:,} steps, the reference {c.reference_steps:,}:"
                     f" compared on the first {c.end_step:,} steps only")
    lines += [
        f"  final score (the mean over the last {FINAL_FRACTION:.0%} of {c.end_step:,} steps):",
        f"    this run   {c.run_final:10.3f}",
        f"    reference  {c.reference_final_mean:10.3f} +- {c.reference_final_std:.3f} "
        f"(std over {n} seeds)",
        f"    band       {c.low:10.3f} .. {c.high:.3f} (mean +- {prediction_factor(n):.2f} std: "
        "where 95% of new runs should land)",
    ]
    if c.points:
        lines.append(f"  logged points inside the band of the curve: {c.points_inside} of "
                     f"{c.points} ({c.points_inside / c.points:.0%})")
    if c.identical_to_seed is not None:
        lines.append(
            f"  seed {c.seed} is a reference seed: its scores are "
            + ("identical to the reference run's at every logged step" if c.identical_to_seed
               else "not identical to the reference run's (expected on another machine, build "
                    "or thread count)")
        )
    if math.isnan(c.run_final):
        verdict = "OUTSIDE the reference band: no episode ended in this run"
    elif c.inside:
        verdict = "INSIDE the reference band"
    else:
        side = "below" if c.run_final < c.low else "above"
        verdict = f"OUTSIDE the reference band ({side} it)"
    lines.append(f"  {verdict}")
    return "\n".join(lines)


# ---- the plot ----


def plot_reference(
    reference: Reference, path: str | Path, run: Curve | None = None, run_label: str = "this run"
) -> None:
    """A PNG of two panels, score against steps and against wall time: every reference seed
    (faint), their mean and band, and `run` on top if given. Raises ModuleNotFoundError with
    PLOT_HINT without matplotlib."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    except ImportError:
        raise ModuleNotFoundError(PLOT_HINT) from None

    band = reference.band()
    color, run_color = "tab:blue", "tab:red"
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    by_steps, by_time = figure.subplots(1, 2, sharey=True)
    for axes, band_x, x_of in ((by_steps, band.steps, lambda curve: curve.steps),
                               (by_time, band.wall_times, lambda curve: curve.wall_times)):
        for seed, curve in reference.runs.items():
            logged = np.isfinite(curve.scores)
            label = "reference seeds" if seed == reference.seeds[0] else None
            axes.plot(x_of(curve)[logged], curve.scores[logged], color=color, alpha=0.3,
                      linewidth=0.8, label=label)
        drawn = np.isfinite(band.low)
        # Drawn no lower than any score can be: shoal's scores are >= 0 (the band's own
        # limits, which compare() uses, are left as they are).
        floor = min(0.0, min(np.nanmin(curve.scores) for curve in reference.runs.values()))
        axes.fill_between(band_x[drawn], np.maximum(band.low[drawn], floor), band.high[drawn],
                          color=color, alpha=0.15, linewidth=0, label="band (95% of new runs)")
        axes.plot(band_x[drawn], band.mean[drawn], color=color, linewidth=1.6,
                  label=f"reference mean ({len(reference.runs)} seeds)")
        if run is not None:
            logged = np.isfinite(run.scores)
            axes.plot(x_of(run)[logged], run.scores[logged], color=run_color, linewidth=1.6,
                      label=run_label)
        axes.grid(alpha=0.3)
    by_steps.set_xlabel("agent-steps")
    by_time.set_xlabel("wall time (s)")
    by_steps.set_ylabel("score")
    by_steps.legend(loc="best", fontsize="small")
    figure.suptitle(f"{reference.env_id}   (wall time on {machine_name(reference.summary)})")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, metadata={"Software": None})


# ---- making a reference ----


def make_reference(
    env: str,
    seeds: Sequence[int],
    root: str | Path = REFERENCE_ROOT,
    overrides: Sequence[str] = (),
    runs_dir: str | Path | None = None,
    milestones: Sequence[float] = (),
) -> dict[str, Any]:
    """Train one run per seed with the env's tuned config (configs/default.toml <
    configs/<env>.toml < overrides), one after the other, each into runs_dir/seed<k> (default:
    runs/reference-<env>), then write the reference under root/<env>/ and return its summary.
    An older reference of the env is replaced only once every seed has finished."""
    from shoal.trainer.ppo import train  # torch only from here on

    name, _ = resolve_env(env)
    seeds = [int(seed) for seed in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"a reference needs at least 2 distinct seeds (3 or more advised), "
                          f"got {seeds}")
    # Quiet runs unless the overrides say otherwise (a later --display wins). Every seed's
    # config is resolved before the first run, so that a bad override fails at once.
    configs = [load_config(env, overrides=["--display", "none", *overrides, "--seed", str(seed)])
               for seed in seeds]
    runs_dir = Path(runs_dir) if runs_dir is not None else Path("runs") / f"reference-{name}"
    for seed in seeds:  # refused before the first run, not after hours of training
        check_run_dir_free(runs_dir / f"seed{seed}")
    results = {}
    for number, (seed, config) in enumerate(zip(seeds, configs), 1):
        run_dir = runs_dir / f"seed{seed}"
        print(f"reference {name}: seed {seed} ({number} of {len(seeds)}), "
              f"{config.total_timesteps:,} steps into {run_dir}", flush=True)
        results[seed] = train(config, run_dir)
        print(f"  final score {final_score(read_curve(run_dir / 'metrics.csv')):.3f} "
              f"in {results[seed].get('total_wall_time', math.nan):.0f} s", flush=True)
    return write_reference(root, configs[0].to_dict(), {
        seed: (runs_dir / f"seed{seed}" / "metrics.csv", results[seed]) for seed in seeds
    }, milestones=milestones)


def reference_from_runs(
    env: str,
    seeds: Sequence[int],
    root: str | Path = REFERENCE_ROOT,
    runs_dir: str | Path | None = None,
    milestones: Sequence[float] = (),
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the reference of ENV from runs already trained (e.g. two seeds side by side,
    then one alone to time it): runs_dir/seed<k>/ for each seed. Each run's config must be
    the env's own config (with the overrides, as make_reference takes them) and its seed,
    display aside, so the reference is of the settings it claims; each run must have
    finished."""
    name, _ = resolve_env(env)
    runs_dir = Path(runs_dir) if runs_dir is not None else Path("runs") / f"reference-{name}"
    runs = {}
    configs = []
    for seed in seeds:
        run = runs_dir / f"seed{seed}"
        config = finished_run_config(run)
        expected = load_config(env, overrides=[*overrides, "--seed", str(seed)])
        differing = differing_settings(config, expected, ignored={"display"})
        if differing:
            raise ConfigError(f"{run} was not trained with {name}'s config and seed {seed}: "
                              f"{differing} differ")
        configs.append(config)
        runs[int(seed)] = (run / "metrics.csv", {})
    return write_reference(root, configs[0].to_dict(), runs, milestones=milestones)


#: Settings that change how a run is carried out, not what it learns: a run compared with a
#: reference may differ from it in these (the thread counts do change the bits, so such a run
#: cannot repeat a seed exactly, but not the distribution of its scores).
HOW_IT_RUNS = frozenset({"display", "log_interval", "checkpoint_interval", "tensorboard", "wandb",
                         "wandb_project", "torch_threads", "num_threads"})


def differing_settings(config: Config, expected: Config,
                       ignored: frozenset[str] | set[str]) -> list[str]:
    """The keys, `ignored` aside, whose values differ between two configs."""
    expected_values = expected.to_dict()
    return sorted(key for key, value in config.to_dict().items()
                  if key not in ignored and expected_values.get(key) != value)


def finished_run_config(run: Path) -> Config:
    """The config of the run in `run` (config.toml), checked to have trained to its end."""
    config = config_from_dict(read_toml(run / "config.toml"), f"{run / 'config.toml'}")
    curve = read_curve(run / "metrics.csv")
    if curve.last_step < config.num_updates * config.batch_size:
        raise ConfigError(f"{run} has not finished ({curve.last_step:,} of "
                          f"{config.num_updates * config.batch_size:,} steps)")
    return config


def write_reference(
    root: str | Path,
    config: dict[str, Any],
    runs: dict[int, tuple[Path, dict[str, Any]]],
    machine: dict[str, Any] | None = None,
    milestones: Sequence[float] = (),
) -> dict[str, Any]:
    """Write root/<env>/ from finished runs: seed -> (its metrics.csv, what train returned).
    `config` is the first seed's resolved config (the others differ only in the seed).
    milestones: scores whose steps_to_score each run records (None: never reached)."""
    name, env_id = resolve_env(config["env_id"])
    root = Path(root)
    partial = root / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    curves = {}
    for seed, (metrics, _) in runs.items():
        (partial / f"seed{seed}").mkdir(parents=True)
        shutil.copyfile(metrics, partial / f"seed{seed}" / "metrics.csv")
        curves[seed] = read_curve(metrics)
    save_config(config_from_dict(config), partial / "config.toml")

    finals = {seed: final_score(curve) for seed, curve in curves.items()}
    values = np.array(list(finals.values()))
    summary = {
        "env_id": env_id,
        "seeds": list(runs),
        "final_score": {
            "mean": float(np.mean(values)),
            "std": float(np.std(values, ddof=1)),
            "definition": f"mean score over the last {FINAL_FRACTION:.0%} of the steps, "
                          "std over seeds (ddof=1)",
        },
        "steps": min(curve.last_step for curve in curves.values()),
        "wall_time_s_mean": float(np.mean([curve.wall_times[-1] for curve in curves.values()])),
        "runs": [
            {
                "seed": seed,
                "final_score": finals[seed],
                "steps": curves[seed].last_step,
                "wall_time_s": float(result.get("total_wall_time", curves[seed].wall_times[-1])),
                "steps_per_second": float(result.get("mean_sps", curves[seed].last_step
                                                     / curves[seed].wall_times[-1])),
                **({"steps_to_score": {f"{target:g}": finite_or_none(steps_to_score(curves[seed], target))
                                       for target in milestones}} if milestones else {}),
            }
            for seed, (_, result) in runs.items()
        ],
        "machine": machine if machine is not None else machine_info(config),
        "date": datetime.date.today().isoformat(),
    }
    write_text_atomically(partial / "summary.json", json.dumps(summary, indent=2) + "\n")
    destination = root / name
    if destination.exists():
        shutil.rmtree(destination)
    os.replace(partial, destination)
    return summary


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def machine_info(config: dict[str, Any]) -> dict[str, Any]:
    """Where the reference ran: what its wall times mean."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "logical_cpus": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "shoal": shoal.__version__,
        "device": config["device"],
        "torch_threads": config["torch_threads"],
        "num_threads": config["num_threads"],
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        if config["device"] != "cpu" and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(config["device"]))
    return info


def recorded_capability(machine: dict[str, Any]) -> str | None:
    """torch's CPU capability where the summary recorded one (AVX512, AVX2, ...); None for
    the older summaries, whose field holds a note that it was not recorded."""
    capability = machine.get("cpu_capability", "")
    return capability if capability and " " not in capability else None


def hosts_line(summary: dict[str, Any]) -> str:
    """The reference's host beside this one: runs are bit-identical only on the same CPU kind
    (torch's CPU capability), build and thread counts."""
    machine = summary.get("machine", {})
    theirs = (f"{machine.get('cpu', 'unknown')}, "
              f"{recorded_capability(machine) or 'capability not recorded'}, "
              f"{machine.get('logical_cpus', '?')} CPUs")
    ours = f"{cpu_model()}, {cpu_capability()}, {os.cpu_count()} CPUs"
    same = machine.get("cpu_capability") == cpu_capability() and machine.get("cpu") == cpu_model()
    return (f"  hosts: the reference's {theirs}; this one {ours}"
            + ("" if same else " (another CPU kind: expect the same band, not the same bits)"))


def machine_name(summary: dict[str, Any]) -> str:
    """The machine of a summary in a few words: its GPU if it trained on one, its CPU."""
    machine = summary.get("machine", {})
    cpu = machine.get("cpu", "an unknown machine")
    capability = recorded_capability(machine)
    if capability:
        cpu = f"{cpu} ({capability})"
    if machine.get("device", "cpu") == "cpu":
        return cpu
    return f"{machine.get('gpu') or machine['device']}, {cpu}"
