"""The wiring behind the emulated instruments: one simulated array, the board's routing, and
the physics of sourcing a voltage into a routed cell.

The board emulator writes the routing (one selected cell, or a sequence advanced by the
SMU's trigger line); the SMU emulators pulse and measure whatever is routed.
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
                               width_max_s=1.0, compliance_A=0.1, read_V=0.2, read_max_V=1.0)


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
        self.position = 0
        self.pulses_applied = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.crossbar.shape

    def disconnect(self) -> None:
        self.selected = None
        self.sequence = []
        self.position = 0

    def advance(self) -> tuple[int, int] | None:
        """One trigger from the SMU: route the next cell of the loaded sequence (None: none)."""
        if self.position >= len(self.sequence):
            self.selected = None
            return None
        self.selected = self.sequence[self.position]
        self.position += 1
        return self.selected

    def pulse(self, cells: list[tuple[int, int]], volts: np.ndarray, widths: np.ndarray) -> None:
        """Apply signed ``volts`` (V) for ``widths`` (s) to each cell in order."""
        if not cells:
            return
        rows, cols = zip(*cells, strict=True)
        volts = np.asarray(volts, dtype=np.float64)
        batch = PulseBatch(Cells(np.array(rows), np.array(cols)),
                           np.where(volts >= 0, 1, -1), np.abs(volts), widths)
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


def new_array(shape: tuple[int, int], seed: int = 0, params=None,
              read_V: float = 0.2) -> EmulatedArray:
    """A fresh emulated array; ``read_V`` (V) is the read voltage its I-V is evaluated at."""
    limits = dataclasses.replace(PHYSICAL_LIMITS, read_V=read_V)
    return EmulatedArray(SimulatedCrossbar(shape, params, limits, seed))
