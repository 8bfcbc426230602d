"""Run directories: a new run never writes over another.

- `new_run_dir(parent, name)` makes a fresh default directory, `<name>-<YYYYmmdd-HHMMSS>`,
  created exclusively (`os.mkdir` fails if it exists): two runs started in the same second
  get `...-HHMMSS` and `...-HHMMSS-2`, never one directory between them.
- `check_run_dir_free(run_dir, overwrite)` refuses a directory that already holds a run
  (its config.toml, metrics.csv or checkpoints/) before a new run builds anything;
  `overwrite=True` (`shoal train --overwrite`) removes that run's files instead.
- `claim_run_dir(run_dir)` is the race-free step, taken where the run writes its
  config.toml: the file is created with O_EXCL, so of two runs started at once into the
  same directory the second fails instead of mixing its files with the first's.

A resumed run (`--resume`) continues its own directory and passes none of these checks.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from shoal.trainer.config import ConfigError

#: What a run writes into its directory; their presence means the directory holds a run.
RUN_FILES = ("config.toml", "metrics.csv", "checkpoints")


class RunDirTaken(ConfigError):
    """The run directory already holds another run (shoal's CLI prints it as one line)."""


def new_run_dir(parent: str | Path, name: str) -> Path:
    """A new, empty directory parent/<name>-<time>, with a -2, -3, ... suffix when another
    run took that name first."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for number in range(1, 10_000):
        candidate = parent / (stem if number == 1 else f"{stem}-{number}")
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise RunDirTaken(f"no free run directory named {stem}-N in {parent}")


def existing_run_files(run_dir: Path) -> list[str]:
    return [name for name in RUN_FILES if (run_dir / name).exists()]


def check_run_dir_free(run_dir: str | Path, overwrite: bool = False) -> None:
    """Raise RunDirTaken if run_dir holds a run, or remove that run's files when
    overwrite is set. A path that is not a directory is refused either way."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirTaken(f"run dir {run_dir} exists and is not a directory")
    found = existing_run_files(run_dir) if run_dir.exists() else []
    if not found:
        return
    if not overwrite:
        raise RunDirTaken(
            f"run dir {run_dir} already holds a run ({', '.join(found)}): continue it with "
            f"--resume {run_dir}, choose another --run-dir, or pass --overwrite to replace it")
    for name in found:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def claim_run_dir(run_dir: str | Path) -> None:
    """Create run_dir (and its parents) and take it for this run by creating its config.toml
    exclusively; the caller then writes the config over the empty claim atomically."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunDirTaken(f"run dir {run_dir} exists and is not a directory") from None
    try:
        descriptor = os.open(run_dir / "config.toml", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise RunDirTaken(f"run dir {run_dir} was taken by another run that started at the "
                          "same time; choose another --run-dir") from None
    os.close(descriptor)
