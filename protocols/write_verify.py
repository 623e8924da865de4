"""Classic closed-loop write-verify: pulse, read, compare, repeat.

Two textbook variants, each keeping a little per-cell memory between rounds:

- ``IncrementalStep`` (ISPP-style): fixed width, amplitude ramps up by a step while the cell
  still needs the same polarity; on overshoot the polarity flips and the ramp restarts.
- ``AdaptiveWidth``: fixed amplitude per polarity, the width grows while the cell undershoots
  and shrinks when a pulse overshoots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import ConfigError, Polarity, SafetyLimits

from .engine import ProgrammingProtocol, ProgramState
from .planner import PlannedPulses
from .settings import check_settings, gates


def needed_polarity(state: ProgramState, active: np.ndarray) -> np.ndarray:
    """SET (+1) where a cell reads below its target, RESET (-1) where above."""
    return np.where(state.read[active] < state.targets[active], Polarity.SET, Polarity.RESET)


@dataclass
class IncrementalStep(ProgrammingProtocol):
    """ISPP-style voltage ramp at a fixed width. Voltages in V, width in s; ``gate_V`` is the
    gate every pulse carries on a 1T1R array (None: no gate sent)."""

    set_start_V: float = 0.9
    reset_start_V: float = 0.9
    step_V: float = 0.05
    set_max_V: float = 2.0
    reset_max_V: float = 2.5
    width_s: float = 100e-9
    gate_V: float | None = None
    name: str = "write-verify"

    def check(self, limits: SafetyLimits) -> None:
        check_settings("ispp", limits,
                       set_V={"set_start_V": self.set_start_V, "set_max_V": self.set_max_V},
                       reset_V={"reset_start_V": self.reset_start_V,
                                "reset_max_V": self.reset_max_V},
                       width_s={"width_s": self.width_s}, gate_V={"gate_V": self.gate_V})
        if self.step_V <= 0:
            raise ConfigError(f"ispp.step_V = {self.step_V:g}: expected > 0")

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        n = state.targets.size
        return {"polarity": np.zeros(n, np.int8), "amplitude": np.zeros(n)}

    def plan(self, state: ProgramState, active: np.ndarray) -> PlannedPulses:
        polarity = needed_polarity(state, active)
        is_set = polarity == Polarity.SET
        start = np.where(is_set, self.set_start_V, self.reset_start_V)
        top = np.where(is_set, self.set_max_V, self.reset_max_V)
        same = state.memory["polarity"][active] == polarity
        ramped = np.minimum(state.memory["amplitude"][active] + self.step_V, top)
        amplitude = np.where(same, ramped, start)
        return PlannedPulses(polarity, amplitude, np.full(active.size, self.width_s),
                             amplitude >= top, gates(self.gate_V, active.size))

    def learn(self, state, active, pulses, before, after) -> None:
        state.memory["polarity"][active] = pulses.polarity
        state.memory["amplitude"][active] = pulses.amplitude


@dataclass
class AdaptiveWidth(ProgrammingProtocol):
    """Pulse-width search at a fixed amplitude per polarity. Voltages in V, widths in s;
    ``gate_V`` as for ``IncrementalStep``."""

    set_V: float = 1.3
    reset_V: float = 1.5
    start_width_s: float = 20e-9
    min_width_s: float = 10e-9
    max_width_s: float = 100e-6
    grow: float = 2.0
    shrink: float = 0.5
    gate_V: float | None = None
    name: str = "write-verify-adaptive"

    def check(self, limits: SafetyLimits) -> None:
        check_settings("adaptive", limits, set_V={"set_V": self.set_V},
                       reset_V={"reset_V": self.reset_V},
                       width_s={"min_width_s": self.min_width_s,
                                "start_width_s": self.start_width_s,
                                "max_width_s": self.max_width_s},
                       gate_V={"gate_V": self.gate_V})
        if not (self.grow > 1 and 0 < self.shrink < 1):
            raise ConfigError("adaptive.grow must exceed 1 and adaptive.shrink lie in (0, 1)")

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        n = state.targets.size
        return {"set_width": np.full(n, self.start_width_s),
                "reset_width": np.full(n, self.start_width_s)}

    def plan(self, state: ProgramState, active: np.ndarray) -> PlannedPulses:
        polarity = needed_polarity(state, active)
        is_set = polarity == Polarity.SET
        width = np.where(is_set, state.memory["set_width"][active],
                         state.memory["reset_width"][active])
        amplitude = np.where(is_set, self.set_V, self.reset_V)
        return PlannedPulses(polarity, amplitude, width, width >= self.max_width_s,
                             gates(self.gate_V, active.size))

    def learn(self, state, active, pulses, before, after) -> None:
        targets = state.targets[active]
        crossed = np.sign(targets - after) != np.sign(targets - before)
        factor = np.where(crossed, self.shrink, self.grow)
        width = np.clip(pulses.width * factor, self.min_width_s, self.max_width_s)
        is_set = pulses.polarity == Polarity.SET
        state.memory["set_width"][active[is_set]] = width[is_set]
        state.memory["reset_width"][active[~is_set]] = width[~is_set]
