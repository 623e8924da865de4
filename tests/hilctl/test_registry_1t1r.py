"""The 1T1R protocols and the block RESET as configured, built by name."""

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells, ConfigError, Polarity
from hilctl.protocols import FixedPulseVerify, GateIspp, IncrementalStep, LevelGates, OneShot
from hilctl.registry import build_protocol

LEVELS = {"L0": {"lower": "30uS"}, "L1": {"lower": "10uS", "upper": "12uS"}}


def _build(protocol: dict, **extra):
    config = build_config({"array": {"rows": 4, "cols": 4}, "protocol": protocol, **extra})
    crossbar = Job(config).open_crossbar()
    return build_protocol(Job(config), crossbar), crossbar


def test_one_shot_block_reset_and_default_gate_come_from_configuration():
    protocol, crossbar = _build({"name": "one-shot", "planner": "heuristic", "gate_V": 2.5,
                                 "block_reset": {"amplitude_V": 1.8, "width_s": 2e-6}})
    assert isinstance(protocol, OneShot)
    reset = protocol.preparation(Cells.all((4, 4)), crossbar.limits)
    assert np.all(reset.polarity == Polarity.RESET)
    assert np.allclose(reset.amplitude, 1.8) and np.allclose(reset.width, 2e-6)
    assert np.allclose(reset.gate, 2.5)  # the block RESET's gate defaults to protocol.gate_V


def test_wl_and_fppv_by_name_with_level_gates():
    wl, _ = _build({"name": "write-verify-wl", "gate_V": 3.0, "wl": {"gate_step_V": 0.05}})
    assert isinstance(wl, GateIspp) and wl.gate_step_V == 0.05 and wl.reset.gate_V == 3.0
    fppv, _ = _build({"name": "fppv", "gate_V": 3.0, "fppv": {"gates_V": [2.0, 1.2],
                                                             "max_tries": 4}}, levels=LEVELS)
    assert isinstance(fppv, FixedPulseVerify) and isinstance(fppv.planner, LevelGates)
    assert fppv.max_pulses == 7 and np.allclose(fppv.planner.gates_V, [2.0, 1.2])


def test_wl_start_gates_and_fppv_nudge_by_configuration():
    wl, _ = _build({"name": "write-verify-wl", "gate_V": 3.0,
                    "wl": {"start_gates_V": [2.0, 1.2], "reset_width_s": 1e-5}}, levels=LEVELS)
    assert np.allclose(wl.start_gates.gates_V, [2.0, 1.2]) and wl.reset_width_s == 1e-5
    fppv, _ = _build({"name": "fppv", "gate_V": 3.0, "fppv": {
        "gates_V": [2.0, 1.2], "nudge_V": 0.005, "reset_on_undershoot": False}}, levels=LEVELS)
    assert fppv.nudge_V == 0.005 and not fppv.reset_on_undershoot


def test_level_gates_without_levels_is_a_clear_error():
    with pytest.raises(ConfigError, match="needs \\[levels\\]"):
        _build({"name": "fppv", "fppv": {"gates_V": [2.0]}})
    with pytest.raises(ConfigError, match="wl.start_gates_V .* needs \\[levels\\]"):
        _build({"name": "write-verify-wl", "wl": {"start_gates_V": [2.0]}})


def test_write_verify_is_the_gate_ramp_on_1t1r_and_the_amplitude_ramp_on_1r():
    on_1t1r, _ = _build({"name": "write-verify"})  # the default preset is 1T1R
    config = build_config({"array": {"rows": 4, "cols": 4, "preset": "hfox-1r"},
                           "protocol": {"name": "write-verify"}})
    on_1r = build_protocol(Job(config), Job(config).open_crossbar())
    assert isinstance(on_1t1r, GateIspp) and on_1t1r.name == "write-verify-wl"
    assert isinstance(on_1r, IncrementalStep) and on_1r.gate_V is None


def test_protocols_that_plan_no_gate_send_the_fully_on_gate_on_1t1r():
    adaptive, crossbar = _build({"name": "write-verify-adaptive"})
    assert adaptive.gate_V == 3.3  # hfox-1t1r's read gate: the transistor fully on
    one_shot, _ = _build({"name": "one-shot", "planner": "heuristic"})
    reset = one_shot.preparation(Cells.all((4, 4)), crossbar.limits)
    assert np.allclose(reset.gate, 3.3)
