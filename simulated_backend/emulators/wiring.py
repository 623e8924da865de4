"""The wiring behind the emulated instruments: one simulated array, the board's routing, and
the physics of sourcing a voltage into a routed cell.

The board emulator writes the routing (one selected cell, or a sequence advanced by the
SMU's trigger line) and the word-line level (gate) of each routed cell; the SMU emulators
pulse and measure whatever is routed, and a pulse reaches the array with that gate.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from hilctl.drivers import Cells, PulseBatch, SafetyLimits

from ..crossbar import SimulatedCrossbar

# What the simulated devices survive: wider than any rig's configured limits, so that the
# drivers' and the board's own limits are what a test exercises.
PHYSICAL_LIMITS = SafetyLimits(set_max_V=5.0, reset_max_V=5.0, width_min_s=1e-9,
                               width_max_s=1.0, compliance_A=0.1, read_V=0.2, read_max_V=1.0,
                               gate_set_max_V=5.0, gate_reset_max_V=5.0)


class EmulatedArray:
    """A simulated array with a switch matrix in front of it.

    Parameters
    ----------
    crossbar : SimulatedCrossbar
        Built with limits no tighter than ``PHYSICAL_LIMITS``.
    """

    def __init__(self, crossbar: SimulatedCrossbar) -> None:
        self.crossbar = crossbar
        self.lock = threading.RLock()
        self.selected: tuple[int, int] | None = None
        self.sequence: list[tuple[int, int]] = []
        # Word-line level (V) per sequence entry, None where the entry drives none.
        self.sequence_gates: list[float | None] = []
        self.position = 0
        self.gate: float | None = None
        self.pulses_applied = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.crossbar.shape

    def disconnect(self) -> None:
        self.load([], [])

    def load(self, cells: list[tuple[int, int]], gates: list[float | None]) -> None:
        """A new sequence of cells (nothing routed yet) with each entry's word-line level."""
        self.selected, self.gate = None, None
        self.sequence, self.sequence_gates = cells, gates
        self.position = 0

    def advance(self) -> tuple[int, int] | None:
        """One trigger from the SMU: route the next cell of the loaded sequence (None: none)
        and drive its word line at the entry's gate (``self.gate``)."""
        if self.position >= len(self.sequence):
            self.selected, self.gate = None, None
            return None
        self.selected = self.sequence[self.position]
        self.gate = self.sequence_gates[self.position]
        self.position += 1
        return self.selected

    def pulse(self, cells: list[tuple[int, int]], volts: np.ndarray, widths: np.ndarray,
              gates: list[float | None] | None = None) -> None:
        """Apply signed ``volts`` (V) for ``widths`` (s) to each cell in order, with each
        cell's word line at ``gates`` (V); no gates (or None entries, which the board never
        mixes with values) is a pulse with no gate of its own."""
        if not cells:
            return
        rows, cols = zip(*cells, strict=True)
        volts = np.asarray(volts, dtype=np.float64)
        gate = None if gates is None or gates[0] is None else np.array(gates, dtype=np.float64)
        batch = PulseBatch(Cells(np.array(rows), np.array(cols)),
                           np.where(volts >= 0, 1, -1), np.abs(volts), widths, gate)
        self.crossbar.apply(batch)
        self.pulses_applied += len(cells)

    def currents(self, cells: list[tuple[int, int] | None], volts: float,
                 compliance_A: float) -> tuple[np.ndarray, np.ndarray]:
        """Currents (A) at ``volts`` through each routed cell (0 A where nothing is routed),
        clipped at ``compliance_A`` with the flags that say where."""
        current = np.zeros(len(cells))
        routed = [i for i, cell in enumerate(cells) if cell is not None]
        if routed:
            rows, cols = zip(*(cells[i] for i in routed), strict=True)
            reading = self.crossbar.read(Cells(np.array(rows), np.array(cols)))
            current[routed] = reading.conductance * volts
        hit = np.abs(current) > compliance_A
        return np.clip(current, -compliance_A, compliance_A), hit


def new_array(shape: tuple[int, int], seed: int = 0, params=None, read_V: float = 0.2,
              model=None) -> EmulatedArray:
    """A fresh emulated array; ``read_V`` (V) is the read voltage its I-V is evaluated at;
    ``model`` (a ``DeviceModel``, instead of ``params``) the devices behind the instruments."""
    limits = dataclasses.replace(PHYSICAL_LIMITS, read_V=read_V)
    return EmulatedArray(SimulatedCrossbar(shape, params, limits, seed, model=model))
