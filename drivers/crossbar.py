"""The batched ``Crossbar`` interface that every protocol programs against.

Concrete crossbars (the simulator, an instrument rig) implement ``_apply``, ``_read`` and
``_make_safe``; the public methods here check the safety limits first, so no implementation can
forget them, and the context manager leaves the rig safe on exit, error and Ctrl-C.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import numpy as np

from .limits import SafetyLimits, check_cells
from .vocabulary import Cells, PulseBatch, Reading


class Crossbar(ABC):
    """A crossbar array reachable for batched pulses and reads."""

    def __init__(self, shape: tuple[int, int], limits: SafetyLimits) -> None:
        self._shape = (int(shape[0]), int(shape[1]))
        self._limits = limits

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def limits(self) -> SafetyLimits:
        return self._limits

    def apply(self, pulses: PulseBatch) -> None:
        """Apply one pulse per cell; ``SafetyLimitError`` before any pulse if one is unsafe."""
        self._limits.check_pulses(pulses, self._shape)
        if len(pulses):
            self._apply(pulses)

    def read(self, cells: Cells) -> Reading:
        """Read conductance (S) of each cell at ``limits.read_V``."""
        check_cells(cells, self._shape)
        self._limits.check_read_voltage(self._limits.read_V)
        if not len(cells):
            return Reading(cells, np.empty(0), np.empty(0, dtype=bool))
        return self._read(cells)

    def close(self) -> None:
        """Leave the rig safe: outputs off at 0 V."""
        self._make_safe()

    def __enter__(self) -> Crossbar:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @abstractmethod
    def _apply(self, pulses: PulseBatch) -> None: ...

    @abstractmethod
    def _read(self, cells: Cells) -> Reading: ...

    @abstractmethod
    def _make_safe(self) -> None: ...


@runtime_checkable
class KnowsTrueConductance(Protocol):
    """A crossbar that can tell the noise-free conductance (only a simulator can)."""

    def sim_true_conductance(self, cells: Cells) -> np.ndarray: ...


@runtime_checkable
class Checkpointable(Protocol):
    """A crossbar whose whole state can be saved and restored, so a killed run resumes exactly.

    A physical array keeps its state by itself; a simulated one must be told.
    """

    def sim_snapshot(self, cells: Cells | None = None) -> dict[str, np.ndarray]: ...

    def sim_restore(self, snapshot: dict[str, np.ndarray]) -> None: ...
