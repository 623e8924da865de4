"""Protocols whose pulses come from a ``PulsePlanner``.

- ``OneShot`` ("one-shot"): one planned pulse per cell and one read, no correction; optionally
  after a block RESET that brings every cell to a known state near its low bound.
- ``PlannedWriteVerify`` ("write-verify-planned"): the first pulse and every correction come
  from the planner with the latest read, and the planner sees how each cell answered.

The planner's own record is the round's record: a pulse it marks ``at_limit`` (the target lies
beyond what it believes one pulse can do) is the protocol's strongest setting, so a cell that
stops answering such pulses is declared failed by the engine's stall rule instead of burning
its whole budget; and its ``observe`` gets back the very record it planned.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, DataError, PulseBatch, SafetyLimits

from .engine import ProgrammingProtocol, ProgramState
from .planner import PlannedPulses, PulsePlanner
from .settings import ResetPulse, check_settings

_PLANNER = "planner."


class _Planned(ProgrammingProtocol):
    """Shared plumbing: the run's cells, the optional block RESET, and the planner's answer as
    the round's pulses.

    ``gate_V`` is the gate a pulse carries when the planner plans none (None: no gate sent);
    ``reset`` the block RESET applied to every cell before the first read (None: none). The
    planner's own record of the round is kept until ``learn``, so ``observe`` gets back
    exactly what ``plan`` returned (without the default gate filled in); every planned
    protocol hands the planner each verify read.
    """

    def __init__(self, planner: PulsePlanner, gate_V: float | None = None,
                 reset: ResetPulse | None = None) -> None:
        self.planner = planner
        self.gate_V = gate_V
        self.reset = reset
        self.block_reset = reset is not None
        self._cells: Cells | None = None
        self._planned: PlannedPulses | None = None

    def check(self, limits: SafetyLimits) -> None:
        check_settings(self.name, limits, gate_V={"gate_V": self.gate_V})
        if self.reset is not None:
            self.reset.check(self.name, limits)

    def preparation(self, cells: Cells, limits: SafetyLimits) -> PulseBatch | None:
        return None if self.reset is None else self.reset.batch(cells)

    def begin(self, cells: Cells) -> None:
        self._cells = cells

    # The planner's per-cell learning lives in ``state.memory`` too, so the run store keeps it
    # and a resumed run plans exactly as the uninterrupted one would.
    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        return {f"{_PLANNER}{k}": v for k, v in self.planner.learned(self._cells).items()}

    def resume(self, state: ProgramState) -> None:
        learned = {k[len(_PLANNER):]: v for k, v in state.memory.items()
                   if k.startswith(_PLANNER)}
        if learned:
            self.planner.restore_learned(self._cells, learned)

    def _keep_learning(self, state: ProgramState, active: np.ndarray) -> None:
        for key, values in self.planner.learned(self._cells_at(active)).items():
            state.memory[f"{_PLANNER}{key}"][active] = values

    def _cells_at(self, active: np.ndarray) -> Cells:
        if self._cells is None:
            raise DataError(f"{self.name}: plan() called outside program() (no cells known)")
        return self._cells.subset(active)

    def plan(self, state: ProgramState, active: np.ndarray) -> PlannedPulses:
        self._planned = self.planner.plan(self._cells_at(active), state.read[active],
                                          state.targets[active])
        return self._planned.with_default_gate(self.gate_V)

    def learn(self, state: ProgramState, active: np.ndarray, pulses: PlannedPulses,
              before: np.ndarray, after: np.ndarray) -> None:
        self._observe(state, active, slice(None), before, after)

    def _observe(self, state: ProgramState, active: np.ndarray, index: np.ndarray | slice,
                 before: np.ndarray, after: np.ndarray,
                 pulses: PlannedPulses | None = None) -> None:
        """Hand the planner its own pulses at ``index`` (positions in ``active``; or
        ``pulses``, what a protocol that changed them sent) and how those cells answered, and
        keep what it learned in ``state.memory``."""
        sent = self._planned.subset(index) if pulses is None else pulses
        self.planner.observe(self._cells_at(active[index]), sent, before[index], after[index])
        self._keep_learning(state, active[index])


class OneShot(_Planned):
    """One planned pulse per cell, one verify read, no correction. The planner still sees
    how each cell answered, so a planner that keeps what it learns (a device book) learns
    from a one-shot run too.

    Parameters
    ----------
    planner : PulsePlanner
    block_reset : bool
        First apply one RESET pulse to every cell (its time and energy count in the cost), so
        that every cell starts near its low bound, as a lab array does after a block RESET.
    reset : ResetPulse
        The block RESET (amplitude, width and gate, from configuration).
    gate_V : float or None
        Gate of a planned pulse when the planner plans none.
    """

    name = "one-shot"
    max_pulses = 1

    def __init__(self, planner: PulsePlanner, block_reset: bool = True,
                 reset: ResetPulse | None = None, gate_V: float | None = None) -> None:
        super().__init__(planner, gate_V, (reset or ResetPulse()) if block_reset else None)


class PlannedWriteVerify(_Planned):
    """Write-verify whose first pulse and every correction come from ``planner``.

    After each verify read the planner's ``observe`` gets the pulse each cell received and its
    reads before and after, so a planner that adapts per device does so from the second pulse.
    With ``reset`` every cell first gets that block RESET, as in ``write-verify-wl`` and
    ``fppv`` (on a 1T1R array it brings the lowest level, and a known start, for free).
    """

    name = "write-verify-planned"
