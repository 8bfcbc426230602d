"""Fixtures shared by every room's tests: a display for the raylib window.

`display` gives the tests that open windows an X display: the one in DISPLAY if set, else a
private Xvfb started for the session (1920 x 1200, so the largest scene fits). Without Xvfb
or raylib those tests skip; CI sets SHOAL_REQUIRE_DISPLAY=1 so that there they fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess

import pytest

REQUIRE_DISPLAY = os.environ.get("SHOAL_REQUIRE_DISPLAY") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_DISPLAY:
        pytest.fail(f"{reason} (SHOAL_REQUIRE_DISPLAY=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def display():
    if importlib.util.find_spec("pyray") is None:
        skip_or_fail("raylib is not installed (pip install 'shoal[render]')")
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        skip_or_fail("no DISPLAY and no Xvfb to start one (apt-get install xvfb)")
    # -displayfd: Xvfb picks a free display number and writes it once it accepts clients.
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        # -noreset: no server reset when the last window closes, which refuses new clients
        # for a moment (the tests open and close windows one after another).
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1920x1200x24", "-nolisten", "tcp",
         "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as announcement:
        number = announcement.readline().strip()
    if not number:
        server.kill()
        skip_or_fail("Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        del os.environ["DISPLAY"]
        server.terminate()
        server.wait(timeout=10)
