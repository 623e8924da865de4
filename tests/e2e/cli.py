"""Run ``hilctl`` as a user would: a separate process, from a clean working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def hilctl_env() -> dict:
    """The test process's environment: hilctl comes from the (editable) install."""
    env = dict(os.environ)
    env.setdefault("COLUMNS", "120")
    return env


def hilctl_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hilctl", *map(str, args)]


def run_hilctl(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(hilctl_command(*args), cwd=cwd, env=hilctl_env(), text=True,
                          capture_output=True, timeout=timeout)


def run_json(*args, cwd: Path) -> dict:
    done = run_hilctl(*args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> str:
    """A user mistake: non-zero exit, one line on stderr naming the problem, no traceback."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
