"""``hilctl export`` and ``--resume`` of a run directory copied to another place."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from tests.e2e.cli import assert_one_line_error, hilctl_command, hilctl_env, run_hilctl, run_json


def test_export_writes_every_pulse_and_refuses_hdf5_without_h5py(tmp_path):
    (tmp_path / "run.toml").write_text('[array]\npreset = "hfox-1r"\n')
    run_json("program", "--config", "run.toml", "--rows", "6", "--cols", "6", "--seed", "2",
             "--out", "run", "--quiet", cwd=tmp_path)
    done = run_json("export", "run", cwd=tmp_path)
    [written] = done["files"]
    table = np.genfromtxt(tmp_path / written, delimiter=",", names=True)
    last = np.full((6, 6), np.nan)
    last[table["row"].astype(int), table["col"].astype(int)] = table["g_read_S"]
    np.testing.assert_array_equal(last, np.load(tmp_path / "run" / "conductance.npy"))

    hidden = tmp_path / "no-h5py" / "h5py"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('h5py is not installed')\n")
    env = {**hilctl_env(), "PYTHONPATH": str(hidden.parent)}
    refused = subprocess.run(hilctl_command("export", "run", "--format", "hdf5"), cwd=tmp_path,
                             env=env, capture_output=True, text=True)
    assert_one_line_error(refused, "needs h5py")
    assert not (tmp_path / "run" / "pulses.h5").exists()


def test_a_run_copied_elsewhere_resumes_there_from_any_directory(tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "fitted.toml").write_text("[device]\nc2c_relative = 0.12\n")
    (lab / "run.toml").write_text('[array]\nrows = 4\ncols = 4\npreset = "fitted.toml"\n')
    made = run_json("program", "--config", "lab/run.toml", "--out", "run", "--quiet",
                    cwd=tmp_path)
    shutil.copytree(tmp_path / "run", tmp_path / "moved" / "run")
    shutil.rmtree(lab)
    (tmp_path / "other").mkdir()
    resumed = run_json("program", "--resume", "../moved/run", "--quiet", cwd=tmp_path / "other")
    assert resumed["success_rate"] == made["success_rate"]
    assert run_hilctl("export", "../moved/run", cwd=tmp_path / "other").returncode == 0
