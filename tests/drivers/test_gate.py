"""Exact transcripts of the gate (word line of a 1T1R cell) on the board's line protocol."""

import numpy as np
import pytest

from hilctl.drivers import (
    Cells,
    ConfigError,
    InstrumentError,
    Polarity,
    PulseBatch,
    SafetyLimitError,
    SafetyLimits,
)
from hilctl.drivers.board import CrossbarBoard
from hilctl.drivers.instrument_crossbar import InstrumentCrossbar
from hilctl.drivers.keithley2600 import Keithley2600

NAME = "board at TEST"
LIMITS = SafetyLimits(set_max_V=2.0, reset_max_V=2.5, compliance_A=1e-4, gate_set_max_V=2.5,
                      gate_reset_max_V=2.5)
CELLS = Cells(np.array([0, 2]), np.array([1, 3]))
GATED = PulseBatch(CELLS, np.array([1, -1]), np.array([1.5, 0.9]), np.array([1e-7, 1e-6]),
                   gate=np.array([1.2, 2.5]))


def test_limits_reply_carries_the_word_line_range_and_older_boards_still_answer(transcript):
    io = transcript(NAME, [("LIMITS?", "OK 3.0e+00 3.0e+00 1.0e-08 1.0e-03 2.8e+00"),
                           ("LIMITS?", "OK 3.0e+00 3.0e+00 1.0e-08 1.0e-03"),
                           ("LIMITS?", "OK 3.0e+00 3.0e+00 1.0e-08")])
    board = CrossbarBoard(io, LIMITS)
    assert board.hardware_limits()["gate_set_max_V"] == 2.8
    assert "gate_set_max_V" not in board.hardware_limits()
    with pytest.raises(InstrumentError, match="expected 4 or 5 numbers"):
        board.hardware_limits()


def test_every_pulse_path_sends_its_gate_in_the_entry_of_its_cell(transcript):
    io = transcript(NAME, [
        ("PULSE SET 1.500000e+00 1.000000e-06 1.200000e+00", "OK PULSE"),
        ("SEQ 0,1,1.200000e+00;2,3,2.500000e+00", "OK SEQ 2"),
        ("BATCH 0,1,S,1.500000e+00,1.000000e-07,1.200000e+00;"
         "2,3,R,9.000000e-01,1.000000e-06,2.500000e+00", "OK BATCH 2"),
        ("SEQ 0,1;2,3", "OK SEQ 2"),
    ])
    board = CrossbarBoard(io, LIMITS)
    board.pulse(Polarity.SET, 1.5, 1e-6, 1.2)
    board.load_sequence(CELLS, GATED.gate)
    board.pulse_batch(GATED)
    board.load_sequence(CELLS)


@pytest.mark.parametrize("gate", [2.6, -0.1, np.nan])
def test_a_gate_outside_the_limits_sends_nothing(transcript, gate):
    board = CrossbarBoard(transcript(NAME, []), LIMITS)
    bad = np.array([1.0, gate])
    match = (r"board at TEST: refusing gate .* \(step 2\): gates must lie in "
             r"\[0.000000e\+00, 2.500000e\+00\]")
    with pytest.raises(SafetyLimitError, match=match):
        board.load_sequence(CELLS, bad)
    with pytest.raises(SafetyLimitError, match=match):
        board.pulse_batch(PulseBatch(CELLS, 1, 1.0, 1e-7, gate=bad))
    with pytest.raises(SafetyLimitError, match=r"refusing gate .* \(step 1\)"):
        board.pulse(Polarity.SET, 1.0, 1e-7, gate)


class PointSMU:
    """A point SMU that is never asked to source: the board pulses on the 2400 path."""

    model, name = "2400", "point SMU"

    def make_safe(self) -> None:
        """Nothing is sourced."""


def test_the_point_smu_rig_pulses_with_the_gate_through_the_board(transcript):
    board = CrossbarBoard(transcript(NAME, [
        ("SHAPE?", "OK 4 4"), ("LIMITS?", "OK 3.0e+00 3.0e+00 1.0e-08 1.0e-03 3.0e+00"),
        ("BATCH 0,1,S,1.500000e+00,1.000000e-07,1.200000e+00;"
         "2,3,R,9.000000e-01,1.000000e-06,2.500000e+00", "OK BATCH 2"),
    ]), LIMITS)
    InstrumentCrossbar(PointSMU(), board, LIMITS).apply(GATED)


def test_the_batching_smu_rig_routes_each_cell_with_its_gate(transcript):
    board = CrossbarBoard(transcript(NAME, [
        ("SHAPE?", "OK 4 4"), ("LIMITS?", "OK 1.0e+00 1.0e+00 1.0e-06 1.0e-06 3.0e+00"),
        ("SEQ 0,1,1.200000e+00;2,3,2.500000e+00", "OK SEQ 2"),
    ]), LIMITS)
    smu = Keithley2600(transcript("Keithley 2600 at TEST", [
        ("hv = {}", None), ("hilctl_put(hv, 1.500000e+00, -9.000000e-01)", None),
        ("hw = {}", None), ("hilctl_put(hw, 1.000000e-07, 1.000000e-06)", None),
        ("hilctl_run(2, 2.000000e-01)", "2.000000e-06 0 1.000000e-06 0 0"),
    ]), LIMITS, "a", aperture_s=2e-4)
    crossbar = InstrumentCrossbar(smu, board, LIMITS)
    crossbar.apply(GATED)
    np.testing.assert_allclose(crossbar.read(CELLS).conductance, [1e-5, 5e-6])


def test_the_rig_refuses_a_gate_beyond_the_limits_before_the_wire(transcript):
    board = CrossbarBoard(transcript(NAME, [("SHAPE?", "OK 4 4"), ("LIMITS?", "OK 3 3 1e-8 1")]),
                          LIMITS)
    smu = Keithley2600(transcript("Keithley 2600 at TEST", []), LIMITS, "a", aperture_s=2e-4)
    with pytest.raises(SafetyLimitError, match="gate exceeds the polarity.s gate limit"):
        InstrumentCrossbar(smu, board, LIMITS).apply(
            PulseBatch(CELLS, 1, 1.0, 1e-7, gate=np.array([1.0, 2.6])))


@pytest.mark.parametrize("smu", [PointSMU(), Keithley2600(None, LIMITS)])
def test_a_gate_limit_looser_than_the_word_line_driver_is_refused_on_both_paths(transcript,
                                                                                smu):
    board = CrossbarBoard(transcript(NAME, [
        ("SHAPE?", "OK 4 4"), ("LIMITS?", "OK 3.0e+00 3.0e+00 1.0e-08 1.0e-03 2.0e+00")]), LIMITS)
    with pytest.raises(ConfigError, match=r"rig.limits.gate_set_max_V = 2.500e\+00 lies outside"):
        InstrumentCrossbar(smu, board, LIMITS)
