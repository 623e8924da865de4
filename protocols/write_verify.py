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

from .engine import Plan, ProgramState, Protocol


def needed_polarity(state: ProgramState, active: np.ndarray) -> np.ndarray:
    """SET (+1) where a cell reads below its target, RESET (-1) where above."""
    return np.where(state.read[active] < state.targets[active], Polarity.SET, Polarity.RESET)


def _check_amplitudes(name: str, limits: SafetyLimits, **volts: float) -> None:
    for key, value in volts.items():
        limit = limits.set_max_V if key.startswith("set") else limits.reset_max_V
        if not 0 < value <= limit:
            raise ConfigError(f"{name}.{key} = {value:g} V is outside (0, {limit:g}] V")


def _check_width(name: str, key: str, limits: SafetyLimits, value: float) -> None:
    if not limits.width_min_s <= value <= limits.width_max_s:
        raise ConfigError(
            f"{name}.{key} = {value:.3e} s is outside the rig's width limits "
            f"[{limits.width_min_s:.3e}, {limits.width_max_s:.3e}] s"
        )


@dataclass
class IncrementalStep(Protocol):
    """ISPP-style voltage ramp at a fixed width. Voltages in V, width in s."""

    set_start_V: float = 0.9
    reset_start_V: float = 0.9
    step_V: float = 0.05
    set_max_V: float = 2.0
    reset_max_V: float = 2.5
    width_s: float = 100e-9
    name: str = "write-verify"

    def check(self, limits: SafetyLimits) -> None:
        _check_amplitudes("ispp", limits, set_start_V=self.set_start_V,
                          reset_start_V=self.reset_start_V, set_max_V=self.set_max_V,
                          reset_max_V=self.reset_max_V)
        _check_width("ispp", "width_s", limits, self.width_s)
        if self.step_V <= 0:
            raise ConfigError(f"ispp.step_V = {self.step_V:g}: expected > 0")

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        n = state.targets.size
        return {"polarity": np.zeros(n, np.int8), "amplitude": np.zeros(n)}

    def plan(self, state: ProgramState, active: np.ndarray) -> Plan:
        polarity = needed_polarity(state, active)
        is_set = polarity == Polarity.SET
        start = np.where(is_set, self.set_start_V, self.reset_start_V)
        top = np.where(is_set, self.set_max_V, self.reset_max_V)
        same = state.memory["polarity"][active] == polarity
        ramped = np.minimum(state.memory["amplitude"][active] + self.step_V, top)
        amplitude = np.where(same, ramped, start)
        return Plan(polarity, amplitude, np.full(active.size, self.width_s), amplitude >= top)

    def learn(self, state, active, plan, before, after) -> None:
        state.memory["polarity"][active] = plan.polarity
        state.memory["amplitude"][active] = plan.amplitude


@dataclass
class AdaptiveWidth(Protocol):
    """Pulse-width search at a fixed amplitude per polarity. Voltages in V, widths in s."""

    set_V: float = 1.3
    reset_V: float = 1.5
    start_width_s: float = 20e-9
    min_width_s: float = 10e-9
    max_width_s: float = 100e-6
    grow: float = 2.0
    shrink: float = 0.5
    name: str = "write-verify-adaptive"

    def check(self, limits: SafetyLimits) -> None:
        _check_amplitudes("adaptive", limits, set_V=self.set_V, reset_V=self.reset_V)
        for key in ("min_width_s", "start_width_s", "max_width_s"):
            _check_width("adaptive", key, limits, getattr(self, key))
        if not (self.grow > 1 and 0 < self.shrink < 1):
            raise ConfigError("adaptive.grow must exceed 1 and adaptive.shrink lie in (0, 1)")

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        n = state.targets.size
        return {"set_width": np.full(n, self.start_width_s),
                "reset_width": np.full(n, self.start_width_s)}

    def plan(self, state: ProgramState, active: np.ndarray) -> Plan:
        polarity = needed_polarity(state, active)
        is_set = polarity == Polarity.SET
        width = np.where(is_set, state.memory["set_width"][active],
                         state.memory["reset_width"][active])
        amplitude = np.where(is_set, self.set_V, self.reset_V)
        return Plan(polarity, amplitude, width, width >= self.max_width_s)

    def learn(self, state, active, plan, before, after) -> None:
        targets = state.targets[active]
        crossed = np.sign(targets - after) != np.sign(targets - before)
        factor = np.where(crossed, self.shrink, self.grow)
        width = np.clip(plan.width * factor, self.min_width_s, self.max_width_s)
        is_set = plan.polarity == Polarity.SET
        state.memory["set_width"][active[is_set]] = width[is_set]
        state.memory["reset_width"][active[~is_set]] = width[~is_set]
