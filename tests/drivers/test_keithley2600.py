"""Exact TSP transcripts of the 2600 driver."""

import numpy as np
import pytest

from hilctl.drivers import InstrumentError, InstrumentTimeout, SafetyLimitError, SafetyLimits
from hilctl.drivers.keithley2600 import _SCRIPT, Keithley2600

NAME = "Keithley 2600 at TEST"
LIMITS = SafetyLimits(set_max_V=2.0, reset_max_V=2.5, compliance_A=1e-4, read_V=0.2)
SCRIPT = [(line, None) for line in _SCRIPT.format(smu="smua").splitlines()]
CONFIG = [
    ("smua.reset()", None),
    ("errorqueue.clear()", None),
    ("smua.source.func = smua.OUTPUT_DCVOLTS", None),
    ("smua.source.offmode = smua.OUTPUT_ZERO", None),
    ("smua.source.levelv = 0.000000e+00", None),
    ("smua.source.limiti = 1.000000e-04", None),
    ("smua.measure.nplc = 1.000000e-02", None),
    ("smua.source.output = smua.OUTPUT_OFF", None),
    ("digio.trigger[1].mode = digio.TRIG_FALLING", None),
    *SCRIPT,
]


def smu(io):
    return Keithley2600(io, LIMITS, "a", aperture_s=2e-4)


def test_identify(transcript):
    io = transcript(NAME, [("*IDN?", "Keithley Instruments Inc., Model 2636B, 1, 4.0.4")])
    assert smu(io).identify().startswith("Keithley Instruments Inc., Model 2636B")


def test_configure_sets_zero_volt_off_mode_and_compliance_then_drains_the_queue(transcript):
    io = transcript(NAME, [*CONFIG, ("print(errorqueue.count)", "0.00000e+00")])
    smu(io).configure()


def test_configure_reports_every_queued_error(transcript):
    io = transcript(NAME, [*CONFIG, ("print(errorqueue.count)", "2.00000e+00"),
                           ("print(errorqueue.next())", "-2.85000e+02\tTSP Syntax error\t2\t0"),
                           ("print(errorqueue.next())", "-2.86000e+02\tRuntime error\t2\t0")])
    with pytest.raises(InstrumentError, match="2600 at TEST: error after configuration: "
                                              "-2.85000e.02 TSP Syntax error; -2.86.*Runtime"):
        smu(io).configure()


def test_measure_returns_current_and_compliance_in_one_query(transcript):
    io = transcript(NAME, [
        ("smua.source.levelv = 2.000000e-01", None),
        ("smua.source.output = smua.OUTPUT_ON", None),
        ("print(smua.measure.i(), smua.source.compliance)", "1.000000e-04\ttrue"),
    ])
    assert smu(io).measure(0.2) == (1e-4, True)


def test_pulse_and_read_is_one_round_trip_with_exponent_numbers(transcript):
    io = transcript(NAME, [
        ("hv = {}", None),
        ("hilctl_put(hv, 1.500000e+00, -9.000000e-01)", None),
        ("hw = {}", None),
        ("hilctl_put(hw, 1.000000e-07, 2.500000e-08)", None),
        ("hilctl_run(2, 2.000000e-01)", "2.000000e-06 0 1.000000e-04 1 0"),
    ])
    driver = smu(io)
    current, compliance = driver.pulse_and_read(np.array([1.5, -0.9]), np.array([1e-7, 2.5e-8]),
                                                0.2)
    np.testing.assert_allclose(current, [2e-6, 1e-4])
    assert compliance.tolist() == [False, True]
    assert io.round_trips == 1


def test_long_batches_are_sent_in_short_lines_but_one_query():
    sent = []

    class Recorder:
        def write_line(self, text):
            sent.append(text)

        def read_line(self, timeout_s):
            return " ".join(["1e-6 0"] * 200) + " 0"

    from hilctl.drivers.instrument_io import InstrumentIO

    io = InstrumentIO(NAME, Recorder())
    smu(io).pulse_and_read(np.full(200, 1.0), np.full(200, 1e-7), 0.2)
    assert max(len(line) for line in sent) < 1100
    assert io.round_trips == 1


def test_read_batch_reports_a_queued_error_with_the_command(transcript):
    io = transcript(NAME, [
        ("hv = {}", None), ("hw = {}", None),
        ("hilctl_run(1, 2.000000e-01)", "1.000000e-06 0 1"),
        ("print(errorqueue.count)", "1.00000e+00"),
        ("print(errorqueue.next())", "-2.86000e+02\tTSP Runtime error\t2\t0"),
    ])
    with pytest.raises(InstrumentError, match=r"after 'hilctl_run\(1, 2.000000e-01\)'"):
        smu(io).read_batch(1, 0.2)


def test_garbage_reply_names_instrument_and_command(transcript):
    io = transcript(NAME, [("hv = {}", None), ("hw = {}", None),
                           ("hilctl_run(1, 2.000000e-01)", "#?@!")])
    with pytest.raises(InstrumentError, match=r"2600 at TEST: reply to 'hilctl_run.*'#\?@!'"):
        smu(io).read_batch(1, 0.2)


def test_silence_is_a_timeout_naming_the_command(transcript):
    io = transcript(NAME, [("print(smua.source.output)", TimeoutError())])
    with pytest.raises(InstrumentTimeout, match=r"no reply to 'print\(smua.source.output\)'"):
        io.query_numbers("print(smua.source.output)", 1)


def test_make_safe_switches_off_sets_zero_volts_and_confirms(transcript):
    io = transcript(NAME, [("smua.source.output = smua.OUTPUT_OFF", None),
                           ("smua.source.levelv = 0.000000e+00", None),
                           ("print(smua.source.output)", "0.00000e+00")])
    smu(io).make_safe()


def test_unsafe_pulses_are_refused_before_anything_is_sent(transcript):
    io = transcript(NAME, [])
    driver = smu(io)
    with pytest.raises(SafetyLimitError, match=r"refusing to source -2.600000e\+00 V \(step 2\)"):
        driver.pulse_and_read(np.array([1.0, -2.6]), np.array([1e-7, 1e-7]), 0.2)
    with pytest.raises(SafetyLimitError, match="1.000000e-03 s pulse"):
        driver.pulse_and_read(np.array([1.0]), np.array([1e-3]), 0.2)
    with pytest.raises(SafetyLimitError):
        driver.measure(float("nan"))


def test_the_nplc_sent_counts_cycles_of_the_configured_line_frequency(transcript):
    at_60_hz = [(line.replace("1.000000e-02", "1.000000e+00")
                 if "nplc" in line else line, reply) for line, reply in CONFIG]
    io = transcript(NAME, [*at_60_hz, ("print(errorqueue.count)", "0.00000e+00")])
    Keithley2600(io, LIMITS, "a", aperture_s=1 / 60, line_frequency_Hz=60.0).configure()
