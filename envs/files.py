"""Writing files so that a reader never sees half of one: checkpoints, configs, results,
pictures and videos.

Plain Python at the package level (shoal.files, imported by no game), so every
room uses this one implementation: the trainer, the renderer's picture and video writers, and
the benchmark scripts, none of which need torch for it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


def temporary_beside(path: str | Path) -> Path:
    """A new empty file in `path`'s folder (made if missing), ending in `path`'s suffix for
    writers that pick a format by it. Fill it, then commit() or discard() it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                        suffix=f".tmp{path.suffix}")
    os.close(descriptor)
    return Path(name)


def commit(temporary: Path, path: str | Path) -> None:
    """Make the filled temporary durable and rename it over `path` in one step."""
    with open(temporary, "rb+") as file:
        os.fsync(file.fileno())
    os.replace(temporary, path)
    sync_directory(Path(path).parent)


def discard(temporary: Path) -> None:
    Path(temporary).unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file beside `path` to fill; when the block ends without an error it
    replaces `path`. On any failure the previous file at `path` survives and no temporary is
    left."""
    temporary = temporary_beside(path)
    try:
        yield temporary
        commit(temporary, path)
    finally:
        discard(temporary)


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it over `path` (see
    replacing)."""
    with replacing(path) as temporary, open(temporary, "wb") as file:
        write(file)


def write_text_atomically(path: str | Path, text: str) -> None:
    write_atomically(path, lambda file: file.write(text.encode()))


def sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
