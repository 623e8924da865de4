"""A gate sweep of a 1T1R array as a user runs it: ``hilctl characterize`` from the
high-resistance state on a gate grid, ``hilctl device fit`` of the 1T1R model, ``hilctl device
compare``, and the mistakes that must end in one line and no file."""

from pathlib import Path

import numpy as np
import pytest

from hilctl.drivers.pulse_table import PulseTable
from hilctl.simulated_backend.one_t_one_r import OneTOneRParams
from hilctl.simulated_backend.presets import load_preset
from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json

SWEEP = """[array]
rows = 16
cols = 16
preset = "hfox-1t1r"
[characterize]
sampling = "grid"
grid_points = 41
start = "hrs"
repeats = 2
set_V = [2.0, 2.0]
width_s = [1e-6, 1e-6]
set_gate_V = [1.4, 2.2]
[characterize.reset]
amplitude_V = 2.0
width_s = 2e-7
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("gate-sweep")
    (cwd / "sweep.toml").write_text(SWEEP)
    summary = run_json("characterize", "--config", "sweep.toml", "--pulses", "8000",
                       "--out", "sweep.csv", cwd=cwd)
    assert summary["rows"] == 16000 and summary["gate_V"] == [1.4, 4.0]
    return cwd


def test_characterize_fills_the_gate_of_every_row(sweep_dir):
    table = PulseTable.read_csv(sweep_dir / "sweep.csv")
    is_set = table.polarity > 0
    assert np.isfinite(table.gate).all()
    assert np.unique(table.gate[is_set]).size == 41
    np.testing.assert_array_equal(table.gate[~is_set], 4.0)  # the RESET gate fully on


def test_fit_picks_the_1t1r_model_and_writes_a_1t1r_preset(sweep_dir):
    done = run_hilctl("device", "fit", "--data", "sweep.csv", "--out", "fit.toml",
                      cwd=sweep_dir)
    assert done.returncode == 0, done.stderr
    assert "SET 2.0 V, 1000 ns gate 1.8" in done.stdout
    assert "pulse settings (" in done.stdout and "note: SET plateau" in done.stdout
    fitted = load_preset(sweep_dir / "fit.toml")
    assert isinstance(fitted, OneTOneRParams)
    assert fitted.transistor_threshold_V == pytest.approx(1.597, abs=0.02)


@pytest.mark.slow  # the comparison plot takes most of its time
def test_compare_prints_the_per_setting_table_for_a_1t1r_preset(sweep_dir):
    done = run_hilctl("device", "compare", "--data", "sweep.csv", "--preset", "hfox-1t1r",
                      "--plot", "cmp.png", cwd=sweep_dir)
    assert done.returncode == 0, done.stderr
    assert "SET 2.0 V, 1000 ns gate 1.8" in done.stdout and "median KS" not in done.stdout


def test_a_1t1r_fit_of_a_table_without_gates_is_one_line_and_writes_nothing(sweep_dir):
    table = PulseTable.read_csv(sweep_dir / "sweep.csv")
    table.gate[:] = np.nan
    table.write_csv(sweep_dir / "no-gate.csv")
    done = run_hilctl("device", "fit", "--data", "no-gate.csv", "--model", "1t1r",
                      "--out", "no-gate.toml", cwd=sweep_dir)
    assert_one_line_error(done, "gate_V column is empty", "--model 1r")
    assert not (sweep_dir / "no-gate.toml").exists()


def test_a_base_preset_of_the_other_cell_kind_is_one_line(sweep_dir):
    done = run_hilctl("device", "fit", "--data", "sweep.csv", "--model", "1t1r", "--base",
                      "hfox-1r", "--out", "mixed.toml", cwd=sweep_dir)
    assert_one_line_error(done, "hfox-1r", "1R preset", "hfox-1t1r")
    assert not (sweep_dir / "mixed.toml").exists()


def test_a_gate_beyond_the_limits_is_one_line_and_writes_nothing(tmp_path):
    done = run_hilctl("characterize", "--preset", "hfox-1t1r", "--rows", "4", "--cols", "4",
                      "--pulses", "10", "--set-gate", "1V", "3.5V", "--out", "t.csv",
                      cwd=tmp_path)
    assert_one_line_error(done, "set_gate_V", "3.5", "limits.gate_set_max_V")
    assert not (tmp_path / "t.csv").exists()


def test_a_negative_transistor_threshold_is_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text('[device]\ncell = "1T1R"\ntransistor_threshold_V = -0.1\n')
    done = run_hilctl("characterize", "--preset", "bad.toml", "--pulses", "10", "--out", "t.csv",
                      cwd=tmp_path)
    assert_one_line_error(done, "transistor_threshold_V", "-0.1")
    (tmp_path / "run.toml").write_text('[array]\npreset = "hfox-1t1r"\n'
                                       "[device]\ntransistor_threshold_V = -0.1\n")
    done = run_hilctl("characterize", "--config", "run.toml", "--pulses", "10", "--out", "t.csv",
                      cwd=tmp_path)
    assert_one_line_error(done, "transistor_threshold_V")
    assert not (tmp_path / "t.csv").exists()
