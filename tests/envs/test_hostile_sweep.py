"""The env side of the hostile-input sweep (tests/envs/hostile_sweep.py), one subprocess per
id: no probe may crash, hang or raise anything but a ValueError or TypeError that names what
was wrong; accepted inputs must work; rejected calls must leave the env as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import shoal

ROOT = Path(__file__).resolve().parents[2]
#: The one probe answered with another error: no display is a property of the machine, not
#: bad input, and render/'s DisplayUnavailable (a RuntimeError) says so and how to go headless.
NOT_A_VALUE_ERROR = {("rendering", 'render_mode="human" without a display')}


def sweep(env_id: str) -> list[dict]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environment["OMP_WAIT_POLICY"] = "PASSIVE"
    result = subprocess.run([sys.executable, "-m", "tests.envs.hostile_sweep", env_id], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, (f"the sweep of {env_id} died (exit {result.returncode}):\n"
                                    f"{result.stderr[-3000:]}")
    return [json.loads(line) for line in result.stdout.splitlines()]


def wrong(record: dict) -> str | None:
    """Why a probe's outcome is not what it expected, or None."""
    outcome, expect = record["outcome"], record["expect"]
    if outcome == "accepted":
        return None if expect in ("accepted", "either") else "was accepted"
    if expect == "accepted":
        return f"raised {outcome}: {record['message']}"
    if (record["area"], record["probe"]) in NOT_A_VALUE_ERROR:
        return None if record["display_error"] else f"raised {outcome}: {record['message']}"
    if not record["value_or_type_error"]:
        return f"raised {outcome}, not a ValueError or TypeError: {record['message']}"
    if expect == "refused" and not any(name in record["message"] for name in record["names"]):
        return f"the message does not name {record['names']}: {record['message']}"
    return None


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_every_hostile_input_is_refused_clearly_or_works(env_id):
    records = sweep(env_id)
    areas = Counter(record["area"] for record in records)
    # Every area of the sweep ran (the single env only where the id has one).
    expected = {"env arguments", "threads", "actions", "seeds", "options", "misuse", "rendering",
                "after an error"}
    assert expected <= set(areas), areas
    failures = [f"{r['area']}: {r['probe']}: {why}" for r in records if (why := wrong(r))]
    assert not failures, "\n".join(failures)
    # The parameter probes follow the declaration: 12 hostile values per parameter at least.
    parameters = shoal.vector_env_class(env_id).game_class.PARAMETERS
    assert areas["env arguments"] >= 12 * len(parameters)
