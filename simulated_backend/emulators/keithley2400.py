"""Emulated Keithley 2400 speaking the SCPI DC subset the 2400 driver uses.

Compound commands (``;``) are split and their query replies joined with ``;``, as on the
instrument. State: output off at power-up, source level, current protection (compliance),
output-off mode, error queue, and the compliance trip of the last measurement.
"""

from __future__ import annotations

import re
from collections import deque

from .faults import Faults
from .wiring import EmulatedArray

IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4471235,C32   Oct  4 2010 14:20:11/A02  /S/K"
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
SOURCE_RANGE_V = 21.0


class Keithley2400Emulator:
    """A 2400; ``array`` is the shared wiring the board routes."""

    def __init__(self, array: EmulatedArray) -> None:
        self.array = array
        self.faults = Faults()
        self.errors: deque[tuple[int, str]] = deque()
        self.commands: list[str] = []
        self.max_abs_volts = 0.0
        self._power_up()
        self._rules = [(re.compile(p + r"$", re.IGNORECASE), f) for p, f in self._patterns()]

    @property
    def level_V(self) -> float:
        """The programmed source level in volts (what the control channel reports)."""
        return self.level

    def _power_up(self) -> None:
        self.output = False
        self.level = 0.0
        self.protection = 1.05e-4
        self.nplc = 1.0
        self.smod = "NORM"
        self.trip = False

    def _patterns(self):
        return [
            (r"\*IDN\?", lambda m: IDN),
            (r"\*RST", lambda m: self._power_up()),
            (r"\*CLS", lambda m: self.errors.clear()),
            (r":SOUR:FUNC VOLT", lambda m: None),
            (r':SENS:FUNC "CURR"', lambda m: None),
            (r":FORM:ELEM CURR", lambda m: None),
            (r":SENS:CURR:PROT " + _NUM, lambda m: setattr(self, "protection", float(m[1]))),
            (r":SENS:CURR:NPLC " + _NUM, lambda m: setattr(self, "nplc", float(m[1]))),
            (r":SOUR:VOLT " + _NUM, lambda m: self._level(float(m[1]))),
            (r":OUTP:SMOD (ZERO|NORM|HIMP|GUAR)", lambda m: setattr(self, "smod", m[1].upper())),
            (r":OUTP (ON|OFF)", self._output),
            (r":OUTP\?", lambda m: str(int(self.output))),
            (r":MEAS:CURR\?", self._measure),
            (r":SENS:CURR:PROT:TRIP\?", lambda m: str(int(self.trip))),
            (r":SYST:ERR\?", self._next_error),
        ]

    def on_drop(self, line: str) -> None:
        """A dropped link leaves the output as it was (on, mid-read)."""

    def handle(self, line: str) -> str | None:
        self.commands.append(line[:80])
        if self.faults.take("error", line):
            self.errors.append((-315, "Configuration memory lost (injected fault)"))
        replies = []
        for part in line.strip().split(";"):
            reply = self._one(part.strip())
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _one(self, command: str) -> str | None:
        for pattern, action in self._rules:
            match = pattern.match(command)
            if match:
                return action(match)
        self.errors.append((-113, "Undefined header"))
        return None

    def _level(self, volts: float) -> None:
        if abs(volts) > SOURCE_RANGE_V:
            self.errors.append((-222, "Data out of range"))
            return
        self.level = volts
        if self.output:
            self.max_abs_volts = max(self.max_abs_volts, abs(volts))

    def _output(self, m) -> None:
        self.output = m[1].upper() == "ON"
        if self.output:
            self.max_abs_volts = max(self.max_abs_volts, abs(self.level))
        elif self.smod == "ZERO":
            self.level = 0.0

    def _measure(self, m) -> str:
        self.output = True
        current, hit = self.array.currents([self.array.selected], self.level, self.protection)
        if self.faults.take("compliance", m[0]):
            current[0], hit[0] = self.protection, True
        self.trip = bool(hit[0])
        return f"{current[0]:.6e}"

    def _next_error(self, m) -> str:
        if not self.errors:
            return '0,"No error"'
        code, message = self.errors.popleft()
        return f'{code},"{message}"'
