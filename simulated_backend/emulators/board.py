"""Emulated crossbar test board speaking the line protocol of ``drivers/BOARD_PROTOCOL.md``.

Power-up state: every cell disconnected, mode READ. Its own pulse generator and word-line
driver refuse anything beyond ``hardware_limits`` with ``ERR 102``, as the real board's
firmware does; a gate sent with a pulse reaches the simulated array as ``PulseBatch.gate``.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import SafetyLimits

from .faults import Faults
from .wiring import EmulatedArray

FIRMWARE = "1.4.0"
MAX_LINE = 65536


class BoardError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"ERR {code} {text}")


class BoardEmulator:
    """Parameters: ``array`` (the shared wiring), ``hardware_limits`` (the generator's own)."""

    @property
    def word_line_max_V(self) -> float:
        """The largest gate the board's one word-line driver reaches (either polarity)."""
        return max(self.hw.gate_set_max_V, self.hw.gate_reset_max_V)

    def __init__(self, array: EmulatedArray, hardware_limits: SafetyLimits | None = None) -> None:
        self.array = array
        self.hw = hardware_limits or SafetyLimits(set_max_V=3.0, reset_max_V=3.0,
                                                  width_min_s=1e-8, width_max_s=1e-3,
                                                  compliance_A=1e-3)
        self.mode = "READ"
        self.faults = Faults()
        self.commands: list[str] = []

    def on_drop(self, line: str) -> None:
        """A dropped link leaves the routing as it was."""

    def handle(self, line: str) -> str:
        self.commands.append(line[:80])
        if len(line) > MAX_LINE:
            return "ERR 105 line too long"
        if self.faults.take("error", line):
            return "ERR 110 hardware fault (injected)"
        word, _, rest = line.partition(" ")
        handler = _COMMANDS.get(word.upper())
        if handler is None:
            return f"ERR 100 unknown command {word[:20]}"
        try:
            return "OK" + (" " + handler(self, rest.strip())).rstrip()
        except BoardError as exc:
            return str(exc)

    # -- commands -------------------------------------------------------------------------
    def _idn(self, _: str) -> str:
        return f"hilctl,XB-{self.array.shape[0]}x{self.array.shape[1]}-EMU,0001,{FIRMWARE}"

    def _limits(self, _: str) -> str:
        h = self.hw
        return (f"{h.set_max_V:.6e} {h.reset_max_V:.6e} {h.width_min_s:.6e} "
                f"{h.width_max_s:.6e} {self.word_line_max_V:.6e}")

    def _sel(self, rest: str) -> str:
        row, col = self._cell(rest.split())
        self.array.load([], [])
        self.array.selected = (row, col)
        return f"SEL {row} {col}"

    def _mode(self, rest: str) -> str:
        if rest.upper() not in ("READ", "PULSE"):
            raise BoardError(101, f"mode {rest[:20]!r}, expected READ or PULSE")
        self.mode = rest.upper()
        return f"MODE {self.mode}"

    def _pulse(self, rest: str) -> str:
        parts = rest.split()
        if len(parts) not in (3, 4) or parts[0].upper() not in ("SET", "RESET"):
            raise BoardError(101, "expected PULSE SET|RESET <V> <s> [<gate>]")
        if self.mode != "PULSE":
            raise BoardError(103, "PULSE needs MODE PULSE")
        if self.array.selected is None:
            raise BoardError(104, "no cell selected")
        volts, width = self._numbers(parts[1:3])
        gates = self._gates([parts], 3)
        signed = volts if parts[0].upper() == "SET" else -volts
        self._check_pulse(signed, width)
        self.array.pulse([self.array.selected], np.array([signed]), np.array([width]), gates)
        return "PULSE"

    def _read(self, rest: str) -> str:
        (volts,) = self._numbers(rest.split())
        if self.mode != "READ":
            raise BoardError(103, "READ needs MODE READ")
        if self.array.selected is None:
            raise BoardError(104, "no cell selected")
        if not 0 < abs(volts) <= self.hw.read_max_V:
            raise BoardError(102, f"read voltage {volts:.3e} V out of range")
        compliance = 0.0 if self.faults.take("compliance", "READ") else self.hw.compliance_A
        current, hit = self.array.currents([self.array.selected], volts, compliance)
        return f"{current[0]:.6e} {int(hit[0])}"

    def _seq(self, rest: str) -> str:
        entries = [item.split(",") for item in rest.split(";") if item]
        cells = [self._cell(e[:2]) for e in entries]
        self.array.load(cells, self._gates(entries, 2))
        return f"SEQ {len(cells)}"

    def _seq_query(self, _: str) -> str:
        return f"{self.array.position} {len(self.array.sequence)}"

    def _batch(self, rest: str) -> str:
        entries = [item.split(",") for item in rest.split(";") if item]
        if any(len(e) < 5 or e[2].upper() not in ("S", "R") for e in entries):
            raise BoardError(101, "expected <r>,<c>,<S|R>,<V>,<s>[,<gate>] entries")
        cells = [self._cell(e[:2]) for e in entries]
        numbers = np.array([self._numbers(e[3:5]) for e in entries]).reshape(-1, 2)
        gates = self._gates(entries, 5)
        signed = np.where([e[2].upper() == "S" for e in entries], 1.0, -1.0) * numbers[:, 0]
        for v, w in zip(signed, numbers[:, 1], strict=True):
            self._check_pulse(v, w)
        self.array.pulse(cells, signed, numbers[:, 1], gates)
        return f"BATCH {len(cells)}"

    def _off(self, _: str) -> str:
        self.array.disconnect()
        self.mode = "READ"
        return "OFF"

    # -- parsing ---------------------------------------------------------------------------
    def _cell(self, parts: list[str]) -> tuple[int, int]:
        try:
            row, col = (int(p) for p in parts)
        except ValueError:
            raise BoardError(101, f"cell {','.join(parts)[:20]!r}, expected <row> <col>") from None
        rows, cols = self.array.shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise BoardError(102, f"cell ({row}, {col}) outside the {rows}x{cols} array")
        return row, col

    @staticmethod
    def _numbers(parts: list[str]) -> list[float]:
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise BoardError(101, f"not a number in {' '.join(parts)[:30]!r}") from None
        if not all(np.isfinite(values)):
            raise BoardError(101, "non-finite number")
        return values

    def _gates(self, entries: list[list[str]], fields: int) -> list[float | None]:
        """The word-line level (V) of each entry: the one field after its ``fields`` others,
        on every entry or on none (None each); checked against the word-line driver."""
        lengths = {len(e) for e in entries}
        if lengths <= {fields}:
            return [None] * len(entries)
        if lengths != {fields + 1}:
            raise BoardError(101, "a gate on every entry or on none")
        gates = [self._numbers(e[fields:])[0] for e in entries]
        for gate in gates:
            if not 0 <= gate <= self.word_line_max_V:
                raise BoardError(102, f"gate {gate:.3e} V beyond the word-line driver's "
                                      f"[0, {self.word_line_max_V:.3e}] V")
        return gates

    def _check_pulse(self, signed: float, width: float) -> None:
        top = self.hw.set_max_V if signed >= 0 else self.hw.reset_max_V
        if abs(signed) > top or not self.hw.width_min_s <= width <= self.hw.width_max_s:
            raise BoardError(102, f"pulse {signed:.3e} V {width:.3e} s beyond the board's limits")


_COMMANDS = {
    "*IDN?": BoardEmulator._idn,
    "FW?": lambda self, _: FIRMWARE,
    "SHAPE?": lambda self, _: f"{self.array.shape[0]} {self.array.shape[1]}",
    "LIMITS?": BoardEmulator._limits,
    "SEL": BoardEmulator._sel,
    "MODE": BoardEmulator._mode,
    "PULSE": BoardEmulator._pulse,
    "READ": BoardEmulator._read,
    "SEQ": BoardEmulator._seq,
    "SEQ?": BoardEmulator._seq_query,
    "BATCH": BoardEmulator._batch,
    "OFF": BoardEmulator._off,
}
