"""No run ever writes over another: an occupied --run-dir is refused unless --overwrite,
default run dirs are unique even for runs started in the same second, and a run dir is
claimed exclusively."""

from __future__ import annotations

import multiprocessing
import os

import pytest

torch = pytest.importorskip("torch")

from shoal.trainer import ppo  # noqa: E402
from shoal.trainer.cli import main  # noqa: E402
from shoal.trainer.run_dirs import (  # noqa: E402
    RunDirTaken,
    check_run_dir_free,
    claim_run_dir,
    new_run_dir,
)

from tests.trainer.test_ppo import TINY_SNAKE, read_metrics, tiny_snake  # noqa: E402

TINY_RUN = [*TINY_SNAKE, "--num-envs", "16", "--horizon", "16", "--minibatch-size", "256",
            "--display", "none"]


def test_a_second_run_into_the_same_dir_is_refused_and_the_first_survives(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "snake", *TINY_RUN, "--total-timesteps", "1024",
                 "--run-dir", str(run_dir)]) == 0
    before = {path.name: path.read_bytes() for path in [run_dir / "metrics.csv",
                                                         run_dir / "config.toml",
                                                         run_dir / "checkpoints" / "final.pt"]}
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "snake", *TINY_RUN, "--total-timesteps", "256", "--run-dir", str(run_dir)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "already holds a run" in error and "--overwrite" in error and "--resume" in error
    assert error.count("\n") == 1  # one line, no traceback
    after = {path.name: path.read_bytes() for path in [run_dir / "metrics.csv",
                                                        run_dir / "config.toml",
                                                        run_dir / "checkpoints" / "final.pt"]}
    assert after == before


def test_overwrite_replaces_the_old_run_entirely(tmp_path):
    run_dir = tmp_path / "run"
    ppo.train(tiny_snake("--num-envs", "16", "--horizon", "16", "--minibatch-size", "256",
                         "--total-timesteps", "1024"), run_dir, quiet=True)
    (run_dir / "checkpoints" / "old-extra.pt").write_bytes(b"stale")
    assert main(["train", "snake", *TINY_RUN, "--total-timesteps", "256", "--run-dir",
                 str(run_dir), "--overwrite"]) == 0
    rows = read_metrics(run_dir)
    assert [int(row["update"]) for row in rows] == [1]  # only the new run's rows
    assert not (run_dir / "checkpoints" / "old-extra.pt").exists()
    assert "total_timesteps = 256" in (run_dir / "config.toml").read_text()


def test_the_library_refuses_an_occupied_dir_before_building_anything(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("precious\n")
    with pytest.raises(RunDirTaken, match="already holds a run"):
        ppo.train(tiny_snake("--total-timesteps", "256", "--num-envs", "16", "--horizon", "16",
                             "--minibatch-size", "256"), run_dir, quiet=True)
    assert (run_dir / "metrics.csv").read_text() == "precious\n"
    assert sorted(path.name for path in run_dir.iterdir()) == ["metrics.csv"]


def test_an_empty_existing_dir_is_free_and_a_file_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    check_run_dir_free(tmp_path / "empty")
    check_run_dir_free(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirTaken, match="not a directory"):
        check_run_dir_free(tmp_path / "file", overwrite=True)


def test_default_run_dirs_made_in_the_same_second_differ(tmp_path):
    made = [new_run_dir(tmp_path, "snake") for _ in range(5)]
    assert len(set(made)) == 5
    assert all(path.is_dir() and not any(path.iterdir()) for path in made)
    assert made[1].name == made[0].name + "-2"


def test_claiming_a_dir_is_exclusive(tmp_path):
    claim_run_dir(tmp_path / "run")
    with pytest.raises(RunDirTaken, match="same time"):
        claim_run_dir(tmp_path / "run")


def _train_default_dir(cwd: str, seed: int) -> None:
    os.chdir(cwd)
    assert main(["train", "snake", *TINY_RUN, "--total-timesteps", "512", "--seed",
                 str(seed)]) == 0


def test_two_runs_started_together_keep_both_results(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_train_default_dir, args=(str(tmp_path), seed))
               for seed in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    run_dirs = sorted((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 2
    seeds = sorted(next(line for line in (run / "config.toml").read_text().splitlines()
                        if line.startswith("seed ")) for run in run_dirs)
    assert seeds == ["seed = 0", "seed = 1"]
    assert all(len(read_metrics(run)) == 2 for run in run_dirs)


def test_a_failed_run_leaves_no_empty_default_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["train", "breakout", "--policy", "grid", "--num-envs", "16", "--horizon", "16",
              "--minibatch-size", "256", "--display", "none"])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
