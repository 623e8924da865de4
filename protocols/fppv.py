"""``fppv``: fixed-pulse program-verify, the scheme 2-bit-per-cell 1T1R programming uses.

Every cell is RESET to its high-resistance state (a block RESET, counted in the cost), then
gets one SET at its level's gate and a verify read. A cell outside its band is RESET and
SET again at the same setting (the cycle-to-cycle spread of a gate-limited SET gives it
another draw), up to ``max_tries`` SET attempts, i.e. ``2 * max_tries - 1`` pulses per cell:

    RESET(block), SET, verify, [RESET, SET, verify] * (max_tries - 1)

The SET comes from a ``PulsePlanner`` (a trained planner with the gate knob), or from
``LevelGates``, a table giving each level's gate.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, ConfigError, DataError, Polarity, PulseBatch, SafetyLimits

from .engine import ProgramState
from .planned import _Planned
from .planner import PlannedPulses, PulsePlanner
from .settings import ResetPulse, check_settings


class LevelGates(PulsePlanner):
    """Plans, for a target at one of the levels, a SET at that level's gate.

    Parameters
    ----------
    targets_S : sequence of float
        The level targets (band centres) in siemens.
    gates_V : sequence of float
        The SET gate of each level in volts.
    set_V, width_s : float
        Bit-line amplitude (V) and width (s) of every SET.
    """

    name = "level-gates"

    def __init__(self, targets_S, gates_V, set_V: float = 1.2, width_s: float = 1e-6) -> None:
        self.targets_S = np.asarray(targets_S, dtype=np.float64)
        self.gates_V = np.asarray(gates_V, dtype=np.float64)
        if self.targets_S.shape != self.gates_V.shape or self.targets_S.ndim != 1:
            raise ConfigError(f"level gates: {self.gates_V.size} gates for "
                              f"{self.targets_S.size} levels")
        self.set_V, self.width_s = set_V, width_s

    def check(self, limits: SafetyLimits) -> None:
        check_settings("fppv", limits, set_V={"set_V": self.set_V},
                       width_s={"width_s": self.width_s},
                       set_gate_V={f"gates_V[{i}]": g for i, g in enumerate(self.gates_V)})

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        level = np.abs(np.asarray(target)[:, None] - self.targets_S).argmin(axis=1)
        unknown = ~np.isclose(self.targets_S[level], target, rtol=1e-9, atol=0)
        if unknown.any():
            raise DataError(f"fppv: target {target[unknown][0]:.4e} S of "
                            f"{cells.describe(int(np.flatnonzero(unknown)[0]))} is at none of "
                            "the levels whose gates were given")
        n = len(cells)
        return PlannedPulses(np.full(n, Polarity.SET, np.int8), np.full(n, self.set_V),
                             np.full(n, self.width_s), np.zeros(n, bool), self.gates_V[level])


class FixedPulseVerify(_Planned):
    """FPPV: RESET, one SET from ``planner``, verify; RESET and repeat on a miss.

    Parameters
    ----------
    planner : PulsePlanner
        Plans each cell's SET from its read after the RESET and its target.
    reset : ResetPulse
        The full RESET, before the first SET and before every retry.
    max_tries : int
        SET attempts per cell.
    gate_V : float or None
        Gate of a planned SET when the planner plans none.
    """

    name = "fppv"
    block_reset = True

    def __init__(self, planner: PulsePlanner, reset: ResetPulse | None = None,
                 max_tries: int = 8, gate_V: float | None = None) -> None:
        super().__init__(planner, gate_V)
        self.reset = reset or ResetPulse(2.0, 10e-6, 3.0)
        if max_tries < 1:
            raise ConfigError(f"fppv.max_tries = {max_tries}: expected at least 1")
        self.max_pulses = 2 * max_tries - 1

    def check(self, limits: SafetyLimits) -> None:
        self.reset.check("fppv", limits)
        if self.reset.gate_V is None:
            raise ConfigError("fppv: the full RESET needs a gate (block_reset.gate_V or "
                              "gate_V): a 1T1R cell is reached through its access transistor")
        check_settings("fppv", limits, gate_V={"gate_V": self.gate_V})
        if isinstance(self.planner, LevelGates):
            self.planner.check(limits)

    def preparation(self, cells: Cells, limits: SafetyLimits) -> PulseBatch | None:
        return self.reset.batch(cells)

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        return {**super().init_memory(state), "reset_next": np.zeros(state.targets.size, bool)}

    def plan(self, state: ProgramState, active: np.ndarray) -> PlannedPulses:
        reset = state.memory["reset_next"][active]
        planned = super().plan(state, active)
        n = active.size
        planned_gate = np.nan if planned.gate is None else planned.gate  # the driver refuses NaN
        gate = np.where(reset, self.reset.gate_V, planned_gate)
        return PlannedPulses(np.where(reset, Polarity.RESET, planned.polarity),
                             np.where(reset, self.reset.amplitude_V, planned.amplitude),
                             np.where(reset, self.reset.width_s, planned.width),
                             np.zeros(n, bool), gate)

    def learn(self, state, active, pulses, before, after) -> None:
        # Only a pulse from the planner teaches it; the next pulse after it is a RESET.
        planned = state.memory["reset_next"][active] == 0
        state.memory["reset_next"][active] = planned
        if planned.any():
            self._observe(state, active, np.flatnonzero(planned), before, after)
