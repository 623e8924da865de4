"""The ``PulsePlanner`` interface: (present G, target G, cell) -> the pulse to apply.

Implementations live above this package (the neural predictor in ``hilctl``, the oracle in
``simulated_backend``) or beside it (the model-free heuristic); protocols only see this.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import Cells


@dataclass(frozen=True)
class PlannedPulses:
    """One pulse per requested cell.

    ``clamped`` marks pulses whose knob hit the planner's safe range (the target lies beyond
    what the planner believes one pulse can do); they are still safe to apply.
    """

    polarity: np.ndarray
    amplitude: np.ndarray
    width: np.ndarray
    clamped: np.ndarray
    gate: np.ndarray | None = None


class PulsePlanner(ABC):
    """Plans the pulse that moves each cell from its present conductance to its target."""

    name: str = "planner"

    @abstractmethod
    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        """Pulses for ``cells``; ``present`` and ``target`` are read conductances in siemens."""

    def observe(self, cells: Cells, pulses: PlannedPulses, before: np.ndarray,
                after: np.ndarray) -> None:
        """Learn from how each cell answered its last pulse (per-device adaptation).

        The default planner does not adapt.
        """

    def learned(self, cells: Cells) -> dict[str, np.ndarray]:
        """What the planner has learned about ``cells``, one array entry per cell, so that a
        stored run can give it back on resume (``restore_learned``). Empty if it learns
        nothing."""
        return {}

    def restore_learned(self, cells: Cells, learned: dict[str, np.ndarray]) -> None:
        """Take back what ``learned`` (from ``learned``) says about ``cells``."""
