"""Driver for the crossbar test board (switch matrix + pulse generator) over pyserial.

The line protocol is written down in ``BOARD_PROTOCOL.md`` beside this module: one ASCII
command per line, one ``OK ...`` or ``ERR <code> <text>`` reply per command. The port is
opened with ``serial.serial_for_url``, so a port name, ``socket://host:port`` and a registered
simulator URL all work.

On a 1T1R array the board also drives the word line (the gate of each cell's access
transistor, which limits the SET current): every pulse that carries a gate sends it in the same
entry that routes or pulses the cell, so a gate can never reach the wrong cell.
"""

from __future__ import annotations

import numpy as np

from .errors import InstrumentError, SafetyLimitError
from .instrument_io import InstrumentIO, SerialTransport, guard_source, num
from .limits import SafetyLimits
from .vocabulary import Cells, Polarity, PulseBatch

# Time the board needs per routed cell or on-board pulse beyond the pulse itself, in seconds.
_SWITCH_TIME_S = 20e-6

# The numbers of a ``LIMITS?`` reply, in order; a board without a word-line driver (1R arrays)
# answers the first four only.
_LIMIT_KEYS = ("set_max_V", "reset_max_V", "width_min_s", "width_max_s", "gate_max_V")


class CrossbarBoard:
    """One crossbar test board.

    Parameters
    ----------
    io : InstrumentIO
        The line connection (see ``open``).
    limits : SafetyLimits
        Checked again here before any on-board pulse (defence in depth).
    """

    def __init__(self, io: InstrumentIO, limits: SafetyLimits) -> None:
        self.io = io
        self.limits = limits

    @classmethod
    def open(cls, url: str, limits: SafetyLimits, baudrate: int = 115200,
             connect_timeout_s: float = 5.0, margin_s: float = 2.0,
             factor: float = 2.0) -> CrossbarBoard:
        transport = SerialTransport(url, baudrate, connect_timeout_s)
        return cls(InstrumentIO(f"board at {url}", transport, margin_s, factor), limits)

    def command(self, command: str, expected_s: float = 0.0) -> str:
        """Send one command; return the text after ``OK`` or raise with the board's error."""
        reply = self.io.query(command, expected_s).strip()
        if reply == "OK" or reply.startswith("OK "):
            return reply[3:]
        if reply.startswith("ERR "):
            raise InstrumentError(f"{self.io.name}: {command[:60]!r} refused: {reply}")
        raise InstrumentError(f"{self.io.name}: reply to {command[:60]!r} was {reply[:60]!r}, "
                              "expected 'OK ...' or 'ERR <code> <text>'")

    def identify(self) -> str:
        return self.command("*IDN?")

    def firmware(self) -> str:
        return self.command("FW?")

    def shape(self) -> tuple[int, int]:
        rows, cols = self.io.parse_numbers("SHAPE?", self.command("SHAPE?"), 2)
        return int(rows), int(cols)

    def hardware_limits(self) -> dict[str, float]:
        """The board's own limits: set/reset max (V), width min/max (s) and, if it drives a
        word line, the largest gate (V; the word line is driven from 0 V up to it) as the top
        of both polarities' gate ranges (``gate_set_max_V``, ``gate_reset_max_V``)."""
        reply = self.command("LIMITS?")
        values = self.io.parse_numbers("LIMITS?", reply)
        if values.size not in (len(_LIMIT_KEYS) - 1, len(_LIMIT_KEYS)):
            raise InstrumentError(f"{self.io.name}: reply to 'LIMITS?' was {reply[:60]!r}, "
                                  "expected 4 or 5 numbers")
        limits = dict(zip(_LIMIT_KEYS, values.tolist(), strict=False))
        if "gate_max_V" in limits:  # one word-line driver serves both polarities
            top = limits.pop("gate_max_V")
            limits.update(gate_set_max_V=top, gate_reset_max_V=top)
        return limits

    def select(self, row: int, col: int) -> None:
        self.command(f"SEL {int(row)} {int(col)}", _SWITCH_TIME_S)

    def mode(self, mode: str) -> None:
        if mode not in ("READ", "PULSE"):
            raise ValueError(f"board mode must be READ or PULSE, not {mode!r}")
        self.command(f"MODE {mode}", _SWITCH_TIME_S)

    def pulse(self, polarity: Polarity, amplitude_V: float, width_s: float,
              gate_V: float | None = None) -> None:
        """One on-board pulse on the selected cell (mode PULSE), its word line at ``gate_V``
        (V) when given."""
        signed = float(polarity) * amplitude_V
        guard_source(self.limits, self.io.name, np.array([signed]), np.array([width_s]))
        gate = None if gate_V is None else np.array([gate_V], dtype=np.float64)
        guard_gate(self.limits, self.io.name, gate, np.array([int(polarity)]))
        word = Polarity(polarity).name
        (command,) = _with_gate([f"PULSE {word} {num(amplitude_V)} {num(width_s)}"], gate, " ")
        self.command(command, width_s + _SWITCH_TIME_S)

    def read(self, volts: float) -> tuple[float, bool]:
        """On-board read of the selected cell: current (A) and compliance flag."""
        self.limits.check_read_voltage(volts)
        command = f"READ {num(volts)}"
        current, flag = self.io.parse_numbers(command, self.command(command), 2)
        return float(current), bool(flag)

    def load_sequence(self, cells: Cells, gate: np.ndarray | None = None) -> None:
        """Route ``cells`` to the SMU one after another, one per SMU trigger, each routed
        cell's word line at its ``gate`` (V) when given."""
        guard_gate(self.limits, self.io.name, gate)
        pairs = zip(cells.rows.tolist(), cells.cols.tolist(), strict=True)
        body = ";".join(_with_gate([f"{r},{c}" for r, c in pairs], gate, ","))
        command = f"SEQ {body}"
        reply = self.command(command)
        if reply.split() != ["SEQ", str(len(cells))]:
            raise InstrumentError(f"{self.io.name}: SEQ of {len(cells)} cells answered "
                                  f"{reply[:60]!r}, expected 'SEQ {len(cells)}'")

    def pulse_batch(self, pulses: PulseBatch) -> None:
        """Pulse every cell of ``pulses`` in order with the on-board generator, one round trip."""
        guard_source(self.limits, self.io.name, pulses.signed_voltage, pulses.width)
        guard_gate(self.limits, self.io.name, pulses.gate, pulses.polarity)
        words = np.where(pulses.polarity == Polarity.SET, "S", "R")
        entries = [f"{r},{c},{p},{num(a)},{num(w)}"
                   for r, c, p, a, w in zip(pulses.cells.rows.tolist(), pulses.cells.cols.tolist(),
                                            words, pulses.amplitude, pulses.width, strict=True)]
        body = ";".join(_with_gate(entries, pulses.gate, ","))
        expected = float(pulses.width.sum()) + len(pulses) * _SWITCH_TIME_S
        reply = self.command(f"BATCH {body}", expected)
        if reply.split() != ["BATCH", str(len(pulses))]:
            raise InstrumentError(f"{self.io.name}: BATCH of {len(pulses)} pulses answered "
                                  f"{reply[:60]!r}, expected 'BATCH {len(pulses)}'")

    def off(self) -> None:
        """Disconnect every cell (the safe state)."""
        self.command("OFF")

    def close(self) -> None:
        self.io.close()


def guard_gate(limits: SafetyLimits, instrument: str, gate: np.ndarray | None,
               polarity: np.ndarray | None = None) -> None:
    """Defence in depth for the word line: refuse, before sending, any gate (V) outside the
    limits in force, per polarity where the board knows it (a routed sequence for the SMU
    does not: there the union of both polarities' ranges applies; the crossbar layer has
    already checked each pulse's own). ``None`` (no word line driven) always passes."""
    if gate is None:
        return
    gate = np.atleast_1d(np.asarray(gate, dtype=np.float64))
    if polarity is None:
        low = np.full(gate.shape, min(limits.gate_set_min_V, limits.gate_reset_min_V))
        high = np.full(gate.shape, max(limits.gate_set_max_V, limits.gate_reset_max_V))
    else:
        low, high = limits.gate_range(np.broadcast_to(polarity, gate.shape))
    bad = ~np.isfinite(gate) | (gate < low) | (gate > high)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SafetyLimitError(f"{instrument}: refusing gate {gate[i]:.6e} V (step {i + 1}): "
                               f"gates must lie in [{low[i]:.6e}, {high[i]:.6e}] V")


def _with_gate(entries: list[str], gate: np.ndarray | None, sep: str) -> list[str]:
    """Each entry with its pulse's gate appended after ``sep``; unchanged with no gate (1R)."""
    if gate is None:
        return entries
    return [f"{entry}{sep}{num(g)}" for entry, g in zip(entries, gate.tolist(), strict=True)]
