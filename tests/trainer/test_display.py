"""The run display: plain lines, the live bar, nothing; TensorBoard and wandb through fake
modules (neither package is needed), and the clear errors when they are missing."""

from __future__ import annotations

import io
import math
import sys
import types

import pytest

from shoal.trainer import display as display_module
from shoal.trainer.config import ConfigError
from shoal.trainer.display import RunDisplay, format_log_line, scalar_tag

TOTAL = 1_000_000


def make_row(step: int, **changes: float) -> dict[str, float]:
    row = {
        "update": step // 10_000, "global_step": step, "wall_time": step / 100_000,
        "sps": 100_000.0, "episodes": 12, "episode_return": 9.52, "episode_length": 412.3,
        "score": 9.0, "policy_loss": -0.0123, "value_loss": 0.0456, "entropy": 1.234,
        "approx_kl": 0.0012, "clipfrac": 0.034, "explained_variance": 0.512,
        "grad_norm": 0.321, "learning_rate": 9.8e-4,
    }  # fmt: skip
    return {**row, **changes}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def terminal_size(monkeypatch):
    """shutil.get_terminal_size reads COLUMNS and LINES first: an 80 x 24 terminal."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    monkeypatch.delenv("TERM", raising=False)


def run(mode: str, rows: list[dict[str, float]], stream=None, **options) -> str:
    stream = io.StringIO() if stream is None else stream
    with RunDisplay(mode=mode, total_steps=TOTAL, run_dir=options.pop("run_dir", "unused"),
                    config={}, stream=stream, **options) as display:
        display.header("shoal/Breakout-v0: a test run")
        for row in rows:
            display.log(row)
    return stream.getvalue()


# ---- lines ----


def test_lines_prints_the_header_then_one_plain_line_per_log():
    out = run("lines", [make_row(250_000), make_row(500_000, sps=123_456.0)])
    lines = out.splitlines()
    assert lines[0] == "shoal/Breakout-v0: a test run"
    assert len(lines) == 3
    assert "step      250,000" in lines[1] and "sps   100,000" in lines[1]
    assert "step      500,000" in lines[2] and "sps   123,456" in lines[2]
    assert "return      9.52" in lines[2] and "kl 0.0012" in lines[2]
    assert "\x1b" not in out


def test_log_line_renders_nan_and_float_counts():
    line = format_log_line(make_row(1000, episodes=0, episode_return=math.nan, score=math.nan,
                                    episode_length=math.nan, explained_variance=math.nan))
    assert "return       nan" in line and "episodes      0" in line and "ev +nan" in line
    assert "step        1,000" in format_log_line({"global_step": 1000.0, "episodes": 3.0})


# ---- bar ----


def test_bar_redraws_in_place_and_leaves_the_last_state(monkeypatch):
    monkeypatch.setattr(display_module.LiveBar, "REDRAW_INTERVAL", 0.0)
    out = run("bar", [make_row(250_000), make_row(500_000), make_row(TOTAL)], stream=Terminal())
    assert out.startswith("shoal/Breakout-v0: a test run\n")
    assert "\x1b[J" in out and "A\x1b[J" in out  # back up over the block, clear below
    last = out.rsplit("\x1b[J", 1)[1]
    assert "100.0%" in last and "1M/1M steps" in last and "eta 0:00" in last
    assert "return 9.52" in last and "value loss 0.0456" in last and "lr 9.80e-04" in last
    assert " 25.0%" in out and "eta 0:08" in out  # 750K steps left at 100K steps/s
    assert all(len(line) < 80 for line in last.splitlines())


def test_bar_draws_at_most_every_interval_but_close_shows_the_last_row(monkeypatch):
    monkeypatch.setattr(display_module.LiveBar, "REDRAW_INTERVAL", 3600.0)
    out = run("bar", [make_row(step) for step in range(10_000, 500_001, 10_000)],
              stream=Terminal())
    assert out.count("\x1b[J") == 1  # the first row, then close() with the last one
    assert "500K/1M steps" in out.rsplit("\x1b[J", 1)[1]


def test_bar_fits_a_narrow_terminal_and_shows_nan_as_a_dash(monkeypatch):
    monkeypatch.setenv("COLUMNS", "30")
    row = make_row(300_000, episode_return=math.nan, score=math.nan, sps=math.nan)
    out = run("bar", [row], stream=Terminal())
    lines = out.splitlines()[1:]
    assert all(len(line) <= 29 for line in lines)
    assert "return -" in out and " 30.0%" in out and "steps/s" in out
    assert len(lines) <= 23  # never taller than the terminal


def test_bar_without_a_unicode_stream_uses_ascii():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    stream.isatty = lambda: True
    display = RunDisplay(mode="bar", total_steps=TOTAL, run_dir="unused", stream=stream)
    display.log(make_row(500_000))
    display.close()
    stream.seek(0)
    assert "#####" in stream.read()


# ---- none, auto, other ranks ----


def test_none_prints_nothing():
    assert run("none", [make_row(500_000)], stream=Terminal()) == ""


@pytest.mark.parametrize("stream, mode", [(io.StringIO(), "lines"), (Terminal(), "bar")])
def test_auto_picks_the_bar_on_a_terminal_and_lines_elsewhere(stream, mode):
    assert RunDisplay(mode="auto", total_steps=TOTAL, run_dir="x", stream=stream).mode == mode


def test_auto_on_a_dumb_terminal_prints_lines(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    display = RunDisplay(mode="auto", total_steps=TOTAL, run_dir="x", stream=Terminal())
    assert display.mode == "lines"


def test_an_unknown_mode_names_the_setting():
    with pytest.raises(ConfigError, match="display must be one of"):
        RunDisplay(mode="fancy", total_steps=TOTAL, run_dir="x")


def test_other_ranks_print_and_log_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # would fail if it were imported
    out = run("lines", [make_row(500_000)], stream=Terminal(), is_main_process=False,
              wandb=True, tensorboard=True)
    assert out == ""


# ---- TensorBoard and wandb ----


def hide_tensorboard(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)


def test_missing_tensorboard_says_how_to_install_it(monkeypatch):
    hide_tensorboard(monkeypatch)
    with pytest.raises(ConfigError, match=r"tensorboard = true .*pip install tensorboard"):
        RunDisplay(mode="none", total_steps=TOTAL, run_dir="x", tensorboard=True)
    with pytest.raises(ValueError, match="pip install tensorboard"):
        display_module.check_optional_packages(tensorboard=True)


def test_missing_wandb_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ConfigError, match=r"wandb = true .*pip install wandb"):
        RunDisplay(mode="none", total_steps=TOTAL, run_dir="x", wandb=True)


class FakeSummaryWriter:
    instances: list[FakeSummaryWriter] = []

    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        FakeSummaryWriter.instances.append(self)

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def close(self):
        self.closed = True


def test_tensorboard_gets_every_number_at_its_step(monkeypatch, tmp_path):
    FakeSummaryWriter.instances = []
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeSummaryWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    rows = [make_row(250_000, episode_return=math.nan), make_row(500_000)]
    run("none", rows + [{**make_row(TOTAL), "note": "text"}], run_dir=tmp_path, tensorboard=True)

    (writer,) = FakeSummaryWriter.instances
    assert writer.log_dir == str(tmp_path / "tensorboard") and writer.closed
    assert len(writer.scalars) == 3 * len(rows[0])  # "note" is not a number
    at = {(tag, step): value for tag, value, step in writer.scalars}
    assert at["losses/value_loss", 500_000] == 0.0456
    assert at["run/sps", TOTAL] == 100_000.0
    assert math.isnan(at["episode/episode_return", 250_000])
    assert {tag for tag, _, _ in writer.scalars} == {scalar_tag(key) for key in rows[0]}


class FakeWandb(types.ModuleType):
    def __init__(self):
        super().__init__("wandb")
        self.init_kwargs, self.logged, self.exit_code = None, [], None

    def init(self, **kwargs):
        self.init_kwargs = kwargs
        return self  # the run: log and finish

    def log(self, data, step):
        self.logged.append((data, step))

    def finish(self, exit_code=None):
        self.exit_code = exit_code


def test_wandb_gets_the_config_and_every_row_at_its_step(monkeypatch, tmp_path):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with RunDisplay(mode="none", total_steps=TOTAL, run_dir=tmp_path / "run", wandb=True,
                    wandb_project="tests", config={"env_id": "shoal/Snake-v0"}) as display:
        display.log(make_row(250_000))
        display.log(make_row(500_000, score=math.nan))
    assert fake.init_kwargs == {"project": "tests", "config": {"env_id": "shoal/Snake-v0"},
                                "dir": str(tmp_path / "run"), "name": "run"}
    assert [step for _, step in fake.logged] == [250_000, 500_000]
    assert fake.logged[0][0]["episode/episode_return"] == 9.52
    assert math.isnan(fake.logged[1][0]["episode/score"])
    assert fake.exit_code == 0


def test_wandb_run_is_marked_failed_when_training_raises(monkeypatch, tmp_path):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with pytest.raises(KeyboardInterrupt):
        with RunDisplay(mode="none", total_steps=TOTAL, run_dir=tmp_path, wandb=True):
            raise KeyboardInterrupt
    assert fake.exit_code == 1
