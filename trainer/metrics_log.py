"""metrics.csv: one row per log of a training run, written so that a crash or a kill loses
nothing already written, and read back on resume.
"""

from __future__ import annotations

import csv
from pathlib import Path

from shoal.files import write_text_atomically
from shoal.trainer.config import ConfigError

#: Columns of metrics.csv, one row per log.
METRIC_COLUMNS = (
    "update", "global_step", "wall_time", "sps",
    "episodes", "episode_return", "episode_length", "score",
    "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac",
    "explained_variance", "grad_norm", "learning_rate",
)  # fmt: skip


class MetricsLog:
    """metrics.csv: a header, then one row per log, flushed at once so that a crash loses
    nothing written before it. A resumed run keeps the rows up to its checkpoint's update
    (rewritten atomically) and appends after them."""

    def __init__(self, path: Path, keep_until_update: int = 0):
        kept: list[dict[str, str]] = []
        if keep_until_update > 0 and path.exists():
            kept = [row for row in read_metric_rows(path)
                    if int(row["update"]) <= keep_until_update]
        header = ",".join(METRIC_COLUMNS) + "\n"
        lines = [",".join(row[column] for column in METRIC_COLUMNS) + "\n" for row in kept]
        write_text_atomically(path, header + "".join(lines))
        self.file = open(path, "a", newline="")
        # "\n" like the rows kept above (the csv module's default is "\r\n")
        self.writer = csv.DictWriter(self.file, fieldnames=METRIC_COLUMNS, lineterminator="\n")

    def write(self, row: dict[str, float]) -> None:
        self.writer.writerow({key: repr(value) if isinstance(value, float) else value
                              for key, value in row.items() if key in METRIC_COLUMNS})
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read_metric_rows(path: Path) -> list[dict[str, str]]:
    """The whole rows of a run's metrics.csv, to keep on resume. A last line without its
    newline was cut by a crash mid-write and is dropped (its last number may be cut short);
    a file that is not a metrics log is a ConfigError."""
    text = path.read_text(errors="replace")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.DictReader(text.splitlines()))
    if rows and set(METRIC_COLUMNS) - set(rows[0]):
        raise ConfigError(f"{path} is not a shoal metrics.csv (it lacks the columns "
                          f"{sorted(set(METRIC_COLUMNS) - set(rows[0]))}): cannot resume into it")
    try:
        return [row for row in rows if all(row.get(column) not in (None, "") for column in METRIC_COLUMNS)
                and int(row["update"]) >= 0]
    except ValueError:
        raise ConfigError(f"{path} holds an update that is not a number: cannot resume into it") from None
