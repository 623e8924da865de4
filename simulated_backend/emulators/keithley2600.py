"""Emulated Keithley 2600B channel speaking the TSP subset the 2600 driver uses.

It does not run Lua: it recognises the driver's commands and the calls of the ``hilctl``
script, and answers unknown input as the instrument would, with a syntax error in the error
queue. State as on the instrument: output off at power-up, level, current limit, off-mode,
error queue, compliance of the last measurement, loaded scripts.
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np

from .faults import Faults
from .wiring import EmulatedArray

IDN = "Keithley Instruments Inc., Model 2636B, 4471234, 4.0.4"
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_SMU = r"smu[ab]"
_SCRIPT_FUNCTIONS = ("function hilctl_put", "function hilctl_run")


class Keithley2600Emulator:
    """One channel; ``array`` is the shared wiring the board routes."""

    def __init__(self, array: EmulatedArray) -> None:
        self.array = array
        self.faults = Faults()
        self.output = False
        self.levelv = 0.0
        self.limiti = 1e-4
        self.offmode = "OUTPUT_NORMAL"
        self.nplc = 1.0
        self.compliance = False
        self.errors: deque[tuple[int, str]] = deque()
        self.scripts: dict[str, list[str]] = {}
        self.defined = False
        self.tables: dict[str, list[float]] = {"hv": [], "hw": []}
        self._loading: str | None = None
        self.max_abs_volts = 0.0
        self.commands: list[str] = []
        self._rules = [(re.compile(p + r"$"), f) for p, f in self._patterns()]

    @property
    def level_V(self) -> float:
        """The programmed source level in volts (what the control channel reports)."""
        return self.levelv

    def _patterns(self):
        return [
            (r"\*IDN\?", lambda m: IDN),
            (_SMU + r"\.reset\(\)", lambda m: self._reset()),
            (r"errorqueue\.clear\(\)", lambda m: self.errors.clear()),
            (_SMU + r"\.source\.func = " + _SMU + r"\.OUTPUT_DCVOLTS", lambda m: None),
            (_SMU + r"\.source\.offmode = " + _SMU + r"\.(OUTPUT_\w+)", self._offmode),
            (_SMU + r"\.source\.levelv = " + _NUM, lambda m: self._level(float(m[1]))),
            (_SMU + r"\.source\.limiti = " + _NUM, lambda m: setattr(self, "limiti", float(m[1]))),
            (_SMU + r"\.measure\.nplc = " + _NUM, lambda m: setattr(self, "nplc", float(m[1]))),
            (_SMU + r"\.source\.output = " + _SMU + r"\.OUTPUT_(ON|OFF)", self._output),
            (r"digio\.trigger\[1\]\.mode = digio\.TRIG_FALLING", lambda m: None),
            (r"loadscript (\w+)", self._loadscript),
            (r"(\w+)\.run\(\)", self._runscript),
            (r"(hv|hw) = \{\}", lambda m: self.tables.__setitem__(m[1], [])),
            (r"hilctl_put\((hv|hw), (.*)\)", self._put),
            (r"hilctl_run\((\d+), " + _NUM + r"\)", self._run),
            (r"print\(" + _SMU + r"\.measure\.i\(\), " + _SMU + r"\.source\.compliance\)",
             self._measure),
            (r"print\(" + _SMU + r"\.source\.output\)", lambda m: f"{float(self.output):.5e}"),
            (r"print\(errorqueue\.count\)", lambda m: f"{float(len(self.errors)):.5e}"),
            (r"print\(errorqueue\.next\(\)\)", self._next_error),
        ]

    def on_drop(self, line: str) -> None:
        """A link dropped mid-batch leaves the output on at the last level, as the script
        was cut off between its first pulse and its final OFF."""
        self.output = True
        self.levelv = self.tables["hv"][0] if self.tables["hv"] else self.levelv

    def handle(self, line: str) -> str | None:
        self.commands.append(line[:80])
        if self._loading is not None:
            if line.strip() == "endscript":
                self._loading = None
            else:
                self.scripts[self._loading].append(line)
            return None
        if self.faults.take("error", line):
            self.errors.append((-286, "TSP Runtime error: injected instrument fault"))
        for pattern, action in self._rules:
            match = pattern.match(line.strip())
            if match:
                return action(match)
        self.errors.append((-285, f"TSP Syntax error at line 1: unexpected symbol near "
                                  f"'{line[:20]}'"))
        return None

    # -- actions --------------------------------------------------------------------------
    def _reset(self) -> None:
        self.output, self.levelv, self.limiti, self.compliance = False, 0.0, 1e-4, False

    def _offmode(self, m) -> None:
        self.offmode = m[1]

    def _level(self, volts: float) -> None:
        self.levelv = volts
        if self.output:
            self.max_abs_volts = max(self.max_abs_volts, abs(volts))

    def _output(self, m) -> None:
        self.output = m[1] == "ON"
        if not self.output and self.offmode == "OUTPUT_ZERO":
            self.levelv = 0.0

    def _loadscript(self, m) -> None:
        self._loading = m[1]
        self.scripts[m[1]] = []

    def _runscript(self, m) -> None:
        body = "\n".join(self.scripts.get(m[1], []))
        if m[1] not in self.scripts:
            self.errors.append((-286, f"TSP Runtime error: attempt to index global '{m[1]}'"))
        elif all(f in body for f in _SCRIPT_FUNCTIONS):
            self.defined = True

    def _put(self, m) -> None:
        if not self.defined:
            self.errors.append((-286, "TSP Runtime error: attempt to call global 'hilctl_put'"))
            return
        try:
            self.tables[m[1]].extend(float(x) for x in m[2].split(","))
        except ValueError:
            self.errors.append((-285, "TSP Syntax error: malformed number"))

    def _run(self, m) -> str | None:
        if not self.defined:
            self.errors.append((-286, "TSP Runtime error: attempt to call global 'hilctl_run'"))
            return None
        count, read_v = int(m[1]), float(m[2])
        routed = [(self.array.advance(), self.array.gate) for _ in range(count)]
        cells = [cell for cell, _ in routed]
        volts, widths = np.array(self.tables["hv"]), np.array(self.tables["hw"])
        pulsed = [(c, v, w, g) for (c, g), v, w in zip(routed, volts, widths, strict=False)
                  if c is not None]
        if pulsed:
            self.max_abs_volts = max(self.max_abs_volts, float(np.abs(volts).max()))
            where, v, w, g = zip(*pulsed, strict=True)
            self.array.pulse(list(where), np.array(v), np.array(w), list(g))
        current, hit = self.array.currents(cells, read_v, self.limiti)
        if count and self.faults.take("compliance", m[0]):
            current[0], hit[0] = self.limiti, True
        self.output, self.levelv, self.compliance = False, 0.0, bool(hit[-1]) if count else False
        self.max_abs_volts = max(self.max_abs_volts, abs(read_v))
        pairs = " ".join(f"{i:.6e} {int(h)}" for i, h in zip(current, hit, strict=True))
        return f"{pairs} {len(self.errors)}".strip()

    def _measure(self, m) -> str:
        cell = self.array.selected if self.output else None
        current, hit = self.array.currents([cell], self.levelv, self.limiti)
        if self.faults.take("compliance", m[0]):
            current[0], hit[0] = self.limiti, True
        self.compliance = bool(hit[0])
        return f"{current[0]:.6e}\t{'true' if hit[0] else 'false'}"

    def _next_error(self, m) -> str:
        if not self.errors:
            return "0.00000e+00\tQueue Is Empty\t0.00000e+00\t0.00000e+00"
        code, message = self.errors.popleft()
        return f"{float(code):.5e}\t{message}\t2.00000e+00\t0.00000e+00"
