"""Exact line-protocol transcripts of the board driver."""

import numpy as np
import pytest

from hilctl.drivers import (
    Cells,
    InstrumentError,
    Polarity,
    PulseBatch,
    SafetyLimitError,
    SafetyLimits,
)
from hilctl.drivers.board import CrossbarBoard

NAME = "board at TEST"
LIMITS = SafetyLimits(set_max_V=2.0, reset_max_V=2.5)


def test_identity_firmware_shape_and_limits(transcript):
    io = transcript(NAME, [("*IDN?", "OK hilctl,XB-8x8,0001,1.4.0"), ("FW?", "OK 1.4.0"),
                           ("SHAPE?", "OK 8 16"),
                           ("LIMITS?", "OK 3.0e+00 3.0e+00 1.0e-08 1.0e-03")])
    board = CrossbarBoard(io, LIMITS)
    assert board.identify() == "hilctl,XB-8x8,0001,1.4.0"
    assert board.firmware() == "1.4.0"
    assert board.shape() == (8, 16)
    assert board.hardware_limits()["width_max_s"] == 1e-3


def test_select_mode_pulse_read_and_off(transcript):
    io = transcript(NAME, [("SEL 3 4", "OK SEL 3 4"), ("MODE PULSE", "OK MODE PULSE"),
                           ("PULSE RESET 1.200000e+00 1.000000e-07", "OK PULSE"),
                           ("MODE READ", "OK MODE READ"),
                           ("READ 2.000000e-01", "OK 4.000000e-06 0"), ("OFF", "OK OFF")])
    board = CrossbarBoard(io, LIMITS)
    board.select(3, 4)
    board.mode("PULSE")
    board.pulse(Polarity.RESET, 1.2, 1e-7)
    board.mode("READ")
    assert board.read(0.2) == (4e-6, False)
    board.off()


def test_sequence_and_batch_are_one_line_each(transcript):
    cells = Cells(np.array([0, 2]), np.array([1, 3]))
    io = transcript(NAME, [
        ("SEQ 0,1;2,3", "OK SEQ 2"),
        ("BATCH 0,1,S,1.500000e+00,1.000000e-07;2,3,R,9.000000e-01,1.000000e-06",
         "OK BATCH 2"),
    ])
    board = CrossbarBoard(io, LIMITS)
    board.load_sequence(cells)
    board.pulse_batch(PulseBatch(cells, np.array([1, -1]), np.array([1.5, 0.9]),
                                 np.array([1e-7, 1e-6])))


def test_err_replies_raise_with_code_text_and_command(transcript):
    io = transcript(NAME, [("SEL 9 9", "ERR 102 cell (9, 9) outside the 8x8 array")])
    with pytest.raises(InstrumentError, match=r"board at TEST: 'SEL 9 9' refused: ERR 102 cell"):
        CrossbarBoard(io, LIMITS).select(9, 9)


def test_garbage_and_short_acknowledgements_are_errors(transcript):
    io = transcript(NAME, [("OFF", "\x15#?"), ("SEQ 0,1", "OK SEQ 3")])
    board = CrossbarBoard(io, LIMITS)
    with pytest.raises(InstrumentError, match="reply to 'OFF' was .*expected 'OK"):
        board.off()
    with pytest.raises(InstrumentError, match="SEQ of 1 cells answered 'SEQ 3'"):
        board.load_sequence(Cells(np.array([0]), np.array([1])))


def test_on_board_pulses_beyond_limits_send_nothing(transcript):
    board = CrossbarBoard(transcript(NAME, []), LIMITS)
    with pytest.raises(SafetyLimitError, match="board at TEST: refusing to source 2.1"):
        board.pulse(Polarity.SET, 2.1, 1e-7)
    cells = Cells(np.array([0]), np.array([0]))
    with pytest.raises(SafetyLimitError, match="board at TEST: refusing a 1.000000e-09 s pulse"):
        board.pulse_batch(PulseBatch(cells, 1, 1.0, 1e-9))
