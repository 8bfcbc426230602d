"""Atomic writes (checkpoints, configs, benchmark results): a failed write leaves the old file."""

from __future__ import annotations

import pytest

from shoal.files import write_atomically, write_text_atomically


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "config.toml"
    write_text_atomically(target, "old = 1\n")

    def crash_halfway(file):
        file.write(b"new = ")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, crash_halfway)
    assert target.read_text() == "old = 1\n"
    assert [path.name for path in tmp_path.iterdir()] == ["config.toml"]


def test_a_write_creates_missing_directories(tmp_path):
    target = tmp_path / "a" / "b" / "results.json"
    write_text_atomically(target, "{}")
    assert target.read_text() == "{}"
