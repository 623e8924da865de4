"""Planners for one polarity only, completed by a fallback for the other.

A predictor trained on SET pulses alone cannot plan a RESET, yet a write-verify run needs one
as soon as a cell overshoots. ``PolarityFallback`` plans with it what it knows and hands
every other cell to a fallback planner (the heuristic, or ``FixedPulse``), so the run goes on
instead of aborting.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, Polarity, SafetyLimits

from .planner import PlannedPulses, PulsePlanner
from .settings import check_settings


class FixedPulse(PulsePlanner):
    """The same pulse for every cell, in the polarity its target needs. Volts, seconds; gate
    None sends none."""

    name = "fixed-pulse"

    def __init__(self, set_V: float, reset_V: float, width_s: float,
                 gate_V: float | None = None) -> None:
        self.set_V, self.reset_V, self.width_s, self.gate_V = set_V, reset_V, width_s, gate_V

    def check(self, limits: SafetyLimits) -> None:
        check_settings("fixed-pulse", limits, set_V={"set_V": self.set_V},
                       reset_V={"reset_V": self.reset_V}, width_s={"width_s": self.width_s},
                       gate_V={"gate_V": self.gate_V})

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        n = len(cells)
        polarity = np.where(target > present, Polarity.SET, Polarity.RESET).astype(np.int8)
        gate = None if self.gate_V is None else np.full(n, self.gate_V)
        return PlannedPulses(polarity, np.where(polarity > 0, self.set_V, self.reset_V),
                             np.full(n, self.width_s), np.zeros(n, bool), gate)


class PolarityFallback(PulsePlanner):
    """``primary`` plans the cells that need ``polarity``, ``fallback`` all others.

    A gate one of them plans and the other does not is NaN for the other's cells; protocols
    put their default gate there (the driver refuses a NaN gate).
    """

    def __init__(self, primary: PulsePlanner, polarity: Polarity,
                 fallback: PulsePlanner) -> None:
        self.primary, self.polarity, self.fallback = primary, polarity, fallback
        self.name = f"{primary.name}+{fallback.name}"

    def _split(self, polarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mine = polarity == self.polarity
        return np.flatnonzero(mine), np.flatnonzero(~mine)

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        needed = np.where(target > present, Polarity.SET, Polarity.RESET)
        parts = [(index, planner.plan(cells.subset(index), present[index], target[index]))
                 for index, planner in zip(self._split(needed), (self.primary, self.fallback),
                                           strict=True) if index.size]
        n = len(cells)
        out = {"polarity": np.zeros(n, np.int8), "amplitude": np.zeros(n),
               "width": np.zeros(n), "at_limit": np.zeros(n, bool)}
        gated = any(p.gate is not None for _, p in parts)
        gate = np.full(n, np.nan) if gated else None
        for index, planned in parts:
            for key, values in out.items():
                values[index] = getattr(planned, key)
            if gated and planned.gate is not None:
                gate[index] = planned.gate
        return PlannedPulses(**out, gate=gate)

    def observe(self, cells: Cells, pulses: PlannedPulses, before: np.ndarray,
                after: np.ndarray) -> None:
        for index, planner in zip(self._split(pulses.polarity), (self.primary, self.fallback),
                                  strict=True):
            if index.size:
                planner.observe(cells.subset(index), pulses.subset(index), before[index],
                                after[index])

    def learned(self, cells: Cells) -> dict[str, np.ndarray]:
        return {**{f"primary.{k}": v for k, v in self.primary.learned(cells).items()},
                **{f"fallback.{k}": v for k, v in self.fallback.learned(cells).items()}}

    def restore_learned(self, cells: Cells, learned: dict[str, np.ndarray]) -> None:
        for prefix, planner in (("primary.", self.primary), ("fallback.", self.fallback)):
            mine = {k[len(prefix):]: v for k, v in learned.items() if k.startswith(prefix)}
            if mine:
                planner.restore_learned(cells, mine)
