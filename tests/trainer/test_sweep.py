"""shoal sweep: the search space's parsing and checks, the budget and the pruning reports, and
tiny studies that complete, resume, survive an interrupted or dead worker, refuse a worker
with other settings, and are shared by two worker processes on one SQLite file."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import time
import tomllib
import warnings
from pathlib import Path

import pytest

from shoal.trainer.config import CONFIG_DIR, ConfigError, load_config
from shoal.trainer.sweep import (
    Budget, NOT_SEARCHABLE, ScoreReporter, SweepSettings, check_space_against,
    load_search_space, parse_search_space, trial_overrides,
)

optuna = pytest.importorskip("optuna")
torch = pytest.importorskip("torch")

from shoal.trainer import ppo, sweep as sweeps  # noqa: E402
from shoal.trainer.cli import main  # noqa: E402

#: A Snake small enough that a trial trains in about a second.
TINY_CONFIG = """\
num_envs = 32
horizon = 16
minibatch_size = 256
total_timesteps = 2048
gamma = 0.95
hidden_size = 16
channels = 4
torch_threads = 1
num_threads = 1

[env]
width = 6
height = 6
vision = 2

[sweep]
learning_rate = { distribution = "log_uniform", low = 1e-4, high = 1e-2 }
gamma = { distribution = "uniform", low = 0.9, high = 0.99 }
minibatch_size = { distribution = "pow2", low = 128, high = 512 }
env.vision = { distribution = "choice", values = [2, 3] }
"""


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_CONFIG)
    return path


def settings_for(tiny_config: Path, out: Path, trials: int, **changes) -> SweepSettings:
    values = dict(env="snake", trials=trials, budget=Budget(steps=2048), out=out,
                  config_file=tiny_config, sampler_seed=0)
    values.update(changes)
    return SweepSettings(**values)


def read_trials(out: Path) -> list[dict[str, str]]:
    with open(out / "trials.csv", newline="") as file:
        return list(csv.DictReader(file))


def finished(study) -> list:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


# ---- the search space ----


def test_a_search_space_parses_every_distribution_and_env_parameters():
    space = parse_search_space(tomllib.loads(TINY_CONFIG)["sweep"] | {
        "update_epochs": {"distribution": "int", "low": 1, "high": 5, "step": 2},
        "total_timesteps": {"distribution": "log_int", "low": 1e6, "high": 4e6},
        "activation": {"distribution": "choice", "values": ["relu", "tanh"]},
    }, "test")
    assert space["learning_rate"].distribution == "log_uniform"
    assert space["minibatch_size"].parameter == "log2(minibatch_size)"
    assert space["env.vision"].values == (2, 3)
    assert space["update_epochs"].step == 2
    assert space["total_timesteps"].low == 1_000_000 and isinstance(space["total_timesteps"].low, int)
    sampled = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = sampled.ask()
        values = {key: dimension.suggest(trial) for key, dimension in space.items()}
        sampled.tell(trial, 0.0)
        assert 1e-4 <= values["learning_rate"] <= 1e-2
        assert values["minibatch_size"] in (128, 256, 512)
        assert values["update_epochs"] in (1, 3, 5)
        assert values["activation"] in ("relu", "tanh")
    fixed = optuna.trial.FixedTrial({"log2(minibatch_size)": 8})
    assert space["minibatch_size"].suggest(fixed) == 256


@pytest.mark.parametrize("table, message", [
    ({"learning_rat": {"distribution": "uniform", "low": 0.1, "high": 0.2}},
     "unknown config key 'learning_rat'; did you mean learning_rate"),
    ({"seed": {"distribution": "int", "low": 0, "high": 5}}, "seed cannot be searched"),
    ({"torch_threads": {"distribution": "int", "low": 1, "high": 2}}, "use --threads"),
    ({"gamma": {"distribution": "normal", "low": 0.9, "high": 0.99}}, "distribution must be one of"),
    ({"gamma": {"distribution": "uniform", "low": 0.9}}, "needs ['high']"),
    ({"gamma": {"distribution": "uniform", "low": 0.9, "high": 0.99, "log": True}}, "not ['log']"),
    ({"gamma": {"distribution": "uniform", "low": 0.99, "high": 0.9}}, "low must be below high"),
    ({"gamma": {"distribution": "uniform", "low": 0.9, "high": "0.99"}}, "high must be a finite float"),
    ({"gamma": {"distribution": "uniform", "low": 0.9, "high": math.inf}}, "finite float"),
    ({"learning_rate": {"distribution": "log_uniform", "low": 0.0, "high": 0.1}}, "needs low > 0"),
    ({"minibatch_size": {"distribution": "pow2", "low": 1000, "high": 4096}}, "powers of two, got low = 1000"),
    ({"minibatch_size": {"distribution": "uniform", "low": 1.0, "high": 9.0}}, "minibatch_size is int"),
    ({"gamma": {"distribution": "int", "low": 0, "high": 1}}, "gamma is float"),
    ({"policy": {"distribution": "choice", "values": ["mlp", 3]}}, "a value must be a finite str"),
    ({"policy": {"distribution": "choice", "values": []}}, "non-empty list"),
    ({"policy": {"distribution": "choice", "values": ["mlp", "mlp"]}}, "values repeat"),
    ({"update_epochs": {"distribution": "int", "low": 1, "high": 4, "step": 2}}, "divide high - low"),
    ({"gamma": 0.99}, "must be a table like"),
    ({"env": 3}, "sweep.env in test must be a table"),
    ({}, "must be a table of key"),
])
def test_bad_search_space_specs_are_rejected_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=None) as error:
        parse_search_space(table, "test")
    assert message in str(error.value)
    key = next(iter(table), None)
    if key not in (None, "env"):
        assert f"sweep.{key}" in str(error.value)


def test_every_key_the_sweep_fixes_is_a_real_setting():
    assert set(NOT_SEARCHABLE) <= set(load_config("snake").to_dict())


def test_bounds_outside_what_the_trainer_or_the_game_accepts_are_rejected():
    base = load_config("snake")
    too_high = parse_search_space({"gamma": {"distribution": "uniform", "low": 0.9, "high": 1.5}}, "t")
    with pytest.raises(ConfigError, match=r"sweep.gamma = 1.5: config key 'gamma' must be in \[0, 1\]"):
        check_space_against(too_high, base, Budget(minutes=1))
    bad_vision = parse_search_space({"env": {"vision": {"distribution": "int", "low": 1, "high": 99}}}, "t")
    with pytest.raises(ConfigError, match="sweep.env.vision = 99: the env refuses it"):
        check_space_against(bad_vision, base, Budget(minutes=1))
    steps = parse_search_space({"total_timesteps": {"distribution": "int", "low": 10, "high": 20}}, "t")
    with pytest.raises(ConfigError, match="--budget-steps fixes"):
        check_space_against(steps, base, Budget(steps=1000))


@pytest.mark.parametrize("config_file", sorted(path.name for path in CONFIG_DIR.glob("*.toml")
                                               if path.name != "default.toml"))
def test_every_env_ships_a_search_space_whose_ends_are_valid_settings(config_file):
    env = config_file.removesuffix(".toml")
    space = load_search_space(env)
    assert "learning_rate" in space and "total_timesteps" in space
    check_space_against(space, load_config(env), Budget(minutes=1))
    # The env's tuned config lies inside its space, so a sweep starts from it (the baseline).
    assert sweeps.enqueue_base(QueueingStudy(), space, load_config(env)) == ""


SWEEP_RECORDS = Path(__file__).resolve().parents[2] / "docs" / "sweep"


@pytest.mark.parametrize("space_file", sorted(path.name for path in
                                              SWEEP_RECORDS.glob("*-space.toml")))
def test_every_space_file_in_docs_sweep_is_valid_and_holds_the_shipped_config(space_file):
    # docs/sweep.md gives these as --config FILE for a re-run of its sweeps; each says the
    # env's shipped config lies inside, so the sweep measures it as its baseline.
    env = space_file.split("-")[0]  # breakout-10min-space.toml: breakout
    path = SWEEP_RECORDS / space_file
    space, shipped = load_search_space(env, path), load_config(env, path)
    check_space_against(space, shipped, Budget(minutes=1))
    assert sweeps.enqueue_base(QueueingStudy(), space, shipped) == ""


def test_a_config_files_sweep_table_replaces_the_envs_and_training_ignores_it(
        tiny_config, tmp_path, monkeypatch):
    assert set(load_search_space("snake", tiny_config)) == {"learning_rate", "gamma",
                                                            "minibatch_size", "env.vision"}
    assert load_config("snake", tiny_config).num_envs == 32  # the [sweep] table is no setting
    without = tmp_path / "plain.toml"
    without.write_text("num_envs = 64\n")
    assert "total_timesteps" in load_search_space("snake", without)  # the env's own space
    monkeypatch.setattr(sweeps, "env_config_file", lambda name: None)  # an env without one
    with pytest.raises(ConfigError, match=r"no \[sweep\] table in .*plain.toml"):
        load_search_space("snake", without)


def test_trial_overrides_round_trip_every_value_type():
    overrides = trial_overrides({"learning_rate": 0.00123456789, "policy": "grid",
                                 "norm_adv": False, "env.vision": 3}, Budget(steps=4096), 1)
    config = load_config("snake", overrides=overrides)
    assert config.learning_rate == 0.00123456789 and config.policy == "grid"
    assert config.norm_adv is False and config.env["vision"] == 3
    assert config.total_timesteps == 4096 and config.torch_threads == config.num_threads == 1
    assert config.log_interval == 1 and config.display == "none"


class QueueingStudy:
    """What enqueue_base needs of a study: it records the queued parameters."""

    def __init__(self):
        self.queued = []

    def enqueue_trial(self, params, user_attrs):
        self.queued.append(params)


def test_the_baseline_is_skipped_with_a_reason_when_the_config_lies_outside_the_space():
    study = QueueingStudy()
    queued = study.queued
    space = parse_search_space(tomllib.loads(TINY_CONFIG)["sweep"], "t")
    inside = load_config("snake", overrides=["--minibatch-size", "256", "--env.vision", "2",
                                              "--gamma", "0.95"])
    assert sweeps.enqueue_base(study, space, inside) == ""
    assert queued[0]["log2(minibatch_size)"] == 8 and queued[0]["env.vision"] == 2
    outside = load_config("snake", overrides=["--minibatch-size", "1024", "--env.vision", "2",
                                               "--gamma", "0.95"])
    assert "minibatch_size = 1024 lies outside" in sweeps.enqueue_base(study, space, outside)
    assert len(queued) == 1


# ---- the budget and the reports ----


def test_the_budget_spent_is_whichever_of_time_and_steps_runs_out_first():
    with pytest.raises(ConfigError, match="--budget-minutes"):
        Budget(minutes=0)
    with pytest.raises(ConfigError, match="--budget-steps"):
        Budget(steps=0)
    budget = Budget(minutes=2)
    assert budget.spent(60, 100, 1000) == pytest.approx(0.5)
    assert budget.spent(60, 800, 1000) == pytest.approx(0.8)  # the trial's own steps bind
    assert budget.spent(500, 100, 1000) == 1.0
    assert Budget(steps=1000).spent(1e9, 250, 1000) == pytest.approx(0.25)


class FakeTrial:
    def __init__(self, prune_at_step: int | None = None):
        self.reports: list[tuple[float, int]] = []
        self.prune_at_step = prune_at_step

    def report(self, value, step):
        self.reports.append((value, step))

    def should_prune(self):
        return self.prune_at_step is not None and self.reports[-1][1] >= self.prune_at_step


def test_the_reporter_reports_the_score_so_far_once_per_percent_and_stops_at_the_budget():
    trial = FakeTrial()
    reporter = ScoreReporter(trial, Budget(minutes=1), total_timesteps=10**9, pruning=True)
    assert reporter({"global_step": 100, "wall_time": 0.3, "score": math.nan}) is False
    assert trial.reports == []  # no episode ended yet: nothing to report
    assert reporter({"global_step": 200, "wall_time": 6.0, "score": 2.0}) is False
    assert reporter({"global_step": 300, "wall_time": 6.1, "score": 4.0}) is False  # same percent
    assert reporter({"global_step": 400, "wall_time": 30.0, "score": 6.0}) is False
    assert reporter({"global_step": 500, "wall_time": 61.0, "score": 8.0}) is True
    # Every percent crossed gets the score of the update that crossed it (the pruner compares
    # trials at equal percents): the final score so far, over the last 5% of the steps.
    assert [step for _, step in trial.reports] == list(range(0, 101))
    scores = dict((step, value) for value, step in trial.reports)
    assert scores[0] == scores[10] == 2.0 and scores[11] == scores[50] == 6.0
    assert scores[51] == scores[100] == 8.0 == reporter.score()


def test_the_second_run_of_a_two_seed_trial_reports_the_second_half_and_the_mean():
    trial = FakeTrial()
    second = ScoreReporter(trial, Budget(steps=1000), 1000, pruning=False, part=1, parts=2,
                           earlier_scores=(10.0,))
    second({"global_step": 500, "wall_time": 1.0, "score": 20.0})
    # (1 + 0.5) / 2: up to 75%; 50% was the first run's last report
    assert [step for _, step in trial.reports] == list(range(51, 76))
    assert {value for value, _ in trial.reports} == {15.0}  # the mean of 10 and 20 so far


def test_a_wall_time_budget_ends_the_run_before_an_update_that_would_overrun_it():
    reporter = ScoreReporter(FakeTrial(), Budget(minutes=1), total_timesteps=10**9, pruning=False)
    assert reporter({"global_step": 100, "wall_time": 10.0, "score": 1.0}) is False
    assert reporter({"global_step": 200, "wall_time": 35.0, "score": 1.0}) is False  # 35 + 25 = 60
    assert reporter({"global_step": 300, "wall_time": 40.0, "score": 1.0}) is False  # 40 + 5
    assert reporter({"global_step": 400, "wall_time": 50.0, "score": 1.0}) is False  # 50 + 10
    assert reporter({"global_step": 500, "wall_time": 56.0, "score": 1.0}) is True  # 56 + 6 > 60
    steps_only = ScoreReporter(FakeTrial(), Budget(steps=1000), 1000, pruning=False)
    assert steps_only({"global_step": 100, "wall_time": 1e6, "score": 1.0}) is False


def test_the_reporter_prunes_when_the_pruner_says_so():
    reporter = ScoreReporter(FakeTrial(prune_at_step=30), Budget(steps=1000), 1000, pruning=True)
    reporter({"global_step": 100, "wall_time": 1.0, "score": 1.0})
    with pytest.raises(optuna.TrialPruned, match="at 30% of the budget"):
        reporter({"global_step": 300, "wall_time": 2.0, "score": 1.0})
    never = ScoreReporter(FakeTrial(prune_at_step=0), Budget(steps=1000), 1000, pruning=False)
    assert never({"global_step": 300, "wall_time": 2.0, "score": 1.0}) is False


def test_train_ends_after_the_update_whose_log_returns_true(tiny_config, tmp_path):
    config = load_config("snake", tiny_config, ["--checkpoint-interval", "0"])
    seen = []
    summary = ppo.train(config, tmp_path / "run", quiet=True,
                        on_log=lambda row: seen.append(row["update"]) or row["update"] == 2)
    assert seen == [1, 2] and summary["stopped_at_update"] == 2
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").exists()
    assert not (tmp_path / "run" / "checkpoints" / "final.pt").exists()


# ---- studies ----


def test_a_tiny_sweep_completes_writes_the_best_config_and_resumes(tiny_config, tmp_path):
    out = tmp_path / "sweep"
    summary = sweeps.sweep(settings_for(tiny_config, out, trials=3), log=lambda line: None)
    assert sum(summary["trials"].values()) == 3 and set(summary["trials"]) <= {"complete", "pruned"}
    rows = read_trials(out)
    assert [row["trial"] for row in rows] == ["0", "1", "2"]
    # Trial 0 is the config's own values: the baseline the drawn settings are measured against.
    base = load_config("snake", tiny_config)
    assert rows[0]["baseline"] == "yes" and not any(row["baseline"] for row in rows[1:])
    assert float(rows[0]["learning_rate"]) == base.learning_rate
    assert int(rows[0]["minibatch_size"]) == base.minibatch_size == 256
    best = load_config("snake", out / "best.toml")  # ready for shoal train --config
    best_trial = summary["best_config"]
    assert best.learning_rate == best_trial["learning_rate"]
    assert best.minibatch_size == best_trial["minibatch_size"]
    assert best.env["vision"] == best_trial["env.vision"]
    assert best.total_timesteps == 2048 and best.num_envs == 32  # the layers it trained over
    assert "final score" in (out / "best.toml").read_text().splitlines()[1]
    for plot in ("history.png", "importance.png", "intermediate.png"):
        assert (out / plot).stat().st_size > 1000, plot
    assert sorted(path.name for path in (out / "trials").iterdir()) == [
        "trial-0000", "trial-0001", "trial-0002"]

    sweeps.sweep(settings_for(tiny_config, out, trials=5), log=lambda line: None)  # resume
    resumed = read_trials(out)
    assert len(resumed) == 5 and resumed[:3] == rows
    sweeps.sweep(settings_for(tiny_config, out, trials=5), log=lambda line: None)  # nothing left
    assert len(read_trials(out)) == 5


def test_a_trial_of_two_seeds_trains_both_and_scores_their_mean(tiny_config, tmp_path):
    from shoal.trainer.reference import final_score, read_curve

    out = tmp_path / "sweep"
    summary = sweeps.sweep(settings_for(tiny_config, out, trials=1, seeds=2), log=lambda line: None)
    runs = [out / "trials" / "trial-0000" / f"seed{seed}" for seed in (0, 1)]
    finals = [final_score(read_curve(run / "metrics.csv")) for run in runs]
    assert finals[0] != finals[1]  # two seeds, two runs
    assert summary["best_score"] == pytest.approx(sum(finals) / 2)
    study = sweeps.load_study(settings_for(tiny_config, out, trials=1, seeds=2))
    assert study.trials[0].user_attrs["seed_scores"] == pytest.approx(finals)
    with pytest.raises(ConfigError, match="seeds_per_trial: the study's 2, this worker's 1"):
        sweeps.sweep(settings_for(tiny_config, out, trials=2), log=lambda line: None)


def test_a_study_refuses_a_worker_with_another_budget_or_space(tiny_config, tmp_path):
    out = tmp_path / "sweep"
    sweeps.sweep(settings_for(tiny_config, out, trials=1), log=lambda line: None)
    with pytest.raises(ConfigError, match="budget_steps: the study's 2048, this worker's 4096.*--study"):
        sweeps.sweep(settings_for(tiny_config, out, trials=2, budget=Budget(steps=4096)),
                     log=lambda line: None)
    other_space = tmp_path / "other.toml"
    other_space.write_text(TINY_CONFIG.replace("high = 0.99 }", "high = 0.995 }"))
    with pytest.raises(ConfigError, match="search_space.gamma.high: the study's 0.99, this worker's 0.995"):
        sweeps.sweep(settings_for(other_space, out, trials=2), log=lambda line: None)
    other_base = tmp_path / "wider.toml"  # the same space over another network
    other_base.write_text(TINY_CONFIG.replace("hidden_size = 16", "hidden_size = 32"))
    with pytest.raises(ConfigError, match="base_config.hidden_size: the study's 16, this worker's 32"):
        sweeps.sweep(settings_for(other_base, out, trials=2), log=lambda line: None)


def test_an_interrupted_trial_fails_and_the_same_command_finishes_the_study(
        tiny_config, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    real_train = ppo.train

    def interrupted(config, run_dir, **kwargs):
        def stop(row):
            raise KeyboardInterrupt
        return real_train(config, run_dir, **{**kwargs, "on_log": stop})

    monkeypatch.setattr(ppo, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweeps.sweep(settings_for(tiny_config, out, trials=2), log=lambda line: None)
    monkeypatch.setattr(ppo, "train", real_train)
    sweeps.sweep(settings_for(tiny_config, out, trials=2), log=lambda line: None)
    rows = read_trials(out)
    assert [row["state"] for row in rows].count("fail") == 1
    assert [row["state"] for row in rows].count("complete") == 2
    # The interrupted trial was the baseline: it is queued again, and runs.
    assert rows[0]["baseline"] == "yes" and rows[0]["state"] == "fail"
    assert [row["state"] for row in rows if row["baseline"]] == ["fail", "complete"]


def test_a_trial_that_fails_while_training_is_recorded_and_the_study_goes_on(
        tiny_config, tmp_path, monkeypatch):
    real_train = ppo.train
    calls = []

    def diverging_once(config, run_dir, **kwargs):
        calls.append(run_dir)
        if len(calls) == 1:
            report = kwargs["on_log"]

            def diverge(row):  # the first update is reported, then the run breaks down
                report(row)
                raise RuntimeError("probabilities contain nan")
            return real_train(config, run_dir, **{**kwargs, "on_log": diverge})
        return real_train(config, run_dir, **kwargs)

    monkeypatch.setattr(ppo, "train", diverging_once)
    out = tmp_path / "sweep"
    sweeps.sweep(settings_for(tiny_config, out, trials=2), log=lambda line: None)
    rows = read_trials(out)
    assert rows[0]["state"] == "fail" and "RuntimeError: probabilities contain nan" in rows[0]["note"]
    assert rows[0]["steps"] != ""  # what it ran before it failed
    assert [row["state"] for row in rows[1:]] == ["complete", "complete"]


def test_a_wall_time_budget_cuts_a_trial_before_an_update_that_would_overrun_it(tiny_config, tmp_path):
    long_run = tmp_path / "long.toml"
    long_run.write_text(TINY_CONFIG.replace("total_timesteps = 2048", "total_timesteps = 50_000_000"))
    out = tmp_path / "sweep"
    sweeps.sweep(settings_for(long_run, out, trials=1, budget=Budget(minutes=0.03), pruner="none"),
                 log=lambda line: None)
    row = read_trials(out)[0]
    assert row["note"] == "cut by the budget"
    metrics = list(csv.DictReader(open(out / "trials" / "trial-0000" / "metrics.csv")))
    assert int(metrics[-1]["global_step"]) == int(row["steps"]) < 50_000_000
    header = (out / "best.toml").read_text()
    assert f"add --total-timesteps {row['steps']}" in header


def test_a_trial_whose_worker_died_is_noticed_by_its_heartbeat_and_run_again(tiny_config, tmp_path):
    out = tmp_path / "sweep"
    settings = settings_for(tiny_config, out, trials=1, heartbeat_seconds=1, grace_seconds=1)
    sweeps.sweep(settings, log=lambda line: None)
    study = sweeps.load_study(settings)
    storage = study._storage
    orphan = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
    storage.record_heartbeat(orphan._trial_id)  # a worker that started a trial, then died
    time.sleep(2.5)
    sweeps.sweep(settings_for(tiny_config, out, trials=2, heartbeat_seconds=1, grace_seconds=1),
                 log=lambda line: None)
    study = sweeps.load_study(settings)
    assert study.trials[orphan.number].state == optuna.trial.TrialState.FAIL
    with warnings.catch_warnings():  # retried_trial_number is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retries = [trial for trial in study.trials if optuna.storages
                   .RetryHeartbeatStaleTrialCallback.retried_trial_number(trial) == orphan.number]
    assert len(retries) == 1 and retries[0].state == optuna.trial.TrialState.COMPLETE
    assert retries[0].params["learning_rate"] == orphan.params["learning_rate"]


def test_two_worker_processes_share_one_sqlite_study(tiny_config, tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "shoal.trainer.cli", "sweep", "snake", "--trials", "8",
               "--budget-steps", "2048", "--config", str(tiny_config), "--out", str(out),
               "--threads", "1"]
    environment = {**os.environ, "PYTHONWARNINGS": "error::UserWarning:optuna"}
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=environment, cwd=tmp_path) for _ in range(2)]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output
        assert "database is locked" not in output
    study = optuna.load_study(study_name="snake", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert 8 <= len(finished(study)) <= 9  # a worker stops once it sees 8; one may be running
    assert all(trial.state != optuna.trial.TrialState.FAIL for trial in trials)
    assert len({trial.number for trial in trials}) == len(trials)
    assert len({trial.user_attrs["worker"] for trial in trials}) == 2  # both workers ran trials
    assert sum(bool(trial.user_attrs.get("baseline")) for trial in trials) == 1
    assert study.user_attrs["identity"]["budget_steps"] == 2048
    assert len(read_trials(out)) == len(trials)


#: A worker that opens the study's storage as shoal sweep does, waits for the start signal and
#: claims trials as fast as it can, printing each one's number.
CLAIMING_WORKER = """
import sys, time, warnings
from pathlib import Path
import optuna
from shoal.trainer.sweep import Budget, SweepSettings, open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore")
out, claims = Path(sys.argv[1]), int(sys.argv[2])
settings = SweepSettings(env="snake", trials=1, budget=Budget(steps=1), out=out)
study = optuna.load_study(study_name="race", storage=open_storage(settings, optuna))
(out / f"ready-{sys.argv[3]}").touch()
while not (out / "go").exists():
    time.sleep(0.001)
print(*(study.ask().number for _ in range(claims)))
"""


def test_two_workers_never_claim_the_same_waiting_trial(tmp_path):
    # Waiting trials (a queued baseline, a heartbeat re-run) are claimed by reading the trial
    # and then marking it running; on SQLite that pair must be atomic across processes.
    settings = SweepSettings(env="snake", trials=1, budget=Budget(steps=1), out=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(study_name="race", storage=sweeps.open_storage(settings, optuna))
    waiting = 150
    for number in range(waiting):
        study.enqueue_trial({"x": number})
    workers = [subprocess.Popen([sys.executable, "-c", CLAIMING_WORKER, str(tmp_path), "100",
                                 str(worker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
               for worker in range(2)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()  # both start claiming at once
    claimed = []
    for worker in workers:
        output, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors
        claimed += [int(number) for number in output.split()]
    assert len(claimed) == 200
    assert len(set(claimed)) == 200, "a trial was claimed by both workers"
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    assert sorted(trial.number for trial in running) == sorted(claimed)


# ---- the command line ----


def test_cli_sweep_prints_the_table_and_where_the_best_config_is(tiny_config, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "snake", "--trials", "2", "--budget-steps", "2048", "--config",
                 str(tiny_config), "--out", str(out), "--sampler-seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "0 (baseline)" in printed and "best: trial" in printed
    assert str(out / "best.toml") in printed


@pytest.mark.parametrize("arguments, message", [
    (["--trials", "2", "--budget-minutes", "0"], "--budget-minutes: must be a finite number > 0"),
    (["--trials", "-1"], "--trials: must be an integer >= 0"),
    (["--trials", "2", "--budget-steps", "1.5"], "--budget-steps: must be an integer >= 1"),
])
def test_cli_sweep_rejects_bad_arguments(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "snake", *arguments])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--storage", "not-a-url"], "--storage not-a-url: "),
    (["--storage", "nosuchdb://host/db"], "--storage nosuchdb://host/db: "),
    (["--sampler-seed", "-1"], "--sampler-seed must be in [0, 2**32), got -1"),
    (["--out", "{file}"], "cannot make it a folder"),
    (["--config", "{folder}"], "cannot be read"),
])
def test_cli_sweep_bad_storage_seed_out_or_config_print_one_line_and_exit_2(
        arguments, message, tiny_config, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    arguments = [argument.format(file=tmp_path / "a_file", folder=tmp_path) for argument in arguments]
    defaults = {"--out": str(tmp_path / "out"), "--config": str(tiny_config)}
    for option, value in defaults.items():
        if option not in arguments:
            arguments += [option, value]
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "snake", "--trials", "1", "--budget-steps", "2048", *arguments])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and message in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1


def test_cli_sweep_with_a_bad_space_prints_one_line_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\ngamma = { distribution = "uniform", low = 0.99, high = 0.9 }\n')
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "snake", "--trials", "1", "--config", str(bad), "--out", str(tmp_path / "o")])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and "sweep.gamma" in error and "low must be below high" in error
    assert not (tmp_path / "o").exists()  # nothing made before the space is checked
