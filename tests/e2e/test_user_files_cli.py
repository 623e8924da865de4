"""Nothing a user owns is overwritten: every writing command writes into a new or empty
directory (or a run of its own kind on ``--resume``), and replaces a file only with ``--force``.
Each refusal comes before any work and leaves the user's file as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crosssim"


def _own_targets(cwd: Path) -> Path:
    path = cwd / "targets.npy"
    np.save(path, np.full((64, 64), 50e-6))
    return path


@pytest.mark.parametrize("command", [
    ["program", "--rows", 4, "--cols", 4, "--quiet"],
    ["compare", "--rows", 4, "--cols", 4, "--protocols", "write-verify", "--no-oracle"],
    ["demo", "--quiet"],
])
def test_a_directory_holding_the_users_files_is_refused(tmp_path, command):
    own = _own_targets(tmp_path)
    before = own.read_bytes()
    done = run_hilctl(*command, "--out", ".", cwd=tmp_path)
    assert_one_line_error(done, "already holds other files", "new or empty directory")
    assert own.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.npy"]


def test_program_into_an_empty_directory_then_resume_only(tmp_path):
    (tmp_path / "run").mkdir()
    done = run_hilctl("program", "--rows", 4, "--cols", 4, "--quiet", "--out", "run",
                      cwd=tmp_path)
    assert done.returncode in (0, 3), done.stderr
    again = run_hilctl("program", "--rows", 4, "--cols", 4, "--quiet", "--out", "run",
                       cwd=tmp_path)
    assert_one_line_error(again, "--resume run")


def _table(cwd: Path) -> Path:
    done = run_hilctl("data", "import", FIXTURES / "set_sample.csv",
                      FIXTURES / "reset_sample.csv", "--layout", "pulse-train",
                      "--polarity", "SET", "--polarity", "RESET", "--measure", "current",
                      "--measure-unit", "A", "--read-voltage", "0.1V", "--amplitude",
                      "SET=1.2V", "--amplitude", "RESET=1.5V", "--width", "100ns",
                      "--out", "table.csv", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "table.csv"


@pytest.mark.parametrize("command, target", [
    (["characterize", "--rows", 2, "--cols", 2, "--pulses", 10, "--out", "mine.txt"],
     "mine.txt"),
    (["device", "fit", "--data", "table.csv", "--out", "mine.txt"], "mine.txt"),
    (["device", "fit", "--data", "table.csv", "--out", "fit.toml", "--plot", "mine.txt"],
     "mine.txt"),
    (["device", "compare", "--data", "table.csv", "--preset", "hfox-1r", "--plot",
      "mine.txt"], "mine.txt"),
])
def test_an_existing_file_is_replaced_only_with_force(tmp_path, command, target):
    _table(tmp_path)
    own = tmp_path / target
    own.write_text("the user's notes\n")
    done = run_hilctl(*command, cwd=tmp_path)
    assert_one_line_error(done, target, "exists", "--force")
    assert own.read_text() == "the user's notes\n"
    assert not (tmp_path / "fit.toml").exists()
    done = run_hilctl(*command, "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert own.read_bytes() != b"the user's notes\n"


def test_a_fifo_is_never_written(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe")
    done = run_hilctl("characterize", "--rows", 2, "--cols", 2, "--pulses", 10, "--out",
                      "pipe", "--force", cwd=tmp_path, timeout=60)
    assert_one_line_error(done, "pipe", "not a regular file")
