"""A run directory is complete: copied elsewhere, with the files its config named gone, it
resumes and loads; its files follow the user's umask."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

import hilctl
from hilctl.api.runs import start_run
from hilctl.assemble import Job
from hilctl.config import config_from_toml
from hilctl.protocols.engine import OnRound

CONFIG = """[array]
rows = 8
cols = 8
seed = 5
preset = "devices/fitted.toml"

[targets]
file = "targets.npy"
"""


class Stop(Exception):
    """Stands in for a crash in the middle of a run."""


def lab(tmp_path):
    """A lab folder whose config names a fitted preset and a target map by relative paths."""
    folder = tmp_path / "lab"
    (folder / "devices").mkdir(parents=True)
    (folder / "devices" / "fitted.toml").write_text("[device]\nc2c_relative = 0.12\n")
    np.save(folder / "targets.npy", np.random.default_rng(2).uniform(6e-6, 30e-6, (8, 8)))
    (folder / "run.toml").write_text(CONFIG)
    return folder / "run.toml"


def stop_at_round(number):
    def hook(record):
        if record.round == number:
            raise Stop

    return OnRound(hook)


def test_a_copied_run_directory_resumes_and_loads_without_the_files_it_was_made_from(
        tmp_path, monkeypatch):
    config = config_from_toml(lab(tmp_path))
    monkeypatch.chdir(tmp_path)
    whole = start_run(Job(config), tmp_path / "whole").result
    with pytest.raises(Stop):
        start_run(Job(config), tmp_path / "cut", progress=stop_at_round(4))
    shutil.copytree(tmp_path / "cut", tmp_path / "elsewhere" / "cut")
    shutil.rmtree(tmp_path / "lab")
    shutil.rmtree(tmp_path / "cut")
    monkeypatch.chdir(tmp_path / "elsewhere")

    run = hilctl.load_run("cut").resume()
    np.testing.assert_array_equal(run.conductance.ravel(), whole.final_read)
    assert run.summary()["pulses_mean"] == whole.summary()["pulses_mean"]
    here = (tmp_path / "elsewhere" / "cut").resolve()
    assert Path(run.config.array.preset) == here / "inputs" / "array.preset" / "fitted.toml"
    assert Path(run.config.targets.file) == here / "inputs" / "targets.file" / "targets.npy"
    assert 'preset = "inputs/array.preset/fitted.toml"' in (run.path / "config.toml").read_text()


def test_paths_in_a_toml_are_relative_to_the_toml_not_the_working_directory(tmp_path,
                                                                          monkeypatch):
    path = lab(tmp_path)
    monkeypatch.chdir(tmp_path)  # lab/devices/... exists from here, devices/... does not
    config = config_from_toml(path)
    assert config.array.preset == str(tmp_path / "lab" / "devices" / "fitted.toml")
    assert config.targets.file == str(tmp_path / "lab" / "targets.npy")


@pytest.mark.parametrize(("mask", "file_mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_run_files_follow_the_umask(tmp_path, mask, file_mode):
    old = os.umask(mask)
    try:
        run = hilctl.program("sim://?rows=4&cols=4&seed=0&preset=hfox-1r", "random",
                             out=tmp_path / "run")
        run.export(tmp_path / "run" / "pulses.csv")
    finally:
        os.umask(old)
    for name in ("result.json", "conductance.npy", "config.toml", "error_map.png",
                 "pulses.csv"):
        assert stat.S_IMODE((run.path / name).stat().st_mode) == file_mode, name
    assert stat.S_IMODE(run.path.stat().st_mode) == 0o777 & ~mask


def test_the_planners_table_travels_with_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hilctl.characterize("sim://?rows=16&cols=16&seed=9&preset=hfox-1r", pulses=3000,
                        out="table.csv")
    run = hilctl.program("sim://?rows=6&cols=6&seed=1&preset=hfox-1r", "random",
                         protocol="write-verify-planned", planner="lookup",
                         predictor="table.csv", out="run")
    copy = run.path / "inputs" / "protocol.predictor" / "table.csv"
    assert copy.read_bytes() == (tmp_path / "table.csv").read_bytes()
    assert Path(run.config.protocol.predictor) == copy.resolve()
