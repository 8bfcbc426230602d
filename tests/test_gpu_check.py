"""scripts/gpu_check.sh, the GPU path's one prepared run, in its CPU dry run: every step but
the CUDA-only ones runs, so the script is known to work before a GPU machine runs it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_dry_run_exercises_every_step(tmp_path):
    environment = {**os.environ, "SHOAL_GPU_DRY_RUN": "1", "OUT": str(tmp_path)}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["failed"] == []
    assert results["parity"] == {"skipped": "dry run: no CUDA device"}
    assert results["bandwidth"]["effective_GBps"] > 0
    assert {(run["num_envs"], run["overlap_rollout"]) for run in results["training"]["runs"]} \
        == {(64, False), (64, True)}
    assert all(run["sps"] > 0 for run in results["training"]["runs"])
    assert results["nccl"]["backend"] == "gloo" and results["nccl"]["exit_status"] == 0
    assert results["curve"]["steps"] > 0
    assert (tmp_path / "curve_metrics.csv").read_text().startswith("update,global_step")
    assert "Name" in (tmp_path / "profile.txt").read_text()  # torch.profiler's table
    for line in ("parity", "bandwidth", "training", "nccl", "curve"):
        assert f"  {line}" in result.stdout
