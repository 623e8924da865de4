"""Property: whatever a planner hands over and whatever limits a config sets, no driver sends
a voltage, width, gate or compliance beyond the limits (unsafe requests raise before sending)."""

import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hilctl.drivers import Cells, HilctlError, PulseBatch, SafetyLimits
from hilctl.drivers.board import CrossbarBoard
from hilctl.drivers.instrument_crossbar import InstrumentCrossbar
from hilctl.drivers.instrument_io import InstrumentIO, num
from hilctl.drivers.keithley2400 import Keithley2400
from hilctl.drivers.keithley2600 import Keithley2600

SHAPE = (4, 4)
NUMBER = r"[-+0-9.eEnaif]+"


class Instrument:
    """Accepts every command, answers plausibly, and records what was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._reply = ""

    def write_line(self, text: str) -> None:
        self.sent.append(text)
        self._reply = _reply(text)

    def read_line(self, timeout_s: float) -> str:
        return self._reply

    def reopen(self) -> None:
        """Always connected."""

    def close(self) -> None:
        """Nothing to release."""


def _reply(text: str) -> str:
    if m := re.match(r"hilctl_run\((\d+),", text):
        return " ".join(["1.0e-06 0"] * int(m[1])) + " 0"
    if m := re.match(r"(SEQ|BATCH) (.*)", text):
        return f"OK {m[1]} {len(m[2].split(';'))}"
    replies = {"SHAPE?": "OK 4 4", "LIMITS?": "OK 2.0e+01 2.0e+01 1.0e-12 1.0e+00 2.0e+01",
               ":SYST:ERR?": '0,"No error"', "print(smua.source.output)": "0",
               "print(errorqueue.count)": "0", ":OUTP?": "0",
               ":MEAS:CURR?;:SENS:CURR:PROT:TRIP?": "1.0e-06;0"}
    if text.startswith("print(smua.measure.i()"):
        return "1.0e-06\tfalse"
    return replies.get(text, "OK")


def sent_quantities(lines: list[str]):
    """(signed volts, widths, compliances, read volts, gates) found in the sent commands."""
    volts, widths, compliance, reads, gates = [], [], [], [], []
    for line in lines:
        if m := re.match(rf"(?:smua\.source\.levelv =|:SOUR:VOLT) ({NUMBER})$", line):
            volts.append(float(m[1]))
        elif m := re.match(r"hilctl_put\((hv|hw), (.*)\)$", line):
            (volts if m[1] == "hv" else widths).extend(float(x) for x in m[2].split(","))
        elif m := re.match(rf"hilctl_run\(\d+, ({NUMBER})\)$", line):
            reads.append(float(m[1]))
        elif m := re.match(rf"(?:smua\.source\.limiti =|:SENS:CURR:PROT) ({NUMBER})$", line):
            compliance.append(float(m[1]))
        elif m := re.match(rf"PULSE (SET|RESET) ({NUMBER}) ({NUMBER})(?: ({NUMBER}))?$", line):
            volts.append(float(m[2]) * (1 if m[1] == "SET" else -1))
            widths.append(float(m[3]))
            gates.extend([] if m[4] is None else [float(m[4])])
        elif line.startswith("BATCH "):
            for entry in line[6:].split(";"):
                _, _, word, v, w, *gate = entry.split(",")
                volts.append(float(v) * (1 if word == "S" else -1))
                widths.append(float(w))
                gates.extend(float(g) for g in gate)
        elif line.startswith("SEQ "):
            gates.extend(float(g) for entry in line[4:].split(";") for g in entry.split(",")[2:])
    return volts, widths, compliance, reads, gates


def assert_within(limits: SafetyLimits, lines: list[str]) -> None:
    volts, widths, compliance, reads, gates = sent_quantities(lines)
    for v in volts:
        assert np.isfinite(v) and -limits.reset_max_V <= v <= limits.set_max_V, v
    for w in widths:
        assert limits.width_min_s <= w <= limits.width_max_s, w
    assert all(0 < c <= limits.compliance_A for c in compliance)
    assert all(0 < r <= limits.read_max_V for r in reads)
    top = max(limits.gate_set_max_V, limits.gate_reset_max_V)
    assert all(0 <= g <= top for g in gates), gates


@st.composite
def limits_from_config(draw):
    width_min = draw(st.floats(1e-9, 1e-5))
    read_max = draw(st.floats(0.05, 1.0))
    return SafetyLimits(
        set_max_V=draw(st.floats(0.1, 5.0)), reset_max_V=draw(st.floats(0.1, 5.0)),
        width_min_s=width_min, width_max_s=width_min * draw(st.floats(1.0, 1e4)),
        compliance_A=draw(st.floats(1e-7, 1e-2)), read_max_V=read_max,
        read_V=read_max * draw(st.floats(0.01, 1.0)), gate_set_max_V=draw(st.floats(0.1, 5.0)),
        gate_reset_max_V=draw(st.floats(0.1, 5.0)))


anything = st.floats(allow_nan=True, allow_infinity=True, width=64)
planner_output = st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 3), min_size=n, max_size=n),
    st.lists(st.integers(0, 3), min_size=n, max_size=n),
    st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n),
    st.lists(st.one_of(st.floats(0, 6), anything), min_size=n, max_size=n),
    st.lists(st.one_of(st.floats(1e-10, 1e-2), anything), min_size=n, max_size=n),
    st.one_of(st.none(), st.lists(st.one_of(st.floats(-1, 6), anything), min_size=n,
                                  max_size=n))))


def rig(model: str, limits: SafetyLimits):
    smu_link, board_link = Instrument(), Instrument()
    smu_io = InstrumentIO(f"SMU {model}", smu_link)
    smu = Keithley2600(smu_io, limits) if model == "2600" else Keithley2400(smu_io, limits)
    smu.configure()
    board = CrossbarBoard(InstrumentIO("board", board_link), limits)
    return InstrumentCrossbar(smu, board, limits), smu_link, board_link


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limits=limits_from_config(), plan=planner_output, model=st.sampled_from(["2600", "2400"]))
def test_no_planner_output_or_config_makes_the_rig_send_beyond_limits(limits, plan, model):
    crossbar, smu_link, board_link = rig(model, limits)
    rows, cols, polarity, amplitude, width, gate = plan
    try:
        pulses = PulseBatch(Cells(np.array(rows), np.array(cols)), np.array(polarity),
                            np.array(amplitude), np.array(width),
                            None if gate is None else np.array(gate))
        crossbar.apply(pulses)
        crossbar.read(pulses.cells)
    except HilctlError:
        pass
    assert_within(limits, smu_link.sent + board_link.sent)


@settings(max_examples=150, deadline=None)
@given(limits=limits_from_config(), volts=st.lists(anything, min_size=1, max_size=5),
       widths=st.lists(anything, min_size=1, max_size=5), read_V=anything,
       gates=st.lists(anything, min_size=1, max_size=5))
def test_drivers_called_directly_still_refuse(limits, volts, widths, read_V, gates):
    """Below the Crossbar checks: each driver's own guard is the last line of defence."""
    n = min(len(volts), len(widths), len(gates))
    volts, widths, gates = np.array(volts[:n]), np.array(widths[:n]), np.array(gates[:n])
    links = [Instrument() for _ in range(3)]
    smu2600 = Keithley2600(InstrumentIO("SMU 2600", links[0]), limits)
    smu2400 = Keithley2400(InstrumentIO("SMU 2400", links[1]), limits)
    board = CrossbarBoard(InstrumentIO("board", links[2]), limits)
    attempt(smu2600.measure, float(volts[0]))
    attempt(smu2600.pulse_and_read, volts, widths, read_V)
    attempt(smu2600.read_batch, n, read_V)
    attempt(smu2400.measure, float(volts[0]))
    polarity = np.where(volts >= 0, 1, -1)
    attempt(board.pulse, int(polarity[0]), abs(float(volts[0])), float(widths[0]),
            float(gates[0]))
    cells = Cells(np.zeros(n, int), np.zeros(n, int))
    attempt(board.load_sequence, cells, gates)
    attempt(board.pulse_batch, PulseBatch(cells, polarity, np.abs(volts), widths, gates))
    for link in links:
        assert_within(limits, link.sent)


def attempt(call, *args) -> None:
    try:
        call(*args)
    except HilctlError:
        pass


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_go_out_in_exponent_form_exactly(value):
    text = num(value)
    assert re.fullmatch(r"-?\d\.\d{6,16}e[-+]\d{2,3}", text) and float(text) == value


def test_small_numbers_are_not_truncated():
    assert num(1e-7) == "1.000000e-07" and num(0.2) == "2.000000e-01"
    assert num(0.00768944281405938) == "7.68944281405938e-03"
