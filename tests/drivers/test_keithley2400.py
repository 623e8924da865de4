"""Exact SCPI transcripts of the 2400 driver."""

import pytest

from hilctl.drivers import InstrumentError, InstrumentTimeout, SafetyLimitError, SafetyLimits
from hilctl.drivers.keithley2400 import Keithley2400

NAME = "Keithley 2400 at TEST"
LIMITS = SafetyLimits(set_max_V=2.0, reset_max_V=2.5, compliance_A=1e-4, read_V=0.2)
CONFIG = [
    ("*CLS", None),
    (":SOUR:FUNC VOLT", None),
    (':SENS:FUNC "CURR"', None),
    (":SENS:CURR:PROT 1.000000e-04", None),
    (":SENS:CURR:NPLC 1.000000e-02", None),
    (":FORM:ELEM CURR", None),
    (":SOUR:VOLT 0.000000e+00", None),
    (":OUTP:SMOD ZERO", None),
    (":OUTP OFF", None),
]
MEASURE = ":MEAS:CURR?;:SENS:CURR:PROT:TRIP?"


def smu(io):
    return Keithley2400(io, LIMITS, aperture_s=2e-4)


def test_configure_sets_protection_zero_off_state_and_drains_errors(transcript):
    smu(transcript(NAME, [*CONFIG, (":SYST:ERR?", '0,"No error"')])).configure()


def test_configure_reports_queued_errors(transcript):
    io = transcript(NAME, [*CONFIG, (":SYST:ERR?", '-113,"Undefined header"'),
                           (":SYST:ERR?", '0,"No error"')])
    with pytest.raises(InstrumentError, match='2400 at TEST: error after configuration: '
                                              '-113,"Undefined header"'):
        smu(io).configure()


def test_measure_switches_output_on_once_and_reads_current_with_trip(transcript):
    io = transcript(NAME, [
        (":SOUR:VOLT 2.000000e-01", None), (":OUTP ON", None), (MEASURE, "3.000000e-06;0"),
        (":SOUR:VOLT 2.000000e-01", None), (MEASURE, "1.000000e-04;1"),
    ])
    driver = smu(io)
    assert driver.measure(0.2) == (3e-6, False)
    assert driver.measure(0.2) == (1e-4, True)


def test_garbage_and_silence_name_instrument_and_command(transcript):
    io = transcript(NAME, [(":SOUR:VOLT 2.000000e-01", None), (":OUTP ON", None),
                           (MEASURE, "3.0e-06"),
                           (":SOUR:VOLT 2.000000e-01", None), (MEASURE, TimeoutError())])
    driver = smu(io)
    with pytest.raises(InstrumentError, match=r"2400 at TEST: reply to ':MEAS:CURR\?;.*expected "
                                              "2 numbers"):
        driver.measure(0.2)
    with pytest.raises(InstrumentTimeout, match=r"2400 at TEST: no reply to ':MEAS:CURR\?"):
        driver.measure(0.2)


def test_make_safe_switches_off_zeroes_and_confirms(transcript):
    io = transcript(NAME, [(":OUTP OFF", None), (":SOUR:VOLT 0.000000e+00", None),
                           (":OUTP?", "1")])
    with pytest.raises(InstrumentError, match="output still on"):
        smu(io).make_safe()


def test_make_safe_tries_every_step_and_names_the_one_that_failed(transcript):
    io = transcript(NAME, [(":OUTP OFF", BrokenPipeError("link down")),
                           (":SOUR:VOLT 0.000000e+00", None), (":OUTP?", "0")])
    with pytest.raises(InstrumentError, match=r"2400 at TEST: output off failed \(.*link down"):
        smu(io).make_safe()


def test_a_reply_that_is_not_ascii_is_a_named_error(transcript):
    bad = UnicodeDecodeError("ascii", b"\xff\xfe1", 0, 1, "ordinal not in range(128)")
    io = transcript(NAME, [(":OUTP?", bad)])
    with pytest.raises(InstrumentError, match=r"2400 at TEST: reply to ':OUTP\?' is not ASCII"):
        io.query(":OUTP?")


def test_sourcing_beyond_limits_sends_nothing(transcript):
    driver = smu(transcript(NAME, []))
    with pytest.raises(SafetyLimitError, match=r"refusing to source 2.100000e\+00 V"):
        driver.measure(2.1)


def test_the_nplc_sent_counts_cycles_of_the_configured_line_frequency(transcript):
    at_60_hz = [(line.replace("1.000000e-02", "1.000000e+00")
                 if "NPLC" in line else line, reply) for line, reply in CONFIG]
    io = transcript(NAME, [*at_60_hz, (":SYST:ERR?", '0,"No error"')])
    Keithley2400(io, LIMITS, aperture_s=1 / 60, line_frequency_Hz=60.0).configure()
