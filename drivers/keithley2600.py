"""Keithley 2600B series SMU driver (TSP) over pyvisa.

Besides single-point commands, a small script is loaded once at ``configure``: it steps
through a whole batch of pulse-and-read (or read-only) points on the instrument, asserting
digital I/O trigger line 1 before each point so the board routes the next cell, and prints
every current, every compliance flag and the error count in one reply. A batch therefore
costs one round trip, whatever its size.
"""

from __future__ import annotations

import numpy as np

from .errors import InstrumentError
from .instrument_io import InstrumentIO, VisaTransport, every_step, guard_source, num
from .limits import SafetyLimits

# Source settling and trigger handshake per point, beyond pulse width and aperture, in s.
STEP_OVERHEAD_S = 50e-6
# Values per line when filling the script's tables (keeps every line short).
_CHUNK = 64

_SCRIPT = """loadscript hilctl
hv = {{}}
hw = {{}}
function hilctl_put(t, ...)
  for k = 1, arg.n do table.insert(t, arg[k]) end
end
function hilctl_run(n, vr)
  local out = {{}}
  {smu}.source.levelv = 0
  {smu}.source.output = {smu}.OUTPUT_ON
  for k = 1, n do
    digio.trigger[1].assert()
    if hw[k] then
      {smu}.source.levelv = hv[k]
      delay(hw[k])
    end
    {smu}.source.levelv = vr
    local c = 0
    local i = {smu}.measure.i()
    if {smu}.source.compliance then c = 1 end
    out[k] = string.format("%.6e %d", i, c)
  end
  {smu}.source.levelv = 0
  {smu}.source.output = {smu}.OUTPUT_OFF
  print(table.concat(out, " ") .. " " .. errorqueue.count)
end
endscript
hilctl.run()"""


class Keithley2600:
    """One channel of a 2600B SMU.

    Parameters
    ----------
    io : InstrumentIO
    limits : SafetyLimits
        Re-checked on every sourcing call, before anything is sent.
    channel : "a" or "b"
    aperture_s : float
        Measurement aperture in seconds (NPLC / line frequency).
    line_frequency_Hz : float
        Mains frequency the instrument counts power-line cycles of, in Hz; the NPLC sent is
        ``aperture_s * line_frequency_Hz``.
    """

    model = "2600"

    def __init__(self, io: InstrumentIO, limits: SafetyLimits, channel: str = "a",
                 aperture_s: float = 2e-4, line_frequency_Hz: float = 50.0) -> None:
        if channel not in ("a", "b"):
            raise ValueError(f"2600 channel must be 'a' or 'b', not {channel!r}")
        self.io = io
        self.limits = limits
        self.smu = f"smu{channel}"
        self.aperture_s = aperture_s
        self.line_frequency_Hz = line_frequency_Hz

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits, visa_library: str = "@py",
             channel: str = "a", aperture_s: float = 2e-4, connect_timeout_s: float = 5.0,
             margin_s: float = 2.0, factor: float = 2.0,
             line_frequency_Hz: float = 50.0) -> Keithley2600:
        transport = VisaTransport(resource, visa_library, connect_timeout_s)
        io = InstrumentIO(f"Keithley 2600 at {resource}", transport, margin_s, factor)
        return cls(io, limits, channel, aperture_s, line_frequency_Hz)

    @property
    def name(self) -> str:
        return self.io.name

    def identify(self) -> str:
        return self.io.query("*IDN?").strip()

    def configure(self) -> None:
        """Voltage source, output off at 0 V, compliance, aperture, trigger line, batch script."""
        s = self.smu
        guard_source(self.limits, self.io.name, np.zeros(1), compliance_A=self.limits.compliance_A)
        for command in (
            f"{s}.reset()",
            "errorqueue.clear()",
            f"{s}.source.func = {s}.OUTPUT_DCVOLTS",
            f"{s}.source.offmode = {s}.OUTPUT_ZERO",
            f"{s}.source.levelv = {num(0.0)}",
            f"{s}.source.limiti = {num(self.limits.compliance_A)}",
            f"{s}.measure.nplc = {num(self.aperture_s * self.line_frequency_Hz)}",
            f"{s}.source.output = {s}.OUTPUT_OFF",
            "digio.trigger[1].mode = digio.TRIG_FALLING",
        ):
            self.io.write(command)
        for line in _SCRIPT.format(smu=s).splitlines():
            self.io.write(line)
        self.drain_errors("configuration")

    def drain_errors(self, block: str) -> None:
        """Read the whole error queue; raise naming ``block`` if it held anything."""
        count = int(self.io.query_numbers("print(errorqueue.count)", 1)[0])
        messages = []
        for _ in range(count):
            reply = self.io.query("print(errorqueue.next())")
            fields = reply.split("\t")
            messages.append(f"{fields[0]} {fields[1]}" if len(fields) > 1 else reply)
        if messages:
            raise InstrumentError(f"{self.io.name}: error after {block}: " + "; ".join(messages))

    def measure(self, volts: float) -> tuple[float, bool]:
        """Source ``volts`` (V), measure current (A) and compliance in one query."""
        guard_source(self.limits, self.io.name, np.array([volts]))
        self.io.write(f"{self.smu}.source.levelv = {num(volts)}")
        self.io.write(f"{self.smu}.source.output = {self.smu}.OUTPUT_ON")
        command = f"print({self.smu}.measure.i(), {self.smu}.source.compliance)"
        reply = self.io.query(command, self.aperture_s + STEP_OVERHEAD_S)
        fields = reply.split("\t")
        if len(fields) != 2 or fields[1].strip() not in ("true", "false"):
            raise InstrumentError(f"{self.io.name}: reply to {command!r} was {reply[:60]!r}, "
                                  "expected '<current>\\t<true|false>'")
        current = self.io.parse_numbers(command, fields[0], 1)[0]
        return float(current), fields[1].strip() == "true"

    def pulse_and_read(self, volts: np.ndarray, widths: np.ndarray,
                       read_V: float) -> tuple[np.ndarray, np.ndarray]:
        """Per point: pulse ``volts`` (signed, V) for ``widths`` (s), then read at ``read_V``.

        One round trip for the whole batch; returns currents (A) and compliance flags.
        """
        guard_source(self.limits, self.io.name, volts, widths)
        self._fill("hv", volts)
        self._fill("hw", widths)
        return self._run(len(volts), read_V, float(np.sum(widths)))

    def read_batch(self, count: int, read_V: float) -> tuple[np.ndarray, np.ndarray]:
        """Read ``count`` routed cells at ``read_V`` (V); one round trip."""
        self.io.write("hv = {}")
        self.io.write("hw = {}")
        return self._run(count, read_V, 0.0)

    def _fill(self, name: str, values: np.ndarray) -> None:
        self.io.write(f"{name} = {{}}")
        for start in range(0, len(values), _CHUNK):
            chunk = ", ".join(num(v) for v in values[start:start + _CHUNK])
            self.io.write(f"hilctl_put({name}, {chunk})")

    def _run(self, count: int, read_V: float, pulse_time_s: float):
        guard_source(self.limits, self.io.name, np.array([read_V]))
        self.limits.check_read_voltage(read_V)
        command = f"hilctl_run({count}, {num(read_V)})"
        expected = pulse_time_s + count * (self.aperture_s + STEP_OVERHEAD_S)
        values = self.io.query_numbers(command, 2 * count + 1, expected)
        if values[-1] > 0:
            self.drain_errors(f"{command!r}")
        pairs = values[:-1].reshape(count, 2)
        return pairs[:, 0], pairs[:, 1] > 0

    def make_safe(self) -> None:
        """Output off, then 0 V, then confirmed off; every step is tried even if one before it
        failed (off-mode is 0 V too)."""
        smu, write = self.smu, self.io.write
        every_step(self.io.name, [
            ("output off", lambda: write(f"{smu}.source.output = {smu}.OUTPUT_OFF")),
            ("level 0 V", lambda: write(f"{smu}.source.levelv = {num(0.0)}")),
            ("confirming the output off", self._confirm_off)])

    def _confirm_off(self) -> None:
        state = self.io.query_numbers(f"print({self.smu}.source.output)", 1)[0]
        if state != 0:
            raise InstrumentError(f"{self.io.name}: output still on after switching it off")

    def close(self) -> None:
        self.io.close()
