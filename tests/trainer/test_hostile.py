"""Hostile input to the trainer's command line: every probe ends in one line on stderr and a
non-zero exit (2 for bad input, 1 for a run that diverged, 130 for Ctrl-C), never a
traceback, a hang, an allocation that cannot fit, or a run that saves non-finite weights."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from shoal.trainer import ppo  # noqa: E402
from shoal.trainer.cli import main  # noqa: E402
from shoal.trainer.config import TrainingDiverged  # noqa: E402

from tests.trainer.test_ppo import TINY_SNAKE, tiny_snake  # noqa: E402

TINY = [*TINY_SNAKE, "--num-envs", "16", "--horizon", "16", "--minibatch-size", "256",
        "--display", "none"]


def one_line_error(capsys, argv, code=2) -> str:
    with pytest.raises(SystemExit) as exit_info:
        result = main(argv)
        raise SystemExit(result)
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    # One line, or argparse's usage above its one error line.
    assert "Traceback" not in err and lines[-1].startswith("shoal"), err
    assert len(lines) == 1 or lines[0].startswith("usage:"), err
    return lines[-1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "snake", *TINY, "--total-timesteps", "512", "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.mark.parametrize(("extra", "message"), [
    (["--learning-rate", "inf"], "'learning_rate' must be finite"),
    (["--learning-rate", "nan"], "'learning_rate' must be finite"),
    (["--gamma", "nan"], "'gamma' must be finite"),
    (["--total-timesteps", "1e30"], "'total_timesteps' must be <= 1e+13"),
    (["--total-timesteps", "-5"], "'total_timesteps' must be >= 1"),
    (["--hidden-size", "10000000"], "'hidden_size' must be <= 65,536"),
    (["--num-envs", "0"], "'num_envs' must be >= 1"),
    (["--seed", str(2**64 - 1)], "'seed' must be <="),
    (["--seed", "-1"], "'seed' must be >= 0"),
    (["--minibatch-size", "300"], "must divide the batch"),
    (["--no-such-key", "1"], "unknown config key 'no_such_key'"),
])
def test_bad_training_settings_are_one_line_errors(extra, message, capsys, tmp_path):
    err = one_line_error(capsys, ["train", "snake", *TINY, *extra, "--run-dir", str(tmp_path / "r")])
    assert message in err
    assert not (tmp_path / "r").exists()  # refused before the run dir was made


def test_a_policy_too_big_for_memory_is_refused_before_allocating(capsys, tmp_path):
    # Breakout's MLP at width 60,000: 7.2 billion parameters, over 100 GiB to train.
    err = one_line_error(capsys, ["train", "breakout", "--hidden-size", "60000", "--num-envs",
                                  "16", "--minibatch-size", "256", "--display", "none",
                                  "--run-dir", str(tmp_path / "r")])
    assert "7,214,520,004 parameters" in err and "more than this machine's" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_cuda_is_one_line(capsys, tmp_path):
    err = one_line_error(capsys, ["train", "snake", *TINY, "--device", "cuda",
                                  "--run-dir", str(tmp_path / "r")])
    assert "CPU-only build" in err


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00binary", None, "deep"])
def test_bad_config_files_are_one_line_errors(content, capsys, tmp_path):
    path = tmp_path / "config.toml"
    if content is None:
        path.mkdir()
    elif content == "deep":
        path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    else:
        path.write_bytes(content)
    err = one_line_error(capsys, ["train", "snake", *TINY, "--config", str(path)])
    assert "config file" in err


def test_a_run_dir_that_is_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    assert "not a directory" in one_line_error(
        capsys, ["train", "snake", *TINY, "--run-dir", str(tmp_path / "file")])


def test_unknown_env_is_one_line(capsys):
    assert "unknown env" in one_line_error(capsys, ["train", "pong"])


@pytest.mark.parametrize(("extra", "message"), [
    (["--seed", "-1"], "must be an integer >= 0"),
    (["--env.vision", "3"], "does not fit shoal/Snake-v0 with these env settings: size mismatch"),
    (["--episodes", "0"], "episodes"),
])
def test_bad_evaluations_are_one_line_errors(tiny_run, extra, message, capsys):
    err = one_line_error(capsys, ["eval", "snake", "--checkpoint",
                                  str(tiny_run / "checkpoints" / "final.pt"), *extra])
    assert message in err


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda c: c.update(config=[1, 2]), "is not a table of values"),
    (lambda c: c.update(model={}), "is not a table of values"),
    (lambda c: c.update(update="x"), "update is 'x'"),
    (lambda c: c.update(update=-5), "update is -5"),
    (lambda c: c.pop("model"), "no model and config"),
])
def test_checkpoints_with_wrong_contents_are_refused(tiny_run, tmp_path, mangle, message, capsys):
    checkpoint = torch.load(tiny_run / "checkpoints" / "final.pt", weights_only=True)
    mangle(checkpoint)
    path = tmp_path / "bad.pt"
    torch.save(checkpoint, path)
    assert message in one_line_error(capsys, ["eval", "snake", "--checkpoint", str(path)])


def test_truncated_and_directory_checkpoints_are_refused(tiny_run, tmp_path, capsys):
    data = (tiny_run / "checkpoints" / "final.pt").read_bytes()
    (tmp_path / "torn.pt").write_bytes(data[: len(data) // 2])
    assert "cannot read checkpoint" in one_line_error(
        capsys, ["eval", "snake", "--checkpoint", str(tmp_path / "torn.pt")])
    (tmp_path / "folder.pt").mkdir()
    assert "folder.pt" in one_line_error(
        capsys, ["eval", "snake", "--checkpoint", str(tmp_path / "folder.pt")])


def test_a_run_that_diverges_stops_and_never_saves_nan_weights(monkeypatch, tmp_path, capsys):
    real_step = ppo.gradient_step
    calls = []

    def poisoned(trainee, policy, *args, **kwargs):
        losses = real_step(trainee, policy, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # one gradient step per update: the second update blows up
            with torch.no_grad():
                next(policy.parameters()).fill_(math.nan)
        return losses

    monkeypatch.setattr(ppo, "gradient_step", poisoned)
    run_dir = tmp_path / "run"
    err = one_line_error(capsys, ["train", "snake", *TINY, "--total-timesteps", "1024",
                                  "--checkpoint-interval", "1", "--run-dir", str(run_dir)], code=1)
    assert "training diverged at update 2" in err
    assert not (run_dir / "checkpoints" / "final.pt").exists()
    latest = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["update"] == 1  # the last good state
    assert all(torch.isfinite(tensor).all() for tensor in latest["model"].values())
    calls.clear()
    with pytest.raises(TrainingDiverged):
        ppo.train(tiny_snake("--num-envs", "16", "--horizon", "16", "--minibatch-size", "256",
                             "--total-timesteps", "1024"), tmp_path / "library", quiet=True)


def test_ctrl_c_is_one_line_that_says_how_to_resume(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ppo, "train", interrupted)
    err = one_line_error(capsys, ["train", "snake", *TINY, "--run-dir", str(tmp_path / "r")],
                         code=130)
    assert "interrupted" in err and "--resume" in err


def interrupted_run(tmp_path):
    """A tiny run stopped after 2 of its 4 updates, as a crash would leave it."""
    run_dir = tmp_path / "run"
    config = tiny_snake("--total-timesteps", "1024", "--num-envs", "16", "--horizon", "16",
                        "--minibatch-size", "256", "--checkpoint-interval", "2")
    ppo.train(config, run_dir, quiet=True, stop_after_updates=2)
    return run_dir


def test_resume_drops_a_row_cut_mid_write_and_keeps_one_line_ending(tmp_path):
    run_dir = interrupted_run(tmp_path)
    metrics = run_dir / "metrics.csv"
    metrics.write_text(metrics.read_text() + "3,768,1.0,99")  # a crash while writing row 3
    (run_dir / "checkpoints" / ".latest.abc123.tmp.pt").write_bytes(b"half a checkpoint")
    assert main(["train", "snake", "--resume", str(run_dir)]) == 0
    data = metrics.read_bytes()
    assert b"\r" not in data
    updates = [line.split(b",")[0] for line in data.splitlines()[1:]]
    assert updates == [b"1", b"2", b"3", b"4"]
    assert not list((run_dir / "checkpoints").glob(".*.tmp*"))  # the stale temporary is gone


def test_resume_into_a_garbage_metrics_file_is_one_line(tmp_path, capsys):
    run_dir = interrupted_run(tmp_path)
    (run_dir / "metrics.csv").write_bytes(b"\x00\xffnot,a,metrics,file\n1,2,3\n")
    assert "is not a shoal metrics.csv" in one_line_error(
        capsys, ["train", "snake", "--resume", str(run_dir)])


def test_a_checkpoint_that_cannot_be_written_is_one_line(tmp_path, capsys):
    run_dir = interrupted_run(tmp_path)
    (run_dir / "checkpoints" / "final.pt").mkdir()  # (root ignores read-only folders)
    err = one_line_error(capsys, ["train", "snake", "--resume", str(run_dir)])
    assert "final.pt" in err and "directory" in err.lower()
    assert not list((run_dir / "checkpoints").glob(".*.tmp*"))  # no temporary left behind


def test_an_unwritable_video_path_is_one_line(tiny_run, tmp_path, capsys):
    pytest.importorskip("PIL.Image")
    (tmp_path / "file").write_text("x")
    err = one_line_error(capsys, ["eval", "snake", "--checkpoint",
                                  str(tiny_run / "checkpoints" / "final.pt"),
                                  "--video", str(tmp_path / "file" / "agent.gif")])
    assert "agent.gif" in err or "file" in err


# ---- risky probes, each in its own process with a timeout ----


def run_cli(args, cwd, timeout=120):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "shoal.trainer.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


class RunsACommand:
    """Unpickled, this would run a shell command: weights_only loading must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_bomb_checkpoint_never_runs_its_code(tmp_path):
    marker = tmp_path / "owned"
    bomb = tmp_path / "bomb.pt"
    torch.save({"model": RunsACommand(marker), "config": {}}, bomb)
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "latest.pt").write_bytes(bomb.read_bytes())
    for args in (["eval", "snake", "--checkpoint", str(bomb)],
                 ["train", "snake", "--resume", str(run_dir)]):
        result = run_cli(args, tmp_path)
        assert result.returncode == 2, result.stderr
        assert "cannot read checkpoint" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


def test_sigkill_during_training_leaves_whole_files_and_resume_matches_an_unbroken_run(tmp_path):
    import csv
    import signal
    import subprocess
    import sys
    import time

    settings = [*TINY, "--total-timesteps", str(256 * 60), "--checkpoint-interval", "3"]
    straight = tmp_path / "straight"
    assert run_cli(["train", "snake", *settings, "--run-dir", str(straight)], tmp_path).returncode == 0

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "shoal.trainer.cli", "train", "snake",
                                *settings, "--run-dir", str(killed)], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = killed / "checkpoints" / "latest.pt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if latest.exists() and torch.load(latest, weights_only=True)["update"] >= 6:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert latest.exists(), "the run ended before it could be killed"
    torch.load(latest, weights_only=True)  # whole, never torn
    assert run_cli(["train", "snake", "--resume", str(killed)], tmp_path).returncode == 0

    def rows(run_dir):
        with open(run_dir / "metrics.csv", newline="") as file:
            return [{key: value for key, value in row.items() if key not in ("wall_time", "sps")}
                    for row in csv.DictReader(file)]

    assert rows(killed) == rows(straight)  # every row, the killed part included
