"""Driver for the crossbar test board (switch matrix + pulse generator) over pyserial.

The line protocol is written down in ``BOARD_PROTOCOL.md`` beside this module: one ASCII
command per line, one ``OK ...`` or ``ERR <code> <text>`` reply per command. The port is
opened with ``serial.serial_for_url``, so a port name, ``socket://host:port`` and a registered
simulator URL all work.
"""

from __future__ import annotations

import numpy as np

from .errors import InstrumentError
from .instrument_io import InstrumentIO, SerialTransport, guard_source, num
from .limits import SafetyLimits
from .vocabulary import Cells, Polarity, PulseBatch

# Time the board needs per routed cell or on-board pulse beyond the pulse itself, in seconds.
_SWITCH_TIME_S = 20e-6


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
        """The board generator's own limits: set/reset max (V), width min/max (s)."""
        values = self.io.parse_numbers("LIMITS?", self.command("LIMITS?"), 4)
        return dict(zip(("set_max_V", "reset_max_V", "width_min_s", "width_max_s"),
                        (float(v) for v in values), strict=True))

    def select(self, row: int, col: int) -> None:
        self.command(f"SEL {int(row)} {int(col)}", _SWITCH_TIME_S)

    def mode(self, mode: str) -> None:
        if mode not in ("READ", "PULSE"):
            raise ValueError(f"board mode must be READ or PULSE, not {mode!r}")
        self.command(f"MODE {mode}", _SWITCH_TIME_S)

    def pulse(self, polarity: Polarity, amplitude_V: float, width_s: float) -> None:
        """One on-board pulse on the selected cell (mode PULSE)."""
        signed = float(polarity) * amplitude_V
        guard_source(self.limits, self.io.name, np.array([signed]), np.array([width_s]))
        word = Polarity(polarity).name
        self.command(f"PULSE {word} {num(amplitude_V)} {num(width_s)}", width_s + _SWITCH_TIME_S)

    def read(self, volts: float) -> tuple[float, bool]:
        """On-board read of the selected cell: current (A) and compliance flag."""
        self.limits.check_read_voltage(volts)
        command = f"READ {num(volts)}"
        current, flag = self.io.parse_numbers(command, self.command(command), 2)
        return float(current), bool(flag)

    def load_sequence(self, cells: Cells) -> None:
        """Route ``cells`` to the SMU one after another, one per SMU trigger."""
        pairs = zip(cells.rows.tolist(), cells.cols.tolist(), strict=True)
        body = ";".join(f"{r},{c}" for r, c in pairs)
        command = f"SEQ {body}"
        reply = self.command(command)
        if reply.split() != ["SEQ", str(len(cells))]:
            raise InstrumentError(f"{self.io.name}: SEQ of {len(cells)} cells answered "
                                  f"{reply[:60]!r}, expected 'SEQ {len(cells)}'")

    def pulse_batch(self, pulses: PulseBatch) -> None:
        """Pulse every cell of ``pulses`` in order with the on-board generator, one round trip."""
        guard_source(self.limits, self.io.name, pulses.signed_voltage, pulses.width)
        words = np.where(pulses.polarity == Polarity.SET, "S", "R")
        body = ";".join(
            f"{r},{c},{p},{num(a)},{num(w)}"
            for r, c, p, a, w in zip(pulses.cells.rows.tolist(), pulses.cells.cols.tolist(),
                                     words, pulses.amplitude, pulses.width, strict=True))
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
