"""Run directories and --out directories holding symlinks or special files are refused."""

import os

import pytest

from hilctl.drivers import DataError
from hilctl.drivers.atomic_file import check_output_directory
from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json


def test_a_fresh_run_into_a_symlinked_out_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run").symlink_to(tmp_path / "elsewhere")
    done = run_hilctl("program", "--rows", 4, "--cols", 4, "--out", "run", cwd=tmp_path)
    assert_one_line_error(done, "symbolic link")
    assert not any((tmp_path / "elsewhere").iterdir())


def test_resume_of_a_run_whose_targets_are_a_symlink_is_refused(tmp_path):
    run_json("program", "--rows", 4, "--cols", 4, "--out", "run", cwd=tmp_path)
    targets = tmp_path / "run" / "targets.npy"
    targets.rename(tmp_path / "other.npy")
    targets.symlink_to(tmp_path / "other.npy")
    done = run_hilctl("program", "--resume", "run", cwd=tmp_path)
    assert_one_line_error(done, "targets.npy", "symbolic link")


def test_a_model_directory_holding_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(DataError, match="not a regular file"):
        check_output_directory(tmp_path, "model.json", "model")
