"""Faults injected into the emulated instruments: each ends with the rig safe (SMU output off
at 0 V, board disconnected) and a clear error naming the instrument and the command."""

import logging
import time

import numpy as np
import pytest

from hilctl import protocols
from hilctl.drivers import (
    Cells,
    ConfigError,
    InstrumentError,
    InstrumentTimeout,
    PulseBatch,
    SafetyLimits,
)
from hilctl.drivers.instrument_crossbar import open_instrument_crossbar
from hilctl.simulated_backend.emulators import EmulatedRig

SHAPE = (4, 4)
LIMITS = SafetyLimits()
CELLS = Cells.all(SHAPE)
PULSES = PulseBatch(CELLS, 1, 1.2, 1e-7)
# The command each SMU answers during a programming round.
ROUND_COMMAND = {"2600": "hilctl_run", "2400": ":MEAS:CURR?"}
SMU_NAME = {"2600": "Keithley 2600 at TCPIP0::127.0.0.1::", "2400": "Keithley 2400 at TCPIP0::"}


@pytest.fixture(params=["2600", "2400"])
def rig(request):
    with EmulatedRig(SHAPE, seed=1, smu=request.param) as rig:
        yield rig


def open_crossbar(rig):
    return open_instrument_crossbar(smu_model=rig.model, smu_resource=rig.smu_resource,
                                    board_url=rig.board_url, limits=LIMITS, margin_s=0.3)


def one_round(crossbar):
    crossbar.apply(PULSES)
    return crossbar.read(CELLS)


def assert_safe(rig):
    assert not rig.smu.output
    level = rig.smu.levelv if rig.model == "2600" else rig.smu.level
    assert level == 0.0
    assert rig.array.selected is None and not rig.array.sequence


@pytest.mark.parametrize("kind, error, message", [
    ("no_reply", InstrumentTimeout, "no reply to '{cmd}"),
    ("garbage", InstrumentError, "reply to '{cmd}.*garbage"),
    ("drop", InstrumentError, "(no reply to|connection failed awaiting the reply to) '{cmd}"),
    ("error", InstrumentError, "error after .*injected"),
])
def test_smu_fault_mid_round_leaves_the_rig_safe(rig, kind, error, message):
    with open_crossbar(rig) as crossbar:
        rig.smu.faults.arm(kind, ROUND_COMMAND[rig.model])
        with pytest.raises(error, match=SMU_NAME[rig.model] + ".*" + message.format(
                cmd=ROUND_COMMAND[rig.model].replace("?", r"\?"))):
            one_round(crossbar)
        assert_safe(rig)
        assert rig.smu.faults.fired[0][0] == kind


def test_after_a_drop_the_driver_reconnects_and_the_link_works_again(rig):
    with open_crossbar(rig) as crossbar:
        rig.smu.faults.arm("drop", ROUND_COMMAND[rig.model])
        with pytest.raises(InstrumentError):
            one_round(crossbar)
        assert_safe(rig)
        assert len(one_round(crossbar)) == len(CELLS)


def test_board_error_names_the_board_and_command(rig):
    with open_crossbar(rig) as crossbar:
        command = "SEQ" if rig.model == "2600" else "BATCH"
        rig.board.faults.arm("error", command)
        with pytest.raises(InstrumentError,
                           match=f"board at socket://127.0.0.1:.*'{command} .*ERR 110 hardware"):
            one_round(crossbar)
        assert_safe(rig)


def test_compliance_hit_is_flagged_and_logged_not_hidden(rig, caplog):
    with open_crossbar(rig) as crossbar:
        rig.smu.faults.arm("compliance", ROUND_COMMAND[rig.model])
        with caplog.at_level(logging.WARNING, "hilctl.instruments"):
            reading = one_round(crossbar)
        assert reading.compliance.sum() == 1
        assert reading.conductance[reading.compliance][0] == pytest.approx(
            LIMITS.compliance_A / LIMITS.read_V)
        assert "read in current compliance" in caplog.text and SMU_NAME[rig.model] in caplog.text
    assert_safe(rig)


def test_ctrl_c_mid_read_switches_the_output_off():
    with EmulatedRig(SHAPE, seed=1, smu="2400") as rig, open_crossbar(rig) as crossbar:
        real_measure, calls = crossbar.smu.measure, []

        def interrupted_measure(volts):
            calls.append(volts)
            if len(calls) == 3:
                assert rig.smu.output  # the read is under way
                raise KeyboardInterrupt
            return real_measure(volts)

        crossbar.smu.measure = interrupted_measure
        with pytest.raises(KeyboardInterrupt):
            crossbar.read(CELLS)
        assert_safe(rig)


def test_a_rig_that_cannot_be_made_safe_says_so_once_and_still_switches_the_smu_off(rig):
    with pytest.raises(InstrumentError) as raised:
        with open_crossbar(rig) as crossbar:
            rig.board.faults.arm("error", "OFF", times=10)
            rig.smu.faults.arm("no_reply", ROUND_COMMAND[rig.model])
            one_round(crossbar)
    message = str(raised.value)
    assert "no reply to" in message
    assert "could not be made safe -- switch the SMU output off by hand (board:" in message
    assert "SMU:" not in message  # the SMU part succeeded
    assert not rig.smu.output


def test_a_reply_that_comes_after_its_timeout_is_never_taken_for_a_later_query(rig):
    with open_crossbar(rig) as crossbar:
        rig.smu_server.latency_s = 3.0
        with pytest.raises(InstrumentTimeout, match=r"no reply to '\*IDN\?'"):
            crossbar.smu.io.query("*IDN?")
        rig.smu_server.latency_s = 0.0
        time.sleep(3.2)  # the late identity line has landed on the old link by now
        crossbar.smu.make_safe()  # parses one number: an identity line would be garbage
        assert len(one_round(crossbar)) == len(CELLS)


def test_an_exception_in_the_caller_leaves_the_rig_safe(rig):
    with pytest.raises(RuntimeError, match="analysis failed"):
        with open_crossbar(rig) as crossbar:
            crossbar.smu.measure(0.2)
            assert rig.smu.output
            raise RuntimeError("analysis failed")
    assert_safe(rig)


def test_a_run_stopped_by_a_fault_continues_from_its_last_complete_round():
    targets = np.full(len(CELLS), 20e-6)
    states = []

    def keep(record):
        states.append(protocols.ProgramState.from_arrays(
            {k: np.copy(v) for k, v in record.state.to_arrays().items()}))

    with EmulatedRig(SHAPE, seed=2, smu="2600") as rig:
        # the initial read and round 1 pass; round 2's pulse-and-read never answers
        rig.smu.faults.arm("no_reply", "hilctl_run", skip=2)
        with open_crossbar(rig) as crossbar, pytest.raises(InstrumentTimeout):
            protocols.program(protocols.IncrementalStep(), crossbar, CELLS, targets,
                              observer=keep)
        assert_safe(rig)
        assert states[-1].rounds == 1
        with open_crossbar(rig) as crossbar:
            result = protocols.program(protocols.IncrementalStep(), crossbar, CELLS, targets,
                                       state=states[-1])
        assert result.rounds > 2 and result.success.mean() > 0.8


def test_a_config_looser_than_the_board_generator_is_refused_before_any_pulse():
    loose = SafetyLimits(set_max_V=3.5, reset_max_V=3.5)
    with EmulatedRig(SHAPE, seed=1, smu="2400") as rig, pytest.raises(
            ConfigError, match=r"rig.limits.set_max_V = 3.500e\+00 lies outside the board"):
        open_instrument_crossbar(smu_model="2400", smu_resource=rig.smu_resource,
                                 board_url=rig.board_url, limits=loose)
    assert rig.array.pulses_applied == 0 and not rig.smu.output
