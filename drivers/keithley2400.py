"""Keithley 2400/2450 SMU driver, SCPI DC subset, over pyvisa.

The 2400 has no on-instrument scripting here: it sources the read voltage and measures one
routed cell per query (current and the compliance trip in one compound query); pulses on a
2400 rig come from the board's own generator.
"""

from __future__ import annotations

import numpy as np

from .errors import InstrumentError
from .instrument_io import InstrumentIO, VisaTransport, every_step, guard_source, num
from .limits import SafetyLimits

# Source settling and trigger latency per measurement, beyond the aperture, in seconds.
STEP_OVERHEAD_S = 1e-3


class Keithley2400:
    """A 2400-series SMU.

    Parameters
    ----------
    io : InstrumentIO
    limits : SafetyLimits
        Re-checked on every sourcing call, before anything is sent.
    aperture_s : float
        Measurement aperture in seconds (NPLC / line frequency).
    line_frequency_Hz : float
        Mains frequency the instrument counts power-line cycles of, in Hz; the NPLC sent is
        ``aperture_s * line_frequency_Hz``.
    """

    model = "2400"

    def __init__(self, io: InstrumentIO, limits: SafetyLimits, aperture_s: float = 2e-4,
                 line_frequency_Hz: float = 50.0) -> None:
        self.io = io
        self.limits = limits
        self.aperture_s = aperture_s
        self.line_frequency_Hz = line_frequency_Hz
        self._output_on = False

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits, visa_library: str = "@py",
             aperture_s: float = 2e-4, connect_timeout_s: float = 5.0, margin_s: float = 2.0,
             factor: float = 2.0, line_frequency_Hz: float = 50.0) -> Keithley2400:
        transport = VisaTransport(resource, visa_library, connect_timeout_s)
        io = InstrumentIO(f"Keithley 2400 at {resource}", transport, margin_s, factor)
        return cls(io, limits, aperture_s, line_frequency_Hz)

    @property
    def name(self) -> str:
        return self.io.name

    def identify(self) -> str:
        return self.io.query("*IDN?").strip()

    def configure(self) -> None:
        """Voltage source, current readback, compliance, output off at 0 V."""
        guard_source(self.limits, self.io.name, np.zeros(1), compliance_A=self.limits.compliance_A)
        for command in (
            "*CLS",
            ":SOUR:FUNC VOLT",
            ':SENS:FUNC "CURR"',
            f":SENS:CURR:PROT {num(self.limits.compliance_A)}",
            f":SENS:CURR:NPLC {num(self.aperture_s * self.line_frequency_Hz)}",
            ":FORM:ELEM CURR",
            f":SOUR:VOLT {num(0.0)}",
            ":OUTP:SMOD ZERO",
            ":OUTP OFF",
        ):
            self.io.write(command)
        self._output_on = False
        self.drain_errors("configuration")

    def drain_errors(self, block: str) -> None:
        """Read ``:SYST:ERR?`` until it says no error; raise naming ``block`` if any was queued."""
        messages = []
        for _ in range(32):
            reply = self.io.query(":SYST:ERR?").strip()
            code = reply.split(",", 1)[0]
            try:
                if int(code) == 0:
                    break
            except ValueError:
                raise InstrumentError(f"{self.io.name}: reply to ':SYST:ERR?' was {reply[:60]!r},"
                                      " expected '<code>,\"<message>\"'") from None
            messages.append(reply)
        if messages:
            raise InstrumentError(f"{self.io.name}: error after {block}: " + "; ".join(messages))

    def measure(self, volts: float) -> tuple[float, bool]:
        """Source ``volts`` (V) and return current (A) and the compliance trip, in one query."""
        guard_source(self.limits, self.io.name, np.array([volts]))
        self.io.write(f":SOUR:VOLT {num(volts)}")
        if not self._output_on:
            self.io.write(":OUTP ON")
            self._output_on = True
        command = ":MEAS:CURR?;:SENS:CURR:PROT:TRIP?"
        reply = self.io.query(command, self.aperture_s + STEP_OVERHEAD_S)
        current, trip = self.io.parse_numbers(command, reply.replace(";", " "), 2)
        return float(current), bool(trip)

    def make_safe(self) -> None:
        """Output off, then 0 V, then confirmed off; every step is tried even if one before it
        failed."""
        self._output_on = False
        every_step(self.io.name, [("output off", lambda: self.io.write(":OUTP OFF")),
                                  ("level 0 V", lambda: self.io.write(f":SOUR:VOLT {num(0.0)}")),
                                  ("confirming the output off", self._confirm_off)])

    def _confirm_off(self) -> None:
        state = self.io.query_numbers(":OUTP?", 1)[0]
        if state != 0:
            raise InstrumentError(f"{self.io.name}: output still on after ':OUTP OFF'")

    def close(self) -> None:
        self.io.close()
