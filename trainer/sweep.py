"""`shoal sweep`: hyperparameter search with Optuna over shoal's PPO trainer.

    shoal sweep snake --trials 30 --budget-minutes 1.5
    shoal sweep snake --trials 30 --budget-minutes 1.5      (again: continues the same study)

Each trial trains one run (shoal.trainer.ppo.train) with hyperparameters drawn from the search
space, and its value is the run's **final score** (trainer/reference.py: the mean score over
the last 5% of its steps) when the run ends: at its own total_timesteps, or when the budget is
spent, whichever comes first.

- **The budget** makes trials comparable. `--budget-minutes M` cuts every trial at M minutes
  of training wall time (the env and policy set-up excluded), so a setting that learns more
  per step but steps slower is paid for in steps: the search is cost-aware. Wall time is fair
  only between trials that get the same machine: the sweep fixes the thread counts of every
  trial (`--threads`, else the config's torch_threads and num_threads; they cannot be
  searched), and workers that share a machine should share its cores out (2 workers on 2
  cores: `--threads 1`). `--budget-steps N` instead gives every trial N agent-steps (its
  total_timesteps): immune to a noisy machine, blind to what a step costs. `--seeds K` trains
  each trial K times (seeds seed, seed + 1, ...) and scores it by the mean, against luck.
- **Pruning**: every logged update reports the score so far (the final score of the run up
  to then) at the share of the budget spent, 0-100; once a trial has spent --prune-after
  percent (33 by default), Optuna's median pruner (or Hyperband) stops it if it trails the
  earlier trials at the same share. Scores that stay near zero before they jump (a drone
  learning to hover) need a later start: before the jump the median is noise.
- **The study** lives in an Optuna storage: by default SQLite at OUT/study.db. Running the
  same command again continues it up to --trials finished (complete or pruned) trials, and
  several workers pointed at one storage (the same command in several shells, or
  `--storage postgresql://...` on several machines) share it. A trial whose worker died is
  noticed by its missing heartbeat and run again. A study remembers its env, budget, threads
  and search space and refuses a worker that asks for others, whose values would not compare.
- **Results**, rewritten after every trial: OUT/best.toml (a --config file for `shoal train`
  with the best trial's settings), OUT/trials.csv (one row per trial), and at the end the plots
  OUT/history.png, OUT/importance.png and OUT/intermediate.png (Optuna's matplotlib views).

The search space is the [sweep] table of the env's config file (trainer/configs/<env>.toml),
or of --config FILE, which replaces it; one entry per key, its distribution and range:

    [sweep]
    learning_rate = { distribution = "log_uniform", low = 1e-4, high = 1e-2 }
    gamma = { distribution = "uniform", low = 0.95, high = 0.999 }
    update_epochs = { distribution = "int", low = 1, high = 4 }
    minibatch_size = { distribution = "pow2", low = 1024, high = 16384 }
    activation = { distribution = "choice", values = ["relu", "tanh"] }
    env.vision = { distribution = "choice", values = [3, 5] }

Distributions: "uniform" and "log_uniform" (float keys), "int" (optional step) and "log_int"
(int keys), "pow2" (powers of two between low and high, searched as their exponent: the
trial's parameter is named log2(key)), "choice" (a list of values of the key's type). `env.X`
searches the game parameter X. Unknown keys, distributions, fields, types and out-of-range
bounds are errors that name the key.

optuna is imported only by the functions that search (pip install 'shoal[sweep]').
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import math
import os
import random
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoal.files import replacing, write_text_atomically
from shoal.trainer.config import (
    SWEEP_TABLE, Config, ConfigError, as_type, check_limits, close_keys_hint, env_config_file,
    field_types, load_config, read_toml, resolve_env, settings_of, to_toml, toml_value,
)

#: Settings a search may not vary: the run's identity and resources, and where it logs.
#: Threads are fixed so that wall-time budgets compare trials on equal machines.
NOT_SEARCHABLE = {
    "env_id": "the ENV argument sets it",
    "seed": "every trial trains with the same seed",
    "device": "every trial runs on the same device",
    "torch_threads": "threads are fixed for a fair wall-time budget (use --threads)",
    "num_threads": "threads are fixed for a fair wall-time budget (use --threads)",
    "log_interval": "the sweep logs every update to report the score",
    "checkpoint_interval": "the sweep writes each trial's checkpoint at its end",
    "display": "trials run without a display",
    "tensorboard": "trials log only to their metrics.csv",
    "wandb": "trials log only to their metrics.csv",
    "wandb_project": "trials log only to their metrics.csv",
}
#: Each distribution: the types of key it suits and the fields its spec takes (besides
#: "distribution"): required, then optional.
DISTRIBUTIONS: dict[str, tuple[tuple[type, ...], tuple[str, ...], tuple[str, ...]]] = {
    "uniform": ((float,), ("low", "high"), ()),
    "log_uniform": ((float,), ("low", "high"), ()),
    "int": ((int,), ("low", "high"), ("step",)),
    "log_int": ((int,), ("low", "high"), ()),
    "pow2": ((int,), ("low", "high"), ()),
    "choice": ((bool, int, float, str), ("values",), ()),
}
PRUNERS = ("median", "hyperband", "none")
#: The share of the budget a report's step is counted in: 0..PROGRESS_STEPS.
PROGRESS_STEPS = 100
#: Tries to open the storage while another worker creates its tables.
STORAGE_ATTEMPTS = 6
INSTALL_HINT = "shoal sweep needs optuna: pip install 'shoal[sweep]'"


# ---- the search space ----


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched key: its distribution and range. `key` is a config key or env.NAME."""

    key: str
    distribution: str
    low: float | int | None = None
    high: float | int | None = None
    step: int | None = None
    values: tuple[Any, ...] = ()

    @property
    def parameter(self) -> str:
        """The name of Optuna's parameter: the key, or log2(key) for powers of two."""
        return f"log2({self.key})" if self.distribution == "pow2" else self.key

    def suggest(self, trial) -> Any:
        """The trial's value of this key, drawn by the trial's sampler."""
        name = self.parameter
        if self.distribution in ("uniform", "log_uniform"):
            return trial.suggest_float(name, self.low, self.high,
                                       log=self.distribution == "log_uniform")
        if self.distribution in ("int", "log_int"):
            return trial.suggest_int(name, self.low, self.high, step=self.step or 1,
                                     log=self.distribution == "log_int")
        if self.distribution == "pow2":
            return 2 ** trial.suggest_int(name, self.low.bit_length() - 1,
                                          self.high.bit_length() - 1)
        return trial.suggest_categorical(name, list(self.values))

    def extremes(self) -> list[Any]:
        """The values at the ends of the range, each checked against the key's limits."""
        return list(self.values) if self.distribution == "choice" else [self.low, self.high]

    def describe(self) -> dict[str, Any]:
        """The spec as plain data (stored with the study, compared on resume)."""
        spec = {"distribution": self.distribution}
        if self.distribution == "choice":
            spec["values"] = list(self.values)
        else:
            spec.update(low=self.low, high=self.high)
            if self.step is not None:
                spec["step"] = self.step
        return spec


SearchSpace = dict[str, Dimension]


def load_search_space(env: str, config_file: str | Path | None = None) -> SearchSpace:
    """The [sweep] table of --config FILE if it has one, else of the env's config file,
    parsed and checked (parse_search_space). An error if neither has one."""
    name, _ = resolve_env(env)
    sources = [Path(config_file)] if config_file is not None else []
    env_file = env_config_file(name)
    sources += [env_file] if env_file is not None else []
    for path in sources:
        table = read_toml(path).get(SWEEP_TABLE)
        if table is not None:
            return parse_search_space(table, str(path))
    where = " or ".join(str(path) for path in sources) or f"the configs of {name}"
    raise ConfigError(f"no [{SWEEP_TABLE}] table in {where}: a sweep needs a search space "
                      "(see docs/sweep.md)")


def parse_search_space(table: Any, source: str) -> SearchSpace:
    """Each entry of a [sweep] table as a Dimension; env.NAME entries come as a nested "env"
    table. A ConfigError names the key and what is wrong with its spec."""
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"[{SWEEP_TABLE}] in {source} must be a table of key = {{ distribution "
                          f"= ..., ... }} entries, got {table!r}")
    entries: list[tuple[str, Any]] = []
    for key, spec in table.items():
        if key == "env":
            if not isinstance(spec, dict) or not spec:
                raise ConfigError(f"{SWEEP_TABLE}.env in {source} must be a table of game "
                                  f"parameters, got {spec!r}")
            entries += [(f"env.{name}", value) for name, value in spec.items()]
        else:
            entries.append((key, spec))
    space = {}
    for key, spec in entries:
        space[key] = parse_dimension(key, spec, source)
    return space


def parse_dimension(key: str, spec: Any, source: str) -> Dimension:
    where = f"{SWEEP_TABLE}.{key} in {source}"
    types = field_types()
    if not key.startswith("env."):
        if key in NOT_SEARCHABLE:
            raise ConfigError(f"{where}: {key} cannot be searched: {NOT_SEARCHABLE[key]}")
        if key not in types:
            raise ConfigError(f"{where}: unknown config key {key!r}{close_keys_hint(key)}")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table like {{ distribution = \"uniform\", low = "
                          f"0.9, high = 0.99 }}, got {spec!r}")
    distribution = spec.get("distribution")
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: distribution must be one of {list(DISTRIBUTIONS)}, "
                          f"got {distribution!r}")
    suits, required, optional = DISTRIBUTIONS[distribution]
    fields = set(spec) - {"distribution"}
    unknown = sorted(fields - set(required) - set(optional))
    if unknown:
        raise ConfigError(f"{where}: a {distribution} distribution takes {list(required + optional)}, "
                          f"not {unknown}")
    missing = [name for name in required if name not in spec]
    if missing:
        raise ConfigError(f"{where}: a {distribution} distribution needs {missing}")
    # An env parameter's type is the game's business (checked when the env is built); a
    # config key's type is the schema's.
    key_type = types.get(key)
    if key_type is not None and key_type not in suits:
        raise ConfigError(f"{where}: {key} is {key_type.__name__}; a {distribution} distribution "
                          f"draws {' or '.join(kind.__name__ for kind in suits)} values")
    if distribution == "choice":
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: values must be a non-empty list, got {values!r}")
        if key_type is not None:
            values = [bound(where, "a value", value, key_type) for value in values]
        elif not all(isinstance(value, (bool, int, float, str)) for value in values):
            raise ConfigError(f"{where}: values must be bools, ints, floats or strings, got {values!r}")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"{where}: values repeat: {values!r}")
        return Dimension(key, distribution, values=tuple(values))

    number = float if distribution in ("uniform", "log_uniform") else int
    low = bound(where, "low", spec["low"], number)
    high = bound(where, "high", spec["high"], number)
    if not low < high:
        raise ConfigError(f"{where}: low must be below high, got low = {low!r}, high = {high!r}")
    if distribution in ("log_uniform", "log_int", "pow2") and low <= 0:
        raise ConfigError(f"{where}: a {distribution} distribution needs low > 0, got {low!r}")
    step = None
    if "step" in spec:
        step = bound(where, "step", spec["step"], int)
        if step < 1 or (high - low) % step:
            raise ConfigError(f"{where}: step must be >= 1 and divide high - low = {high - low}, "
                              f"got {step}")
    if distribution == "pow2":
        for name, value in (("low", low), ("high", high)):
            if value & (value - 1):
                raise ConfigError(f"{where}: a pow2 distribution needs powers of two, got "
                                  f"{name} = {value}")
    return Dimension(key, distribution, low, high, step)


def bound(where: str, name: str, value: Any, kind: type) -> Any:
    """value as `kind`, converted as config values are (config.as_type), or an error."""
    converted = as_type(value, kind)
    if converted is None or (kind is float and not math.isfinite(converted)):
        raise ConfigError(f"{where}: {name} must be a finite {kind.__name__}, got {value!r}")
    return converted


def check_space_against(space: SearchSpace, base: Config, budget: Budget) -> None:
    """Every end of every range must be a setting the trainer (or the game) accepts, each
    tried with the other keys at the base config's values; a step budget fixes
    total_timesteps, so it cannot be searched with one."""
    import gymnasium

    import shoal  # noqa: F401 (registers the ids)

    if budget.steps is not None and "total_timesteps" in space:
        raise ConfigError("sweep.total_timesteps: --budget-steps fixes every trial's "
                          "total_timesteps; search it under --budget-minutes instead")
    for dimension in space.values():
        for value in dimension.extremes():
            where = f"{SWEEP_TABLE}.{dimension.key} = {value!r}"
            if dimension.key.startswith("env."):
                kwargs = {**base.env, dimension.key[4:]: value}
                try:
                    gymnasium.make_vec(base.env_id, num_envs=base.num_envs, **kwargs).close()
                except (TypeError, ValueError) as error:
                    raise ConfigError(f"{where}: the env refuses it: {error}") from None
                continue
            try:
                check_limits(dataclasses.replace(base, **{dimension.key: value}))
            except ConfigError as error:
                raise ConfigError(f"{where}: {error}") from None


# ---- the budget and one trial ----


@dataclasses.dataclass(frozen=True)
class Budget:
    """What every trial gets: minutes of training wall time, agent-steps, or both."""

    minutes: float | None = None
    steps: int | None = None

    def __post_init__(self):
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ConfigError(f"--budget-minutes must be a number > 0, got {self.minutes!r}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"--budget-steps must be >= 1, got {self.steps!r}")

    def describe(self) -> str:
        parts = [f"{self.minutes:g} minutes" if self.minutes is not None else "",
                 f"{self.steps:,} steps" if self.steps is not None else ""]
        return " or ".join(part for part in parts if part) or "each trial's total_timesteps"

    def spent(self, wall_time: float, global_step: int, total_timesteps: int) -> float:
        """The share of the trial's budget used, 0..1: whichever of its wall time and its
        steps (its own total_timesteps, or the step budget that set it) runs out first."""
        shares = [global_step / total_timesteps]
        if self.minutes is not None:
            shares.append(wall_time / (60.0 * self.minutes))
        return min(1.0, max(shares))


def trial_overrides(values: dict[str, Any], budget: Budget, threads: int | None) -> list[str]:
    """The command-line layer of a trial: its drawn values and the sweep's fixed settings."""
    overrides = ["--display", "none", "--log-interval", "1", "--checkpoint-interval", "0"]
    if threads is not None:
        overrides += ["--torch-threads", str(threads), "--num-threads", str(threads)]
    if budget.steps is not None:
        overrides += ["--total-timesteps", str(budget.steps)]
    for key, value in values.items():
        overrides += [f"--{key}", toml_value(value, key)]
    return overrides


class ScoreReporter:
    """train's on_log for one run of a trial: keeps the score curve, reports the score so far
    to the trial at each new percent of the budget, asks the pruner, and ends the run when the
    budget is spent.

    A trial of several seeds trains run after run (run `part` of `parts`): the percents are
    those of the whole trial, (part + spent) / parts, and the score so far is the mean of the
    earlier runs' final scores and this run's score so far."""

    def __init__(self, trial, budget: Budget, total_timesteps: int, pruning: bool,
                 part: int = 0, parts: int = 1, earlier_scores: tuple[float, ...] = ()):
        self.trial = trial
        self.budget = budget
        self.total_timesteps = total_timesteps
        self.pruning = pruning
        self.part, self.parts = part, parts
        self.earlier_scores = earlier_scores
        self.rows: list[tuple[int, float, float]] = []  # global_step, wall_time, score
        # The run before this one reported up to its end, the first percent of this part.
        self.last_reported = part * PROGRESS_STEPS // parts - (1 if part == 0 else 0)

    def __call__(self, row: dict[str, float]) -> bool:
        import optuna

        global_step, wall_time = int(row["global_step"]), row["wall_time"]
        last_update = wall_time - self.rows[-1][1] if self.rows else wall_time
        self.rows.append((global_step, wall_time, row["score"]))
        spent = self.budget.spent(wall_time, global_step, self.total_timesteps)
        step = int((self.part + spent) * PROGRESS_STEPS / self.parts)
        score = (sum(self.earlier_scores) + self.score()) / (len(self.earlier_scores) + 1)
        if step > self.last_reported and math.isfinite(score):
            # Every percent this update crossed gets the score: the pruner compares trials
            # at equal percents, and an update may span several.
            for crossed in range(self.last_reported + 1, step + 1):
                self.trial.report(score, crossed)
            self.last_reported = step
            if self.pruning and step < PROGRESS_STEPS and self.trial.should_prune():
                raise optuna.TrialPruned(f"score {score:.4g} at {step}% of the budget")
        # A wall-time budget ends the run before an update that would overrun it (updates
        # take about as long as the last one), so no trial gets more time than another.
        overruns = (self.budget.minutes is not None
                    and wall_time + last_update > 60.0 * self.budget.minutes)
        return spent >= 1.0 or overruns

    def score(self) -> float:
        """The run's final score so far (trainer/reference.py's definition)."""
        import numpy as np

        from shoal.trainer.reference import Curve, final_score

        steps, wall_times, scores = (np.array(column, dtype=float) for column in zip(*self.rows))
        return final_score(Curve(steps, wall_times, scores))


def run_trial(trial, env: str, config_file: Path | None, space: SearchSpace, budget: Budget,
              threads: int | None, out: Path, pruning: bool, train: Callable,
              seeds: int = 1) -> float:
    """Train the trial's configuration once per seed and return the mean of the runs' final
    scores; an invalid combination (the trainer refuses it) or a run that ends no episode is
    pruned with the reason."""
    import optuna

    values = {key: dimension.suggest(trial) for key, dimension in space.items()}
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    trial.set_user_attr("config", values)
    try:
        config = load_config(env, config_file, trial_overrides(values, budget, threads))
    except ConfigError as error:  # e.g. a minibatch larger than the batch it cuts
        trial.set_user_attr("note", f"invalid: {error}")
        raise optuna.TrialPruned(f"invalid combination: {error}") from None
    trial.set_user_attr("total_timesteps", config.total_timesteps)
    trial_dir = out / "trials" / f"trial-{trial.number:04d}"
    scores: list[float] = []
    reporters: list[ScoreReporter] = []
    cut = False
    for part in range(seeds):  # seeds config.seed, config.seed + 1, ...
        run_config = dataclasses.replace(config, seed=config.seed + part)
        run_dir = trial_dir if seeds == 1 else trial_dir / f"seed{run_config.seed}"
        reporter = ScoreReporter(trial, budget, config.total_timesteps, pruning, part, seeds,
                                 tuple(scores))
        reporters.append(reporter)
        try:
            summary = train(run_config, run_dir, quiet=True, on_log=reporter)
        except optuna.TrialPruned as pruned:
            trial.set_user_attr("note", f"pruned: {pruned}")
            record_runs(trial, reporters)
            raise
        except (ConfigError, ValueError) as error:
            if isinstance(error, ConfigError) or not reporter.rows:
                # a policy that does not fit the env, or game parameters the game refuses
                # together: found while the run is built, before its first update
                trial.set_user_attr("note", f"invalid: {error}")
                raise optuna.TrialPruned(f"invalid combination: {error}") from None
            fail_trial(trial, reporters, error)
            raise
        except RuntimeError as error:  # e.g. a run that diverged to NaN: this trial fails,
            fail_trial(trial, reporters, error)  # the study goes on (optimize's catch)
            raise
        scores.append(reporter.score())
        cut = cut or summary["global_step"] < config.total_timesteps
    record_runs(trial, reporters)
    if seeds > 1:
        trial.set_user_attr("seed_scores", scores)
    score = sum(scores) / len(scores)
    if not math.isfinite(score):
        trial.set_user_attr("note", "no episode ended within the budget")
        raise optuna.TrialPruned("no episode ended within the budget")
    trial.set_user_attr("note", "cut by the budget" if cut else "finished")
    return score


def fail_trial(trial, reporters: list[ScoreReporter], error: Exception) -> None:
    trial.set_user_attr("note", f"failed: {type(error).__name__}: {error}"[:500])
    record_runs(trial, reporters)


def record_runs(trial, reporters: list[ScoreReporter]) -> None:
    """The trial's steps (per run: each seed's run gets the same budget) and its training
    seconds (all its runs together)."""
    ran = [reporter.rows[-1] for reporter in reporters if reporter.rows]
    if ran:
        trial.set_user_attr("steps", max(steps for steps, _, _ in ran))
        trial.set_user_attr("train_seconds", round(sum(wall_time for _, wall_time, _ in ran), 2))


# ---- the study ----


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """Everything a sweep needs; the study keeps `identity()` and compares it on resume."""

    env: str
    trials: int
    budget: Budget
    out: Path
    storage: str | None = None
    study: str | None = None
    config_file: Path | None = None
    threads: int | None = None
    pruner: str = "median"
    prune_after: int = 33  # percent of the budget before a trial may be pruned
    seeds: int = 1  # runs per trial, seeds config.seed, config.seed + 1, ...; value: their mean
    sampler_seed: int | None = None
    heartbeat_seconds: int = 60
    grace_seconds: int = 180

    @property
    def name(self) -> str:
        return resolve_env(self.env)[0]

    @property
    def study_name(self) -> str:
        return self.study or self.name

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / 'study.db').resolve()}"

    def identity(self, space: SearchSpace, base: Config) -> dict[str, Any]:
        """What makes trial values comparable: a worker that differs may not join."""
        return {
            "env_id": base.env_id,
            "budget_minutes": self.budget.minutes,
            "budget_steps": self.budget.steps,
            "seeds_per_trial": self.seeds,
            "torch_threads": base.torch_threads,  # base holds --threads already
            "num_threads": base.num_threads,
            "search_space": {key: dimension.describe() for key, dimension in space.items()},
            # every setting the trials start from: the env's file, --config, the fixed ones
            "base_config": {key: value for key, value in base.to_dict().items()
                            if key not in space},
        }


def sweep(settings: SweepSettings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or continue) the study until it holds settings.trials finished trials, write the
    results under settings.out, and return a summary of the best trial."""
    optuna = import_optuna()
    from shoal.trainer.ppo import train  # torch only from here on

    if settings.trials < 0:
        raise ConfigError(f"--trials must be >= 0, got {settings.trials}")
    if settings.pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {PRUNERS}, got {settings.pruner!r}")
    if not 0 <= settings.prune_after < PROGRESS_STEPS:
        raise ConfigError(f"--prune-after must be a percent in [0, {PROGRESS_STEPS}), "
                          f"got {settings.prune_after}")
    if settings.sampler_seed is not None and not 0 <= settings.sampler_seed < 2**32:
        raise ConfigError(f"--sampler-seed must be in [0, 2**32), got {settings.sampler_seed}")
    if settings.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {settings.seeds}")
    if settings.threads is not None and settings.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {settings.threads}")
    space = load_search_space(settings.env, settings.config_file)
    base = load_config(settings.env, settings.config_file,
                       trial_overrides({}, settings.budget, settings.threads))
    check_space_against(space, base, settings.budget)
    try:
        settings.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--out {settings.out}: cannot make it a folder: {error.strerror}") from None
    study = open_study(settings, settings.identity(space, base), space, base, optuna, log)

    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = len(study.get_trials(deepcopy=False, states=finished_states))
    remaining = settings.trials - finished
    log(f"sweep {study.study_name}: {base.env_id}, {finished} of {settings.trials} trials "
        f"finished, budget {settings.budget.describe()} per trial, storage {settings.storage_url}")

    def after_trial(study, trial) -> None:
        write_results(study, settings)
        value = "-" if trial.value is None else f"{trial.value:.4g}"
        log(f"  trial {trial.number}: {trial.state.name.lower()}, score {value}"
            f" ({trial.user_attrs.get('note', '')}); best so far "
            f"{best_value(study)}")

    objective = lambda trial: run_trial(  # noqa: E731
        trial, settings.env, settings.config_file, space, settings.budget, settings.threads,
        settings.out, settings.pruner != "none", train, settings.seeds)
    # Rounds of the trials still missing: a failed trial does not count, so another round
    # replaces it; a round in which every trial failed ends the sweep instead of looping.
    while remaining > 0:
        failed_before = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            study.optimize(
                objective, n_trials=remaining, catch=(RuntimeError, ValueError),
                callbacks=[optuna.study.MaxTrialsCallback(settings.trials, states=finished_states),
                           after_trial],
            )
        failed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
        if failed - failed_before >= remaining:
            log(f"  every trial of the last {remaining} failed (see their notes in "
                f"{settings.out / 'trials.csv'}); stopping")
            break
        remaining = settings.trials - len(study.get_trials(deepcopy=False, states=finished_states))
    write_results(study, settings)
    write_plots(study, settings.out, log)
    return summarize(study)


def import_optuna():
    try:
        import optuna
    except ModuleNotFoundError:
        raise ConfigError(INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(settings: SweepSettings, identity: dict[str, Any], space: SearchSpace,
               base: Config, optuna, log: Callable[[str], None] = print):
    """Create the study or join it; a study made with other settings is refused."""
    storage = open_storage(settings, optuna)
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=4,
                                                      n_warmup_steps=settings.prune_after),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=max(1, settings.prune_after),
                                                            max_resource=PROGRESS_STEPS),
        "none": optuna.pruners.NopPruner,
    }[settings.pruner]()
    # constant_liar: a worker treats the others' running trials as poor, so parallel workers
    # spread out instead of all drawing the same promising point.
    # Random draws before TPE models the results: a third of the trials, 4 to 10 of them.
    sampler = optuna.samplers.TPESampler(seed=settings.sampler_seed, constant_liar=True,
                                         n_startup_trials=min(10, max(4, settings.trials // 3)))
    try:
        study = optuna.create_study(storage=storage, study_name=settings.study_name,
                                    direction="maximize", pruner=pruner, sampler=sampler)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=settings.study_name, storage=storage,
                                  pruner=pruner, sampler=sampler)
        created = False
    skipped = None
    if created:  # only the worker that made the study writes what it is
        # The baseline first: a worker that joins sees the identity only after it, so it
        # never finds the study without one and queues a second.
        skipped = enqueue_base(study, space, base)
        study.set_user_attr("identity", identity)
    stored = wait_for_identity(study)
    differences = identity_differences(stored, json.loads(json.dumps(identity)))
    if differences:
        raise ConfigError(
            f"study {settings.study_name!r} in {settings.storage_url} was made with other "
            f"settings than this worker's ({'; '.join(differences)}): their scores would not "
            "compare; name a new study with --study"
        )
    if not created and not has_baseline(study, optuna):  # e.g. the baseline was interrupted
        skipped = enqueue_base(study, space, base)
    if skipped:
        log(f"  no baseline trial: {skipped}")
    return study


def identity_differences(stored: dict[str, Any], asked: dict[str, Any], prefix: str = "") -> list[str]:
    """'key: the study's value, this worker's value' for each differing entry, nested tables
    compared entry by entry (a config differs in a key or two, not as a whole)."""
    differences = []
    for key in sorted(set(stored) | set(asked)):
        old, new = stored.get(key), asked.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += identity_differences(old, new, f"{prefix}{key}.")
        elif old != new:
            differences.append(f"{prefix}{key}: the study's {old!r}, this worker's {new!r}")
    return differences


def wait_for_identity(study, seconds: float = 30.0) -> dict[str, Any]:
    """The identity the study's creator wrote; a worker that joined a study being created
    waits for it. A study without one (not made by shoal sweep) is refused."""
    deadline = time.monotonic() + seconds
    while True:
        stored = study.user_attrs.get("identity")  # read from the storage on every call
        if stored is not None:
            return stored
        if time.monotonic() > deadline:
            raise ConfigError(f"study {study.study_name!r} has no shoal sweep settings: it was "
                              "not made by shoal sweep, or its maker died; name another --study")
        time.sleep(0.5)


def has_baseline(study, optuna) -> bool:
    """Whether a baseline trial is done, running or queued (not only failed)."""
    alive = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
             optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
    return any(trial.user_attrs.get("baseline")
               for trial in study.get_trials(deepcopy=False, states=alive))


def open_storage(settings: SweepSettings, optuna):
    """The study's database. Workers that start together on a new database race to create its
    tables; the loser's "already exists", duplicate schema version or lock held too long (any
    database error while opening) is retried."""
    import sqlalchemy.exc

    for attempt in range(STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(
                    settings.storage_url,
                    # SQLite: wait up to a minute for another worker's write lock, not fail.
                    engine_kwargs={"connect_args": {"timeout": 60}}
                    if settings.storage_url.startswith("sqlite") else None,
                    heartbeat_interval=settings.heartbeat_seconds,
                    grace_period=settings.grace_seconds,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=1),
                )
            if storage.engine.name == "sqlite":
                lock_sqlite_at_begin(storage.engine)
            return storage
        except sqlalchemy.exc.DBAPIError as error:
            if attempt == STORAGE_ATTEMPTS - 1:
                raise ConfigError(f"--storage {settings.storage_url}: cannot open it: "
                                  f"{error.orig or error}") from None
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)
        except (sqlalchemy.exc.ArgumentError, ImportError) as error:  # a bad URL, no driver
            raise ConfigError(f"--storage {settings.storage_url}: {error} (a database URL "
                              "like sqlite:///study.db or postgresql://user@host/db, with "
                              "its driver installed)") from None
    raise AssertionError("unreachable")


def lock_sqlite_at_begin(engine) -> None:
    """Make every SQLite transaction take the database's write lock when it begins.

    Python's sqlite3 driver starts a transaction only at the first write, and SQLite has no
    SELECT ... FOR UPDATE, so the row lock Optuna asks for when a worker claims a waiting trial
    (a queued baseline, a trial re-run after its worker died) does nothing: two workers can both
    read the trial as waiting and both run it. BEGIN IMMEDIATE serialises each read-then-write
    step across workers; the others wait on the lock (the 60 s timeout above)."""
    import sqlalchemy

    def driver_leaves_transactions_to_us(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    def begin_with_the_write_lock(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    sqlalchemy.event.listen(engine, "connect", driver_leaves_transactions_to_us)
    sqlalchemy.event.listen(engine, "begin", begin_with_the_write_lock)
    engine.dispose()  # pooled connections opened before the hooks would skip them


def enqueue_base(study, space: SearchSpace, base: Config) -> str:
    """The config's own values as the next trial, when they lie in the space: the baseline
    every drawn setting is measured against, under the same budget. Returns why it was
    skipped, or "" if it was queued."""
    params = {}
    for key, dimension in space.items():
        value = base.env.get(key[4:]) if key.startswith("env.") else getattr(base, key)
        if value is None:
            return f"{key} is the game's default, not a value in the config"
        if dimension.distribution == "choice":
            if value not in dimension.values:
                return f"{key} = {value!r} is not one of {list(dimension.values)}"
            params[dimension.parameter] = value
            continue
        if not dimension.low <= value <= dimension.high or (
                dimension.distribution == "pow2" and value & (value - 1)) or (
                dimension.step is not None and (value - dimension.low) % dimension.step):
            return f"{key} = {value!r} lies outside the searched {dimension.describe()}"
        params[dimension.parameter] = (value.bit_length() - 1 if dimension.distribution == "pow2"
                                       else value)
    study.enqueue_trial(params, user_attrs={"baseline": True})
    return ""


# ---- results ----


def best_value(study) -> str:
    try:
        return f"{study.best_value:.4g} (trial {study.best_trial.number})"
    except ValueError:  # no complete trial yet
        return "none yet"


def write_results(study, settings: SweepSettings) -> None:
    """OUT/trials.csv and OUT/best.toml, each written atomically (several workers may)."""
    trials = study.get_trials(deepcopy=False)
    write_text_atomically(settings.out / "trials.csv", trials_csv(trials))
    try:
        best = study.best_trial
    except ValueError:
        return
    write_text_atomically(settings.out / "best.toml", best_config_text(study, best, settings))


def searched_keys(trials) -> list[str]:
    """The searched keys of these trials, sorted: the columns of the trial tables."""
    return sorted({key for trial in trials for key in trial.user_attrs.get("config", {})})


def trials_csv(trials) -> str:
    keys = searched_keys(trials)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", "state", "score", "train_seconds", "steps", "note", "baseline",
                     *keys])
    for trial in trials:
        values = trial.user_attrs.get("config", {})
        writer.writerow([trial.number, trial.state.name.lower(),
                         "" if trial.value is None else repr(trial.value),
                         trial.user_attrs.get("train_seconds", ""),
                         trial.user_attrs.get("steps", ""), trial.user_attrs.get("note", ""),
                         "yes" if trial.user_attrs.get("baseline") else "",
                         *(values.get(key, "") for key in keys)])
    return buffer.getvalue()


def best_config_text(study, best, settings: SweepSettings) -> str:
    """A --config file for `shoal train ENV`: the layers the sweep trained over the env's own
    file (its --config file, and total_timesteps of a step budget) with the best values."""
    values: dict[str, Any] = {}
    if settings.config_file is not None:
        values.update(settings_of(read_toml(settings.config_file)))
    identity = study.user_attrs.get("identity", {})
    if settings.threads is not None:
        values.update(torch_threads=settings.threads, num_threads=settings.threads)
    if settings.budget.steps is not None:
        values["total_timesteps"] = settings.budget.steps
    for key, value in best.user_attrs.get("config", {}).items():
        if key.startswith("env."):
            values.setdefault("env", {})[key[4:]] = value
        else:
            values[key] = value
    if "env" in values:  # TOML wants the table after the plain keys
        values["env"] = values.pop("env")
    header = [
        f"# shoal sweep {study.study_name}: the best of {len(study.trials)} trials on "
        f"{identity.get('env_id', settings.env)}",
        f"# trial {best.number}: final score {best.value:.6g} after "
        f"{best.user_attrs.get('steps', 0):,} steps in {best.user_attrs.get('train_seconds', 0):.0f} s "
        f"of training ({best.user_attrs.get('note', '')}); budget "
        f"{settings.budget.describe()} per trial",
        f"# use it: shoal train {settings.name} --config best.toml",
    ]
    steps, total = best.user_attrs.get("steps", 0), best.user_attrs.get("total_timesteps", 0)
    if best.user_attrs.get("note") == "cut by the budget":
        header.append(f"# the budget cut this trial at {steps:,} of its total_timesteps = "
                      f"{total:,} (the learning rate had not decayed to 0): to train about as "
                      f"long, add --total-timesteps {steps}")
    return "\n".join(header) + "\n" + to_toml(values)


def write_plots(study, out: Path, log: Callable[[str], None]) -> None:
    """Optuna's optimisation history, parameter importances and intermediate values as PNG;
    a plot that cannot be drawn yet (too few trials, no matplotlib) is skipped with a line."""
    import optuna

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        log("  no plots: they need matplotlib (pip install 'shoal[sweep]')")
        return
    views = optuna.visualization.matplotlib
    plots = {"history.png": views.plot_optimization_history,
             "importance.png": views.plot_param_importances,
             "intermediate.png": views.plot_intermediate_values}
    for file_name, plot in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study)
        except (ValueError, RuntimeError) as error:  # e.g. importances of fewer than 2 trials
            log(f"  no {file_name}: {error}")
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        with replacing(out / file_name) as temporary:  # several workers may write it
            figure.savefig(temporary, dpi=100)
        plt.close(figure)


def summarize(study) -> dict[str, Any]:
    counts = collections.Counter(trial.state.name.lower()
                                 for trial in study.get_trials(deepcopy=False))
    summary: dict[str, Any] = {"study": study.study_name, "trials": dict(counts)}
    try:
        best = study.best_trial
    except ValueError:
        return summary
    summary.update(best_trial=best.number, best_score=best.value,
                   best_config=best.user_attrs.get("config", {}),
                   best_train_seconds=best.user_attrs.get("train_seconds"),
                   best_steps=best.user_attrs.get("steps"))
    return summary


def trials_table(study, top: int = 10) -> str:
    """The best `top` complete trials as a plain text table (best first)."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    complete.sort(key=lambda trial: trial.value, reverse=True)
    if not complete:
        return "  no complete trial yet"
    keys = searched_keys(complete)
    header = ["trial", "score", "seconds", *keys]
    rows = [[f"{trial.number}{' (baseline)' if trial.user_attrs.get('baseline') else ''}",
             f"{trial.value:.4g}",
             f"{trial.user_attrs.get('train_seconds', math.nan):.0f}",
             *(format_value(trial.user_attrs.get("config", {}).get(key)) for key in keys)]
            for trial in complete[:top]]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return "\n".join("  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths))
                     for row in [header, *rows])


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def load_study(settings: SweepSettings):
    """The study of settings, for reading (the table at the end of `shoal sweep`)."""
    optuna = import_optuna()
    return optuna.load_study(study_name=settings.study_name, storage=settings.storage_url)
