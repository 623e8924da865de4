"""The pulse record of a round, and the ``PulsePlanner`` interface: (present G, target G, cell)
-> the pulse to apply.

``PlannedPulses`` is the one record a round's pulses travel in: a protocol's ``plan`` returns
it, a planner's ``plan`` returns it, the engine sends it (with the cells) to the crossbar, and
the protocol's ``learn`` and the planner's ``observe`` get the same record back.

Planner implementations live above this package (the neural predictor in ``hilctl``, the oracle
in ``simulated_backend``) or beside it (the model-free heuristic); protocols only see this.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import Cells, PulseBatch


@dataclass(frozen=True)
class PlannedPulses:
    """One pulse per cell of a round, in the order of the cells it was planned for.

    Parameters
    ----------
    polarity : array of int
        ``Polarity.SET`` (+1) or ``Polarity.RESET`` (-1).
    amplitude : array of float
        Pulse magnitude in volts.
    width : array of float
        Pulse width in seconds.
    at_limit : array of bool
        Pulses at the strongest setting their planner or protocol allows (a planner's target
        lies beyond what it believes one pulse can do; a ramp reached its top). They are still
        safe to apply; a cell that stops answering them is declared failed by the engine.
    gate : array of float or None
        Gate voltage in volts (None: no gate sent).
    """

    polarity: np.ndarray
    amplitude: np.ndarray
    width: np.ndarray
    at_limit: np.ndarray
    gate: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at_limit", np.asarray(self.at_limit, dtype=bool))

    def subset(self, index: np.ndarray) -> PlannedPulses:
        """The pulses at ``index`` (positions into this record)."""
        gate = None if self.gate is None else self.gate[index]
        return PlannedPulses(self.polarity[index], self.amplitude[index], self.width[index],
                             self.at_limit[index], gate)

    def with_default_gate(self, gate_V: float | None) -> PlannedPulses:
        """These pulses with ``gate_V`` wherever they carry no gate (None or NaN), since a
        1T1R driver refuses a pulse without one; unchanged when ``gate_V`` is None."""
        if gate_V is None:
            return self
        n = self.polarity.size
        gate = np.full(n, gate_V) if self.gate is None else np.where(np.isnan(self.gate),
                                                                      gate_V, self.gate)
        return PlannedPulses(self.polarity, self.amplitude, self.width, self.at_limit, gate)

    def to_batch(self, cells: Cells) -> PulseBatch:
        """The driver's batch: these pulses sent to ``cells``."""
        return PulseBatch(cells, self.polarity, self.amplitude, self.width, self.gate)


class PulsePlanner(ABC):
    """Plans the pulse that moves each cell from its present conductance to its target."""

    name: str = "planner"

    @abstractmethod
    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        """Pulses for ``cells``; ``present`` and ``target`` are read conductances in siemens."""

    def observe(self, cells: Cells, pulses: PlannedPulses, before: np.ndarray,
                after: np.ndarray) -> None:
        """Learn from how each cell answered its last pulse (per-device adaptation).

        ``pulses`` is the record ``plan`` returned for these cells. The default planner does
        not adapt.
        """

    def learned(self, cells: Cells) -> dict[str, np.ndarray]:
        """What the planner has learned about ``cells``, one array entry per cell, so that a
        stored run can give it back on resume (``restore_learned``). Empty if it learns
        nothing."""
        return {}

    def restore_learned(self, cells: Cells, learned: dict[str, np.ndarray]) -> None:
        """Take back what ``learned`` (from ``learned``) says about ``cells``."""
