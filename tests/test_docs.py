"""The docs pages of the envs are generated from the env docstrings and must be up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium

import shoal

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("## Description", "## Action Space", "## Observation Space", "## Rewards",
            "## Starting State", "## Episode End", "## Arguments", "## Version History")


def test_env_pages_match_the_docstrings():
    result = subprocess.run([sys.executable, "scripts/make_env_docs.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_env_documents_gymnasiums_sections():
    for env_id in shoal.ENV_IDS:
        spec = gymnasium.spec(env_id)
        entry = spec.vector_entry_point if spec.entry_point == shoal.VECTOR_ONLY_ENTRY_POINT else spec.entry_point
        module, name = entry.split(":")
        doc = getattr(__import__(module, fromlist=[name]), name).__doc__
        missing = [section for section in SECTIONS if section not in doc]
        assert not missing, f"{env_id} docstring lacks {missing}"


def test_readme_quickstart_has_the_main_job_and_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[test]" && pytest' in readme
    quickstart = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in quickstart.splitlines() if line.strip()]
    # One build in set-up: the project is installed by one command, the main job follows it.
    assert sum("pip install -e" in command for command in commands) == 1, commands
    assert "shoal train breakout" in commands
    assert "shoal eval breakout --pretrained --episodes 10" in readme
    assert "python scripts/bench_envs.py" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && pytest' in ci
