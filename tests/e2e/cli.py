"""Run ``hilctl`` as a user would: a separate process, from a clean working directory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
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


@contextlib.contextmanager
def emulator(cwd: Path, *args):
    """``hilctl emulate ... --write-config rig.toml`` in another process until ``rig.toml``
    exists; stopped with Ctrl-C on exit. Yields the process (its output after exit)."""
    server = subprocess.Popen(hilctl_command("emulate", *args, "--write-config", "rig.toml"),
                              cwd=cwd, env=hilctl_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(300):  # a loaded CI machine can take seconds to start a process
            if (cwd / "rig.toml").exists():
                break
            time.sleep(0.1)
        yield server
    finally:
        server.send_signal(signal.SIGINT)
        server.output, _ = server.communicate(timeout=30)
