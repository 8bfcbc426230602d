"""What a training run shows while it runs: a live view or plain lines on stdout, and, when
asked, TensorBoard event files and a Weights & Biases run.

    with RunDisplay(mode=config.display, total_steps=config.num_updates * config.batch_size,
                    run_dir=run_dir, config=config.to_dict(), tensorboard=config.tensorboard,
                    wandb=config.wandb, wandb_project=config.wandb_project) as display:
        display.header("shoal/Breakout-v0: 153 updates of 1024 x 64 steps, ...")
        for ...:
            display.log(row)  # the metrics.csv row of this log

Modes (the `display` setting):
- "bar": a progress bar (steps done of the total, percent, steps/s, elapsed, ETA) and the
  latest episode statistics, losses and diagnostics, redrawn in place with ANSI escape codes
  at most REDRAW_INTERVAL apart; the last state stays on screen after close().
- "lines": one plain line per log (format_log_line), no escape codes: for log files and CI.
- "none": nothing on the stream.
- "auto": "bar" when the stream is a terminal, else "lines".

TensorBoard (torch.utils.tensorboard, which needs the tensorboard package) and wandb are
imported only when asked for; a missing package is a ConfigError that names the setting and
the pip command. Every numeric value of a row goes to both as a scalar at the row's
global_step, under the tag of scalar_tag ("episode/episode_return", "losses/value_loss").

Ranks other than the main one of a distributed run (is_main_process=False) show and log
nothing. Standard library only (no torch, no rich): the module imports anywhere.
"""

from __future__ import annotations

import collections
import importlib
import math
import numbers
import os
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, TextIO

from shoal.trainer.config import DISPLAYS, ConfigError

#: The tag group of each metrics column in TensorBoard and wandb; other keys go ungrouped.
SCALAR_GROUPS = {
    "episode": ("episodes", "episode_return", "episode_length", "score"),
    "losses": ("policy_loss", "value_loss", "entropy"),
    "diagnostics": ("approx_kl", "clipfrac", "explained_variance", "grad_norm"),
    "run": ("update", "global_step", "wall_time", "sps", "learning_rate"),
}
_GROUP_OF = {key: group for group, keys in SCALAR_GROUPS.items() for key in keys}


def scalar_tag(key: str) -> str:
    """The TensorBoard / wandb name of a metrics column: its group, a slash, the column."""
    group = _GROUP_OF.get(key)
    return f"{group}/{key}" if group else key


def format_log_line(row: dict[str, Any]) -> str:
    """One log as one line of text (the "lines" mode). Missing and NaN values print as nan;
    the integer columns accept floats (a row read back from metrics.csv)."""
    r = collections.defaultdict(lambda: math.nan, row)
    return (
        f"step {r['global_step']:>12,.0f}  sps {r['sps']:>9,.0f}  "
        f"return {r['episode_return']:9.2f}  score {r['score']:8.2f}  "
        f"length {r['episode_length']:8.1f}  episodes {r['episodes']:6.0f}  "
        f"pg {r['policy_loss']:+.4f}  v {r['value_loss']:.4f}  ent {r['entropy']:.3f}  "
        f"kl {r['approx_kl']:.4f}  clip {r['clipfrac']:.3f}  ev {r['explained_variance']:+.3f}"
    )


def resolve_mode(mode: str, stream: TextIO) -> str:
    """"auto" -> "bar" on a terminal that understands escape codes, else "lines"; other modes
    as they are. An unknown mode is a ConfigError naming the `display` setting."""
    if mode not in DISPLAYS:
        raise ConfigError(f"display must be one of {DISPLAYS}, got {mode!r}")
    if mode != "auto":
        return mode
    isatty = getattr(stream, "isatty", None)
    on_terminal = bool(isatty and isatty())
    return "bar" if on_terminal and os.environ.get("TERM") != "dumb" else "lines"


def import_optional(module: str, setting: str, package: str) -> ModuleType:
    """Import an optional dependency of a setting, or say how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigError(
            f"{setting} = true needs the {package} package, which cannot be imported ({error}): "
            f"pip install {package}, or set {setting} = false"
        ) from None


def check_optional_packages(*, tensorboard: bool = False, wandb: bool = False) -> None:
    """Raise the ConfigError that RunDisplay would, before a run creates anything."""
    if tensorboard:
        import_optional("torch.utils.tensorboard", "tensorboard", "tensorboard")
    if wandb:
        import_optional("wandb", "wandb", "wandb")


class RunDisplay:
    """The stream view ("bar", "lines" or "none") plus the TensorBoard and wandb sinks of one
    run. A context manager: leaving it closes everything, and marks the wandb run failed when
    an exception is on its way out."""

    def __init__(
        self,
        *,
        mode: str,
        total_steps: int,
        run_dir: str | Path,
        config: dict[str, Any] | None = None,
        stream: TextIO | None = None,
        tensorboard: bool = False,
        wandb: bool = False,
        wandb_project: str = "shoal",
        is_main_process: bool = True,
    ):
        self.stream = sys.stdout if stream is None else stream  # at call time: capsys, redirects
        self.mode = resolve_mode(mode, self.stream)
        if not is_main_process:
            self.mode, tensorboard, wandb = "none", False, False
        self.bar = LiveBar(self.stream, total_steps) if self.mode == "bar" else None
        self.sinks: list[TensorBoardSink | WandbSink] = []
        self.closed = False
        run_dir = Path(run_dir)
        check_optional_packages(tensorboard=tensorboard, wandb=wandb)  # both, before either opens
        try:
            if tensorboard:
                self.sinks.append(TensorBoardSink(run_dir / "tensorboard"))
            if wandb:
                self.sinks.append(WandbSink(wandb_project, config or {}, run_dir))
        except BaseException:
            self.close(failed=True)
            raise

    def header(self, text: str) -> None:
        """A line that describes the run, above the live view."""
        if self.mode == "lines":
            self.stream.write(text + "\n")
            self.stream.flush()
        elif self.bar is not None:
            self.bar.write_above(text)

    def log(self, row: dict[str, Any]) -> None:
        """Show and record one metrics row (the keys of metrics.csv)."""
        if self.closed:
            raise RuntimeError("RunDisplay.log after close()")
        if self.mode == "lines":
            self.stream.write(format_log_line(row) + "\n")
            self.stream.flush()
        elif self.bar is not None:
            self.bar.update(row)
        for sink in self.sinks:
            sink.log(row)

    def close(self, failed: bool = False) -> None:
        """Draw the last state, flush and close the sinks; later calls do nothing."""
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.finish()
        for sink in self.sinks:
            sink.close(failed)

    def __enter__(self) -> RunDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close(failed=exc_type is not None)


# ---- the live view ----


class LiveBar:
    """A block of lines redrawn in place: the cursor goes back up over the last drawing, the
    screen is cleared below it, the new block is written. Lines are cut to the terminal's
    width, so none wraps and the count of lines to go back up stays right."""

    REDRAW_INTERVAL = 0.2  # seconds: a log every few milliseconds must not flood the terminal

    def __init__(self, stream: TextIO, total_steps: int):
        self.stream = stream
        self.total_steps = max(int(total_steps), 0)
        self.row: dict[str, Any] | None = None
        self.lines_on_screen = 0
        self.last_draw = -math.inf
        self.drawn = True  # whether the screen shows self.row
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "█░".encode(encoding)
            self.full, self.empty = "█", "░"
        except (UnicodeEncodeError, LookupError):
            self.full, self.empty = "#", "-"

    def update(self, row: dict[str, Any]) -> None:
        self.row, self.drawn = row, False
        now = time.monotonic()
        finished = number(row.get("global_step")) >= self.total_steps
        if finished or now - self.last_draw >= self.REDRAW_INTERVAL:
            self.draw()
            self.last_draw = now

    def write_above(self, text: str) -> None:
        """A plain line that stays (it may wrap: it is not part of the block), with the live
        block redrawn below it."""
        self.stream.write(self.erase() + text + "\n")
        self.lines_on_screen = 0
        if self.row is not None:
            self.draw()
        self.stream.flush()

    def finish(self) -> None:
        if self.row is not None and not self.drawn:
            self.draw()

    def draw(self) -> None:
        width = self.width()
        lines = self.render(width)
        height = shutil.get_terminal_size().lines
        lines = [line[:width] for line in lines[: max(height - 1, 1)]]
        self.stream.write(self.erase() + "".join(line + "\n" for line in lines))
        self.stream.flush()
        self.lines_on_screen = len(lines)
        self.drawn = True

    def erase(self) -> str:
        """Escape codes that take the cursor to the start of the block and clear from there."""
        if self.lines_on_screen == 0:
            return ""
        return f"\r\x1b[{self.lines_on_screen}A\x1b[J"

    @staticmethod
    def width() -> int:
        # One column short of the edge: some terminals wrap a line that fills the last column.
        return max(shutil.get_terminal_size().columns - 1, 20)

    def render(self, width: int) -> list[str]:
        row = self.row or {}
        done = number(row.get("global_step"))
        total = self.total_steps
        fraction = min(done / total, 1.0) if total > 0 and math.isfinite(done) else math.nan
        elapsed = number(row.get("wall_time"))
        sps = number(row.get("sps"))
        rate = sps if sps > 0 else done / elapsed if elapsed > 0 else math.nan
        eta = max(total - done, 0) / rate if rate > 0 else math.nan

        percent = "   ?%" if math.isnan(fraction) else f"{100 * fraction:5.1f}%"
        count = f"{human_count(done)}/{human_count(total)} steps"
        bar_width = width - len(percent) - len(count) - 2
        if bar_width >= 10:
            filled = 0 if math.isnan(fraction) else round(bar_width * fraction)
            progress = f"{percent} {self.full * filled}{self.empty * (bar_width - filled)} {count}"
        else:  # too narrow for a bar: the numbers alone
            progress = f"{percent} {count}"

        speed = [f"{human_count(sps)} steps/s", f"elapsed {duration(elapsed)}",
                 f"eta {duration(eta)}", f"update {show(row.get('update'), ',.0f')}"]
        episodes = [f"return {show(row.get('episode_return'), '.2f')}",
                    f"score {show(row.get('score'), '.2f')}",
                    f"length {show(row.get('episode_length'), '.1f')}",
                    f"episodes {show(row.get('episodes'), ',.0f')}"]
        losses = [f"policy loss {show(row.get('policy_loss'), '+.4f')}",
                  f"value loss {show(row.get('value_loss'), '.4f')}",
                  f"entropy {show(row.get('entropy'), '.3f')}"]
        diagnostics = [f"kl {show(row.get('approx_kl'), '.4f')}",
                       f"clipfrac {show(row.get('clipfrac'), '.3f')}",
                       f"explained var {show(row.get('explained_variance'), '+.3f')}",
                       f"grad norm {show(row.get('grad_norm'), '.3f')}",
                       f"lr {show(row.get('learning_rate'), '.2e')}"]
        return [progress, *(line for fields in (speed, episodes, losses, diagnostics)
                            for line in pack(fields, width))]


def pack(fields: list[str], width: int, separator: str = "   ") -> list[str]:
    """The fields in order, as many to a line as fit in `width` (a narrow terminal gets more
    lines, never wrapped ones)."""
    lines: list[str] = []
    for field in fields:
        if lines and len(lines[-1]) + len(separator) + len(field) <= width:
            lines[-1] += separator + field
        else:
            lines.append(field)
    return lines


def number(value: Any) -> float:
    """value as a float; NaN for None or anything that is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def show(value: Any, spec: str) -> str:
    value = number(value)
    return "-" if math.isnan(value) else format(value, spec)


def human_count(value: float) -> str:
    """12345678 -> "12.3M": three significant digits from 10,000 on."""
    if not math.isfinite(value):
        return "-"
    if abs(value) < 1e4:
        return f"{value:,.0f}"
    value = float(f"{value:.3g}")  # rounded first, so 999,999 is "1M", not "1e+03K"
    if abs(value) >= 1e12:
        return f"{value / 1e9:,.0f}B"
    for threshold, suffix in ((1e9, "B"), (1e6, "M")):
        if abs(value) >= threshold:
            return f"{value / threshold:.3g}{suffix}"
    return f"{value / 1e3:.3g}K"


def duration(seconds: float) -> str:
    """3725 -> "1:02:05", 65 -> "1:05"; "?" when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# ---- TensorBoard and wandb ----


def numeric_items(row: dict[str, Any]) -> dict[str, float]:
    """The row's numbers under their scalar tags (strings and other values left out)."""
    return {scalar_tag(key): float(value) for key, value in row.items()
            if isinstance(value, numbers.Real)}


class TensorBoardSink:
    """torch.utils.tensorboard's SummaryWriter writing event files under `log_dir`."""

    def __init__(self, log_dir: Path):
        summary = import_optional("torch.utils.tensorboard", "tensorboard", "tensorboard")
        self.writer = summary.SummaryWriter(log_dir=str(log_dir))

    def log(self, row: dict[str, Any]) -> None:
        step = int(row["global_step"])
        for tag, value in numeric_items(row).items():
            self.writer.add_scalar(tag, value, global_step=step)

    def close(self, failed: bool = False) -> None:
        self.writer.close()


class WandbSink:
    """One wandb run named after the run dir, the resolved config as its config."""

    def __init__(self, project: str, config: dict[str, Any], run_dir: Path):
        wandb = import_optional("wandb", "wandb", "wandb")
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, config=config, dir=str(run_dir), name=run_dir.name)

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(numeric_items(row), step=int(row["global_step"]))

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)
