"""``write-verify-wl``: ISPP on the gate (word line) of a 1T1R array, as device labs program it.

Every cell is first RESET to its high-resistance state (a block RESET, counted in the cost).
A cell below its band then gets SET pulses at a fixed bit-line amplitude with the gate stepped
up, since the access transistor's current limit, not the pulse, sets where a SET lands:

    gate_k = gate_start + k * gate_step   (k = 0, 1, ... SET pulses since the last restart)

``gate_start`` may be given per level (``start_gates``): the ramp of a high level need not
climb through the gates that only reach the low ones (on ``hfox-1t1r`` the L0 plateau sits
above 2.3 V, 140 steps of 5 mV above the switching threshold).

A cell that ends above its band (overshoot) is either

- restarted (``reset_step_V`` None): one full RESET, then the gate ramp again from
  ``gate_start``, or from ``gate_overshoot - restart_back_V`` when that is higher (the gates
  below it were already seen to be too weak); or
- corrected by RESET pulses at the fixed ``reset_gate_V`` whose source-line amplitude steps up
  from ``reset_start_V`` by ``reset_step_V`` while the cell stays above its band; after such a
  correction the SET ramp resumes one step below the gate that overshot. Their width is
  ``reset_width_s``: a RESET's floor falls with its width (on ``hfox-1t1r`` about 15 uS at
  1 us, 10 uS at 10 us), so a correction down to a low level (L3, <= 12.5 uS) needs the
  longer pulse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hilctl.drivers import Cells, ConfigError, Polarity, PulseBatch, SafetyLimits

from .engine import ProgrammingProtocol, ProgramState
from .fppv import LevelGates
from .planner import PlannedPulses
from .settings import ResetPulse, check_settings


@dataclass
class GateIspp(ProgrammingProtocol):
    """ISPP on the gate. Voltages in V, widths in s.

    Parameters
    ----------
    set_V : float
        Fixed bit-line amplitude of every SET pulse.
    gate_start_V, gate_step_V, gate_max_V : float
        The SET gate ramp; pulses at ``gate_max_V`` count as the strongest setting (a cell
        they no longer move is declared failed).
    width_s : float
        Width of every SET and RESET-correction pulse.
    reset : ResetPulse
        The full RESET (block RESET before the run, and on restart).
    restart_back_V : float or None
        On restart, begin the ramp this far below the overshooting gate (None: from the start).
    reset_start_V, reset_step_V, reset_gate_V : float
        RESET corrections instead of restarts when ``reset_step_V`` is given; their amplitude
        ramp is capped at ``reset.amplitude_V``.
    reset_width_s : float or None
        Width of a RESET correction (None: ``width_s``).
    start_gates : LevelGates or None
        Each level's start gate, by its target (None: ``gate_start_V`` for every cell, which
        also stays the floor of every ramp).
    """

    set_V: float = 1.2
    gate_start_V: float = 0.8
    gate_step_V: float = 0.02
    gate_max_V: float = 2.0
    width_s: float = 1e-6
    reset: ResetPulse = field(default_factory=lambda: ResetPulse(2.0, 10e-6, 3.0))
    restart_back_V: float | None = None
    reset_start_V: float = 0.8
    reset_step_V: float | None = None
    reset_gate_V: float = 3.0
    reset_width_s: float | None = None
    start_gates: LevelGates | None = None
    name: str = "write-verify-wl"
    block_reset: bool = True

    def check(self, limits: SafetyLimits) -> None:
        check_settings("wl", limits, set_V={"set_V": self.set_V},
                       reset_V={"reset_start_V": self.reset_start_V},
                       width_s={"width_s": self.width_s,
                                **({} if self.reset_width_s is None
                                   else {"reset_width_s": self.reset_width_s})},
                       set_gate_V={"gate_start_V": self.gate_start_V,
                                   "gate_max_V": self.gate_max_V},
                       reset_gate_V={"reset_gate_V": self.reset_gate_V})
        self.reset.check("wl", limits)
        if self.start_gates is not None:
            self.start_gates.check(limits, "wl")
        if self.reset.gate_V is None:
            raise ConfigError("wl: the full RESET needs a gate (block_reset.gate_V or "
                              "gate_V): a 1T1R cell is reached through its access transistor")
        if not (self.gate_step_V > 0 and self.gate_start_V <= self.gate_max_V):
            raise ConfigError(f"wl: gate ramp {self.gate_start_V:g} V by {self.gate_step_V:g} V "
                              f"to {self.gate_max_V:g} V is empty")
        for key in ("restart_back_V", "reset_step_V"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(f"wl.{key} = {value:g} V: expected > 0")

    def preparation(self, cells: Cells, limits: SafetyLimits) -> PulseBatch | None:
        return self.reset.batch(cells)

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        n = state.targets.size
        start = np.full(n, self.gate_start_V)
        if self.start_gates is not None:
            start = np.maximum(self.start_gates.gates_for(state.targets), start)
        return {"gate": start.copy(), "start": start, "reset_amplitude": np.zeros(n)}

    def plan(self, state: ProgramState, active: np.ndarray) -> PlannedPulses:
        is_set = state.read[active] < state.targets[active]
        gate = np.where(is_set, state.memory["gate"][active], self._reset_gate)
        reset_amplitude = self._reset_amplitude(state, active)
        amplitude = np.where(is_set, self.set_V, reset_amplitude)
        width = np.where(is_set, self.width_s,
                         self._correction_width if self._corrects else self.reset.width_s)
        at_limit = is_set & (gate >= self.gate_max_V - 1e-12)
        if self._corrects:
            at_limit |= ~is_set & (amplitude >= self.reset.amplitude_V)
        polarity = np.where(is_set, np.int8(Polarity.SET), np.int8(Polarity.RESET))
        return PlannedPulses(polarity, amplitude, width, at_limit, gate)

    @property
    def _corrects(self) -> bool:
        return self.reset_step_V is not None

    @property
    def _correction_width(self) -> float:
        return self.width_s if self.reset_width_s is None else self.reset_width_s

    @property
    def _reset_gate(self) -> float:
        return self.reset_gate_V if self._corrects else self.reset.gate_V

    def _reset_amplitude(self, state: ProgramState, active: np.ndarray) -> np.ndarray | float:
        if not self._corrects:
            return self.reset.amplitude_V
        last = state.memory["reset_amplitude"][active]
        ramped = np.where(last > 0, last + self.reset_step_V, self.reset_start_V)
        return np.minimum(ramped, self.reset.amplitude_V)

    def learn(self, state, active, pulses, before, after) -> None:
        is_set = pulses.polarity == Polarity.SET
        overshot = after > state.targets[active] + state.band[active]
        stepped = np.minimum(pulses.gate + self.gate_step_V, self.gate_max_V)
        if self._corrects:
            after_overshoot = pulses.gate - self.gate_step_V
        elif self.restart_back_V is not None:
            after_overshoot = pulses.gate - self.restart_back_V
        else:
            after_overshoot = -np.inf
        memory = state.memory
        next_gate = np.maximum(np.where(overshot, after_overshoot, stepped),
                               memory["start"][active])
        memory["gate"][active[is_set]] = next_gate[is_set]
        if self._corrects:  # only a correction's ramp reads the last RESET amplitude
            memory["reset_amplitude"][active] = np.where(is_set | ~overshot, 0.0,
                                                         pulses.amplitude)
