"""``fppv``: fixed-pulse program-verify, the scheme 2-bit-per-cell 1T1R programming uses.

Every cell is RESET to its high-resistance state (a block RESET, counted in the cost), then
gets one SET at its level's gate and a verify read. A cell outside its band is RESET and SET
again (the cycle-to-cycle spread of a gate-limited SET gives it another draw), up to
``2 * max_tries - 1`` pulses per cell:

    RESET(block), SET, verify, [RESET, SET, verify] * (max_tries - 1)

With ``reset_on_undershoot`` False only a cell above its band is RESET; one below it gets the
next SET straight away: a SET never lowers a cell and lands where the gate's current allows
whatever the cell held before, so for a fixed gate the RESET only costs a pulse. A planner
that plans from the present read keeps the RESET: it knows the SET from the high-resistance
state best (there the table holds most of its rows). Either way a cell that fell short of a
SET the planner had to clamp (its strongest) is SET again without a RESET: the SET keeps the
best of its cycle-to-cycle draws, which a RESET would throw away (a device whose plateau sits
just below a one-sided top level gets there only so).

A cell above its band before its first SET (a low level the block RESET missed) gets RESETs
until it is not. With ``nudge_V`` each miss also moves that cell's SET gate towards its band
(down after an overshoot, up after an undershoot), inside the rig's SET gate limits: most of
the spread of where a gate-limited SET lands is the device's own (87 % of the variance on the
plateau, Le et al., "RADAR", IEEE TED 2021), so the same gate misses the same cell again.

The SET comes from a ``PulsePlanner`` (a trained planner with the gate knob), or from
``LevelGates``, a table giving each level's gate.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, ConfigError, DataError, Polarity, SafetyLimits

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

    def check(self, limits: SafetyLimits, owner: str = "fppv") -> None:
        check_settings(owner, limits, set_V={"set_V": self.set_V},
                       width_s={"width_s": self.width_s},
                       set_gate_V={f"gates_V[{i}]": g for i, g in enumerate(self.gates_V)})

    def gates_for(self, target: np.ndarray, cells: Cells | None = None) -> np.ndarray:
        """The gate of each target's level; ``DataError`` for a target at no level."""
        target = np.asarray(target, dtype=np.float64)
        level = np.abs(target[:, None] - self.targets_S).argmin(axis=1)
        unknown = ~np.isclose(self.targets_S[level], target, rtol=1e-9, atol=0)
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            where = f" of {cells.describe(i)}" if cells is not None else ""
            raise DataError(f"target {target[i]:.4e} S{where} is at none of the levels whose "
                            "gates were given")
        return self.gates_V[level]

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        n = len(cells)
        return PlannedPulses(np.full(n, Polarity.SET, np.int8), np.full(n, self.set_V),
                             np.full(n, self.width_s), np.zeros(n, bool),
                             self.gates_for(target, cells))


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
    nudge_V : float or None
        Per-cell gate correction after each miss (None: every try at the planned gate).
    reset_on_undershoot : bool
        RESET before the next SET after a miss below the band too (see the module text).
    """

    name = "fppv"

    def __init__(self, planner: PulsePlanner, reset: ResetPulse | None = None,
                 max_tries: int = 8, gate_V: float | None = None,
                 nudge_V: float | None = None, reset_on_undershoot: bool = True) -> None:
        super().__init__(planner, gate_V, reset or ResetPulse(2.0, 10e-6, 3.0))
        if max_tries < 1:
            raise ConfigError(f"fppv.max_tries = {max_tries}: expected at least 1")
        if nudge_V is not None and not nudge_V > 0:
            raise ConfigError(f"fppv.nudge_V = {nudge_V:g} V: expected > 0")
        self.max_pulses = 2 * max_tries - 1
        self.nudge_V, self.reset_on_undershoot = nudge_V, reset_on_undershoot
        self._gate_range = (0.0, np.inf)

    def check(self, limits: SafetyLimits) -> None:
        super().check(limits)
        if self.reset.gate_V is None:
            raise ConfigError("fppv: the full RESET needs a gate (block_reset.gate_V or "
                              "gate_V): a 1T1R cell is reached through its access transistor")
        if isinstance(self.planner, LevelGates):
            self.planner.check(limits)
        self._gate_range = (limits.gate_set_min_V, limits.gate_set_max_V)

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        n = state.targets.size
        return {**super().init_memory(state), "reset_next": self._above(state, slice(None)),
                "nudge": np.zeros(n), "clamped": np.zeros(n, bool)}

    @staticmethod
    def _above(state: ProgramState, at) -> np.ndarray:
        return state.read[at] > state.targets[at] + state.band[at]

    def plan(self, state: ProgramState, active: np.ndarray) -> PlannedPulses:
        # The planner only plans the SETs (a planner that knows only SET, as a gate-sweep
        # table teaches it, is enough); the full RESET is the protocol's own.
        reset = state.memory["reset_next"][active].astype(bool)
        n = active.size
        polarity = np.full(n, Polarity.RESET, np.int8)
        amplitude, width = np.full(n, self.reset.amplitude_V), np.full(n, self.reset.width_s)
        gate, clamped = np.full(n, self.reset.gate_V), np.zeros(n, bool)
        rows = np.flatnonzero(~reset)
        if rows.size:
            planned = super().plan(state, active[rows])
            polarity[rows], amplitude[rows], width[rows] = (planned.polarity, planned.amplitude,
                                                            planned.width)
            planned_gate = np.nan if planned.gate is None else planned.gate  # refused if NaN
            gate[rows] = np.clip(planned_gate + state.memory["nudge"][active[rows]],
                                 *self._gate_range)
            clamped[rows] = planned.at_limit
        state.memory["clamped"][active] = clamped
        return PlannedPulses(polarity, amplitude, width, np.zeros(n, bool), gate)

    def learn(self, state, active, pulses, before, after) -> None:
        # Only a pulse from the planner teaches it; a RESET follows a miss (or only an
        # overshoot), and another while the cell stays above its band.
        planned = state.memory["reset_next"][active] == 0
        above = self._above(state, active)
        missed = planned & ~state.done[active]
        reset_below = self.reset_on_undershoot & ~state.memory["clamped"][active]
        state.memory["reset_next"][active] = above | (missed & reset_below)
        if self.nudge_V is not None:
            step = np.where(above, -self.nudge_V, self.nudge_V)
            state.memory["nudge"][active] += np.where(missed, step, 0.0)
        if planned.any():
            # The planner is told the gate each cell got (its own plus the protocol's nudge).
            index = np.flatnonzero(planned)
            self._observe(state, active, index, before, after, pulses.subset(index))
