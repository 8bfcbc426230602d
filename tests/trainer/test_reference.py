"""Reference results: the final score, the band, the comparison of a run with a reference,
`shoal reproduce` end to end on a tiny reference, and the docs page built from references."""

from __future__ import annotations

import csv
import subprocess
import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from shoal.trainer import reference as references
from shoal.trainer.cli import main
from shoal.trainer.config import ConfigError, load_config
from shoal.trainer.reference import (
    Curve, compare, describe, final_score, load_reference, prediction_factor, score_band,
    score_by_wall_time,
    write_reference,
)

ROOT = Path(__file__).resolve().parents[2]
# A 6 x 6 Snake, 16 rows of 8 steps: a run of 256 steps trains in well under a second.
TINY_SNAKE = ["--env.width", "6", "--env.height", "6", "--env.vision", "2", "--num-envs", "16",
              "--horizon", "8", "--minibatch-size", "64", "--total-timesteps", "256",
              "--torch-threads", "1", "--num-threads", "1", "--checkpoint-interval", "0"]
MACHINE = {"cpu": "Test CPU", "logical_cpus": 2, "device": "cpu", "torch": "2.x"}


def write_metrics(path: Path, steps, scores, seconds_per_step: float = 1e-3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["update", "global_step", "wall_time", "sps", "episodes", "score"])
        for update, (step, score) in enumerate(zip(steps, scores), 1):
            writer.writerow([update, step, step * seconds_per_step, 1 / seconds_per_step, 5,
                             repr(float(score))])
    return path


def fake_reference(root: Path, tmp: Path, offsets=(-1.0, 0.0, 1.0), steps=None):
    """A snake reference of len(offsets) seeds whose score is step / 100 + offset."""
    steps = np.arange(100, 2001, 100) if steps is None else np.asarray(steps)
    config = load_config("snake", overrides=TINY_SNAKE).to_dict()
    runs = {}
    for seed, offset in enumerate(offsets):
        metrics = write_metrics(tmp / f"run{seed}" / "metrics.csv", steps, steps / 100 + offset)
        runs[seed] = (metrics, {"total_wall_time": 2.5 + seed, "mean_sps": 1000.0 + seed})
    return write_reference(root, config, runs, MACHINE)


def curve(steps, scores, seconds_per_step: float = 1e-3) -> Curve:
    steps = np.asarray(steps, dtype=float)
    return Curve(steps, steps * seconds_per_step, np.asarray(scores, dtype=float))


# ---- the definitions ----


def test_final_score_is_the_mean_over_the_last_5_percent_of_the_steps():
    steps = np.arange(100, 2001, 100)
    run = curve(steps, steps / 100)
    assert final_score(run) == pytest.approx((19 + 20) / 2)  # steps 1900 and 2000
    assert final_score(run, end_step=1000) == pytest.approx(10)  # steps >= 950: 1000 alone
    with_gap = curve(steps, np.where(steps == 2000, math.nan, steps / 100))
    assert final_score(with_gap) == pytest.approx(19)  # rows without episodes are skipped
    assert final_score(curve([100, 1000], [1.0, math.nan])) == 1.0  # empty window: last score
    assert math.isnan(final_score(curve([100, 200], [math.nan, math.nan])))


def test_score_by_wall_time_cuts_the_run_at_that_time():
    steps = np.arange(100, 2001, 100)
    run = curve(steps, steps / 100, seconds_per_step=0.01)  # step 1000 at 10 s
    assert score_by_wall_time(run, 10.0) == pytest.approx(final_score(run, end_step=1000))
    assert score_by_wall_time(run, 10.5) == pytest.approx(10)  # step 1000 is the last by then
    assert score_by_wall_time(run, 1e6) == pytest.approx(final_score(run))  # ended sooner
    assert math.isnan(score_by_wall_time(run, 0.5))  # nothing logged by then


def test_time_to_score_is_when_the_final_score_so_far_reaches_the_target_for_good():
    steps = np.arange(100, 2001, 100)
    run = curve(steps, steps / 100, seconds_per_step=0.01)  # score 10 at step 1000, 10 s
    assert references.time_to_score(run, 10.0) == pytest.approx(10.0)
    assert references.time_to_score(run, 9.5) == pytest.approx(10.0)  # 9 at 9 s is not enough
    assert references.time_to_score(run, 0.0) == pytest.approx(1.0)
    assert references.time_to_score(run, 21.0) == math.inf
    scores = steps / 100
    scores[0] = 30.0  # a lucky first row, then a dip: touching the target is not holding it
    scores[1] = math.nan  # no episode ended in this row
    lucky = curve(steps, scores, seconds_per_step=0.01)
    assert references.time_to_score(lucky, 10.0) == pytest.approx(10.0)
    scores[-1] = 0.0  # a run that ends below the target never reached it for good
    assert references.time_to_score(curve(steps, scores), 10.0) == math.inf


def test_prediction_factor_is_students_t_times_sqrt_one_plus_one_over_n():
    assert prediction_factor(3) == pytest.approx(4.303 * math.sqrt(4 / 3))
    assert prediction_factor(5) == pytest.approx(2.776 * math.sqrt(6 / 5))
    t_975_20 = 2.086  # beyond the table, the series
    assert prediction_factor(21) / math.sqrt(1 + 1 / 21) == pytest.approx(t_975_20, rel=2e-3)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        prediction_factor(1)


def test_band_interpolates_every_seed_onto_the_union_of_their_steps():
    seeds = [
        curve([0, 10, 20], [0, 10, 20]),              # 5 and 15 interpolated: 5, 15
        curve([0, 5, 10, 15, 20], [2, 7, 12, 17, 22], seconds_per_step=2e-3),
        curve([0, 10, 20], [4, 14, 24]),              # 9, 19
    ]
    band = score_band(seeds)
    k = prediction_factor(3)
    np.testing.assert_array_equal(band.steps, [0, 5, 10, 15, 20])
    np.testing.assert_allclose(band.mean, [2, 7, 12, 17, 22])
    np.testing.assert_allclose(band.std, [2, 2, 2, 2, 2])
    np.testing.assert_allclose(band.low, band.mean - 2 * k)
    np.testing.assert_allclose(band.high, band.mean + 2 * k)
    np.testing.assert_allclose(band.wall_times, np.array([0, 5, 10, 15, 20]) * 4e-3 / 3)


def test_band_is_nan_where_fewer_than_two_seeds_logged_and_never_zero_wide():
    band = score_band([curve([10, 20], [100, 100]), curve([10, 20, 30], [100, 100, 100])])
    assert math.isnan(band.low[2]) and math.isnan(band.high[2])  # only one seed reached 30
    np.testing.assert_allclose(band.high[:2] - band.low[:2], 2 * 0.02 * 100)  # equal seeds


# ---- writing and loading a reference ----


def test_write_reference_writes_config_metrics_and_the_right_summary(tmp_path):
    root = tmp_path / "ref"
    (root / "snake" / "seed9").mkdir(parents=True)  # an older reference is replaced whole
    summary = fake_reference(root, tmp_path)

    finals = [19.5 - 1, 19.5, 19.5 + 1]
    assert summary["env_id"] == "shoal/Snake-v0" and summary["seeds"] == [0, 1, 2]
    assert summary["final_score"]["mean"] == pytest.approx(19.5)
    assert summary["final_score"]["std"] == pytest.approx(np.std(finals, ddof=1))
    assert summary["steps"] == 2000
    assert summary["wall_time_s_mean"] == pytest.approx(2.0)  # metrics' last wall_time
    assert [run["final_score"] for run in summary["runs"]] == pytest.approx(finals)
    assert [run["wall_time_s"] for run in summary["runs"]] == [2.5, 3.5, 4.5]
    assert summary["machine"] == MACHINE
    assert json.loads((root / "snake" / "summary.json").read_text()) == summary

    assert sorted(path.name for path in (root / "snake").iterdir()) == [
        "config.toml", "seed0", "seed1", "seed2", "summary.json"]
    config = load_config("snake", root / "snake" / "config.toml")
    assert config.env["width"] == 6 and config.total_timesteps == 256

    reference = load_reference("Snake", root)
    assert reference.name == "snake" and reference.seeds == [0, 1, 2]
    assert reference.last_step == 2000
    np.testing.assert_allclose(reference.final_scores(), finals)
    assert references.available_references(root) == ["snake"]


def test_a_missing_reference_is_a_clear_error_naming_the_envs_that_have_one(tmp_path):
    with pytest.raises(ConfigError, match=r"no reference results for shoal/Breakout-v0 .*"
                                          r"envs with a reference: none yet"):
        load_reference("breakout", tmp_path)
    fake_reference(tmp_path, tmp_path / "runs")
    with pytest.raises(ConfigError, match="envs with a reference: snake "):
        load_reference("breakout", tmp_path)
    with pytest.raises(ConfigError, match="unknown env 'pong'"):
        load_reference("pong", tmp_path)


def test_cli_reproduce_without_a_reference_prints_one_line_and_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "breakout", "--reference-root", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "no reference results for shoal/Breakout-v0" in err and err.count("\n") == 1


# ---- comparing a run with a reference ----


def test_a_run_on_the_reference_mean_is_inside_and_one_far_below_is_outside(tmp_path):
    fake_reference(tmp_path, tmp_path / "runs")
    reference = load_reference("snake", tmp_path)
    steps = np.arange(100, 2001, 100)

    good = compare(reference, curve(steps, steps / 100 + 0.5))
    assert good.inside and good.end_step == 2000
    assert good.run_final == pytest.approx(20.0)
    assert good.reference_final_mean == pytest.approx(19.5)
    assert good.low == pytest.approx(19.5 - prediction_factor(3) * 1.0)
    assert good.points_inside == good.points == 20
    assert good.identical_to_seed is None
    assert "INSIDE the reference band" in describe(good, reference)

    bad = compare(reference, curve(steps, np.zeros(len(steps))))
    assert not bad.inside and bad.points_inside < bad.points
    assert "OUTSIDE the reference band (below it)" in describe(bad, reference)

    silent = compare(reference, curve(steps, np.full(len(steps), math.nan)))
    assert not silent.inside and "no episode ended" in describe(silent, reference)


def test_a_shorter_run_is_compared_on_the_common_prefix_and_says_so(tmp_path):
    fake_reference(tmp_path, tmp_path / "runs")
    reference = load_reference("snake", tmp_path)
    steps = np.arange(100, 1001, 100)
    result = compare(reference, curve(steps, steps / 100))
    assert (result.end_step, result.run_steps, result.reference_steps) == (1000, 1000, 2000)
    assert result.reference_final_mean == pytest.approx(10.0)  # the reference at step 1000
    assert result.inside and result.points == 10
    assert "compared on the first 1,000 steps only" in describe(result, reference)

    longer = np.arange(100, 4001, 100)
    result = compare(reference, curve(longer, longer / 100))
    assert result.end_step == 2000 and result.run_final == pytest.approx(19.5)


def test_a_run_of_a_reference_seed_is_checked_for_identical_scores(tmp_path):
    fake_reference(tmp_path, tmp_path / "runs")
    reference = load_reference("snake", tmp_path)
    same = reference.runs[2]
    assert compare(reference, same, seed=2).identical_to_seed is True
    assert "seed 2 is a reference seed: its scores are identical" in describe(
        compare(reference, same, 2), reference)
    shifted = Curve(same.steps, same.wall_times, same.scores + 1e-6)
    assert compare(reference, shifted, seed=2).identical_to_seed is False


# ---- end to end: make a tiny reference, reproduce it ----


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reproduce_a_tiny_reference_end_to_end(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    root = tmp_path / "ref"
    run_reference = load_script("run_reference")
    assert run_reference.main(["snake", "--seeds", "0", "1", "--root", str(root),
                               "--runs-dir", str(tmp_path / "runs"), *TINY_SNAKE]) == 0
    summary = json.loads((root / "snake" / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["steps"] == 256
    assert summary["machine"]["torch"] and summary["machine"]["logical_cpus"] >= 1
    capsys.readouterr()

    # Seed 0 again, on the same machine: the same scores, inside the band.
    run_dir = tmp_path / "again"
    assert main(["reproduce", "snake", "--reference-root", str(root), "--run-dir",
                 str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "INSIDE the reference band" in out
    assert "identical to the reference run's at every logged step" in out
    assert load_config("snake", run_dir / "config.toml").env["width"] == 6
    if importlib.util.find_spec("matplotlib") is not None:
        assert (run_dir / "reproduce.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A run trained before, with the reference's settings: compared as it is, not trained again.
    assert main(["reproduce", "snake", "--reference-root", str(root), "--from-run",
                 str(run_dir)]) == 0
    assert "identical to the reference run's at every logged step" in capsys.readouterr().out
    # How it ran may differ (threads), what it learns from may not.
    reference_config = str(root / "snake" / "config.toml")
    for name, setting in (("threads", ["--torch-threads", "2"]),
                          ("lr", ["--learning-rate", "1e-3"])):
        assert main(["train", "snake", "--config", reference_config, *setting, "--run-dir",
                     str(tmp_path / name)]) == 0
    capsys.readouterr()
    assert main(["reproduce", "snake", "--reference-root", str(root), "--from-run",
                 str(tmp_path / "threads")]) in (0, 1)
    assert "final score" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "snake", "--reference-root", str(root), "--from-run",
              str(tmp_path / "lr")])
    assert exit_info.value.code == 2
    assert "['learning_rate'] differ" in capsys.readouterr().err
    # A run that stopped before its end is no result to compare.
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_dir, unfinished)
    config_text = (unfinished / "config.toml").read_text()
    (unfinished / "config.toml").write_text(
        config_text.replace("total_timesteps = 256", "total_timesteps = 512"))
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "snake", "--reference-root", str(root), "--from-run",
              str(unfinished)])
    assert exit_info.value.code == 2
    assert "has not finished (256 of 512 steps)" in capsys.readouterr().err

    # Without matplotlib it still trains and compares, and says what the plot needs.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["reproduce", "snake", "--reference-root", str(root), "--seed", "7",
                 "--total-timesteps", "128", "--run-dir", str(tmp_path / "short")]) == 0
    out = capsys.readouterr().out
    assert "compared on the first 128 steps only" in out
    assert "pip install 'shoal[plot]'" in out
    assert not (tmp_path / "short" / "reproduce.png").exists()


def test_reproduce_exits_1_when_the_run_lies_outside_the_band(tmp_path, capsys):
    pytest.importorskip("torch")
    # A reference of the tiny config that claims a score no 256-step run reaches.
    fake_reference(tmp_path / "ref", tmp_path / "runs", offsets=(100.0, 101.0, 102.0),
                   steps=[128, 256])
    assert main(["reproduce", "snake", "--reference-root", str(tmp_path / "ref"),
                 "--run-dir", str(tmp_path / "run")]) == 1
    assert "OUTSIDE the reference band (below it)" in capsys.readouterr().out


# ---- the docs page ----


def test_docs_page_and_plots_are_made_from_the_references(tmp_path, capsys):
    make_docs = load_script("make_reference_docs")
    docs = tmp_path / "docs"
    docs.mkdir()
    fake_reference(tmp_path / "ref", tmp_path / "runs")
    args = ["--reference-root", str(tmp_path / "ref"), "--docs", str(docs)]
    assert make_docs.main([*args, "--check"]) == 1  # nothing written yet
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the plots need matplotlib")
    assert make_docs.main(args) == 0
    page = (docs / "reference.md").read_text()
    # Runs of 2 s: within 15 minutes they are whole, so both scores agree.
    assert ("| `shoal/Snake-v0` | 3 | 2,000 | 19.50 +- 1.00 | 19.50 +- 1.00 | 2 s | 1,001 | "
            "Test CPU, 2 CPUs") in page
    assert "![score of shoal/Snake-v0 against steps and wall time](reference/snake.png)" in page
    assert "No reference yet: `breakout`, `snake_arena`, `2048`, `maze`, `drone`, `mmo`." in page
    assert (docs / "reference" / "snake.png").read_bytes()[:4] == b"\x89PNG"
    assert make_docs.main([*args, "--check"]) == 0
    (docs / "reference" / "snake.png").unlink()
    assert make_docs.main([*args, "--check"]) == 1


def test_time_to_score_script_compares_two_sets_of_references(tmp_path, capsys):
    compare_times = load_script("time_to_score")
    fake_reference(tmp_path / "before", tmp_path / "runs-before")  # final score 19.5
    fake_reference(tmp_path / "after", tmp_path / "runs-after", offsets=(3.0, 4.0, 5.0))
    compare_times.main(["--before", str(tmp_path / "before"), "--after", str(tmp_path / "after")])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| snake"))
    # Target 0.9 x 19.5 = 17.55: held from steps 1900/1800/1700 before (1.9/1.8/1.7 s, median
    # 1.8 s), from 1500/1400/1300 after (median 1.4 s): 1.29x.
    assert row.startswith("| snake | 17.55 | 2 / 2 / 2 | 2 |")
    assert "| 2 / 1 / 1 | 1 |" in row and "| 1.29x |" in row
    assert row.endswith("| 19.5 -> 23.5 |")
    with pytest.raises(SystemExit) as exit_:
        compare_times.main(["--before", str(tmp_path / "nothing-here")])
    assert exit_.value.code == 2 and "--before" in capsys.readouterr().err


def test_the_shipped_docs_page_matches_the_shipped_references():
    assert load_script("make_reference_docs").main(["--check"]) == 0


def test_reading_and_comparing_references_needs_neither_torch_nor_matplotlib():
    code = ("import sys; import shoal.trainer.reference, shoal.trainer.cli; "
            "assert not {'torch', 'matplotlib'} & set(sys.modules), 'imported eagerly'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_reproduce_names_the_reference_host_beside_this_one():
    from shoal.trainer.bench import cpu_capability, cpu_model
    from shoal.trainer.reference import hosts_line

    same = hosts_line({"machine": {"cpu": cpu_model(), "cpu_capability": cpu_capability(),
                                   "logical_cpus": 2}})
    assert f"this one {cpu_model()}, {cpu_capability()}" in same and "another CPU kind" not in same
    other = hosts_line({"machine": {"cpu": "AMD EPYC", "cpu_capability": "ZVECTOR", "logical_cpus": 2}})
    assert "the reference's AMD EPYC, ZVECTOR, 2 CPUs" in other and "another CPU kind" in other
    assert "capability not recorded" in hosts_line({"machine": {"cpu": "AMD EPYC"}})


def test_a_new_reference_records_the_cpu_capability():
    torch = pytest.importorskip("torch")
    from shoal.trainer.bench import cpu_capability
    from shoal.trainer.reference import machine_info

    info = machine_info({"device": "cpu", "torch_threads": 1, "num_threads": 1})
    assert info["cpu_capability"] == cpu_capability() == torch.backends.cpu.get_cpu_capability()


def test_a_reference_from_finished_runs_records_steps_to_each_milestone(tmp_path):
    torch = pytest.importorskip("torch")  # noqa: F841
    from shoal.trainer.ppo import train
    from shoal.trainer.reference import reference_from_runs, steps_to_score

    overrides = [*TINY_SNAKE, "--total-timesteps", "4096", "--display", "none"]
    for seed in (0, 1):
        train(load_config("snake", overrides=[*overrides, "--seed", str(seed)]),
              tmp_path / "runs" / f"seed{seed}", quiet=True)
    summary = reference_from_runs("snake", [0, 1], tmp_path / "ref", tmp_path / "runs",
                                  milestones=[0.5, 1e9], overrides=overrides)
    for run in summary["runs"]:
        curve = references.read_curve(tmp_path / "runs" / f"seed{run['seed']}" / "metrics.csv")
        assert run["steps_to_score"] == {"0.5": steps_to_score(curve, 0.5), "1e+09": None}
    assert (tmp_path / "ref" / "snake" / "seed1" / "metrics.csv").exists()
    # Runs of another config are refused: the reference must be of the settings it claims.
    with pytest.raises(ConfigError, match="was not trained with snake's config"):
        reference_from_runs("snake", [0, 1], tmp_path / "ref2", tmp_path / "runs")


def test_steps_to_score_is_the_first_step_the_running_final_score_reaches():
    from shoal.trainer.reference import Curve, steps_to_score

    steps = np.arange(1, 101) * 1000.0
    scores = np.where(steps < 50_000, 1.0, 10.0)
    curve = Curve(steps, steps / 1000, scores)
    # The running final score averages the last 5% of the steps so far: at 52,000 that is
    # the rows from 49,400 on, all 10 (at 50,000 it still held 48,000 and 49,000).
    assert steps_to_score(curve, 10.0) == 52_000
    assert steps_to_score(curve, 1.0) == 1000
    assert steps_to_score(curve, 11.0) == math.inf
