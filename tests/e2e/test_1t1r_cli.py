"""The 1T1R preset from the command line: write-verify is the gate ISPP there (and the amplitude
ramp on 1R), every pulse carries a gate, the gate ISPP programs multi-level bands."""

import numpy as np
import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json

LEVELS = """[levels]
L1 = { lower = "166.4uS", upper = "173.3uS" }
L2 = { lower = "107.4uS", upper = "117.5uS" }
"""
RUN = """[array]
preset = "hfox-1t1r"
[protocol]
gate_V = 3.3
[protocol.block_reset]
amplitude_V = 2.0
width_s = 2e-7
gate_V = 3.5
[protocol.wl]
set_V = 2.0
gate_start_V = 1.55
gate_step_V = 0.005
gate_max_V = 3.0
reset_gate_V = 3.5
reset_step_V = 0.05
reset_start_V = 0.6
"""


@pytest.mark.slow
def test_write_verify_is_the_variant_that_suits_the_array(tmp_path):
    (tmp_path / "1r.toml").write_text('[array]\npreset = "hfox-1r"\n')
    on_1t1r = run_json("program", "--rows", 8, "--cols", 8, "--out", "a", "--quiet",
                       cwd=tmp_path)  # the default preset
    on_1r = run_json("program", "--config", "1r.toml", "--rows", 8, "--cols", 8, "--out", "b",
                     "--quiet", cwd=tmp_path)
    assert on_1t1r["protocol"] == "write-verify-wl" and on_1r["protocol"] == "write-verify"
    assert on_1t1r["success_rate"] > 0.85 and on_1r["success_rate"] > 0.85


def test_protocols_that_plan_no_gate_send_the_configured_one(tmp_path):
    (tmp_path / "run.toml").write_text('[array]\npreset = "hfox-1t1r"\n[protocol]\n'
                                       'gate_V = 9.0\n')
    done = run_hilctl("program", "--config", "run.toml", "--protocol", "write-verify-adaptive",
                      "--rows", 4, "--cols", 4, "--out", "r", "--quiet", cwd=tmp_path)
    assert_one_line_error(done, "gate_V", "9")


def test_gate_ispp_programs_two_levels_on_the_1t1r_preset(tmp_path):
    (tmp_path / "levels.toml").write_text(LEVELS)
    (tmp_path / "run.toml").write_text(RUN)
    np.save(tmp_path / "map.npy", np.arange(16 * 16).reshape(16, 16) % 2)
    summary = run_json("program", "--config", "run.toml", "--rows", 16, "--cols", 16,
                       "--levels", "levels.toml", "--level-map", "map.npy",
                       "--protocol", "write-verify-wl", "--out", "r", "--quiet", cwd=tmp_path)
    levels = summary["levels"]
    assert levels["L1"]["success_rate"] > 0.9 and levels["L2"]["success_rate"] > 0.9
    # The gate sets the level: the higher band needs the longer ramp.
    assert levels["L1"]["pulses_mean"] > levels["L2"]["pulses_mean"]
    final = np.load(tmp_path / "r" / "conductance.npy")
    l2 = final[np.arange(256).reshape(16, 16) % 2 == 1]
    assert np.median(l2) > 100e-6


@pytest.mark.slow
def test_characterize_sweeps_the_gate_and_the_predictor_plans_it(tmp_path):
    summary = run_json("characterize", "--pulses", 3000, "--rows", 16, "--cols", 16,
                       "--out", "t.csv", cwd=tmp_path)  # the default preset
    assert summary["preset"] == "hfox-1t1r" and summary["rows"] == 3000
    table = np.genfromtxt(tmp_path / "t.csv", delimiter=",", names=True, dtype=None,
                          encoding="utf-8")
    set_gates = table["gate_V"][table["polarity"] == "SET"]
    assert np.isfinite(table["gate_V"]).all() and np.unique(set_gates).size > 100
    trained = run_json("predictor", "train", "--data", "t.csv", "--out", "p", "--epochs", 2,
                       cwd=tmp_path)
    assert trained["knob"] == {"SET": "gate", "RESET": "amplitude"}
