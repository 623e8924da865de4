"""A model-free pulse planner: a fixed rule per polarity, corrected per cell from its last answer.

It knows nothing of the devices beyond what a user states about the rig: the safety limits,
the conductance window the devices are meant to span and, on a 1T1R array, the range of gates
and source-line amplitudes that span it. Two rules, one per kind of cell:

**Width** (1R cells), per polarity a power law with unit slope (the small-pulse regime, where
the state moves in proportion to pulse time), anchored in the middle of the width range on a
log scale (a rig's width range is made for the devices it programs, so their typical rate is
assumed to sit there):

    log w = log w_ref + log(|dG| / window),   w_ref = sqrt(width_min * width_max) at the start.

**Gate** (1T1R cells, whose SET lands on a level set by the gate and whose RESET falls to a
level set by the source-line voltage, whatever the state before): a SET's level is taken to
rise linearly with the gate above the span's lowest gate V_G0, a RESET's ln G to fall linearly
with the amplitude above its lowest V_SL0,

    V_G = V_G0 + (G_target - G_min) / k,      V_SL = V_SL0 + ln(G_max / G_target) / kappa,

with k and kappa spanning the window over the stated range at the start.

After each pulse the cell's reference for that polarity (w_ref, k or kappa) becomes the secant
through its last answer (the value that, by the same rule, would have produced the change it
showed), so a slow or fast device is treated as such from its next pulse in that polarity. A
pulse that moved the cell by less than a thousandth of the window (or the wrong way) makes the
rule stronger: w_ref x 4, k and kappa / 1.25 (a gate step of a quarter of the way to the
target: the level is steep in the gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import Cells, ConfigError, DataError, Polarity, SafetyLimits

from .planner import PlannedPulses, PulsePlanner
from .settings import check_settings

# Changes below this fraction of the window are treated as no answer (about the read noise).
_SMALLEST_CHANGE = 1e-3


class WidthRule:
    """Width at a fixed amplitude per polarity (1R cells). References: ln w_ref, in s."""

    grow = np.log(4.0)

    def __init__(self, limits: SafetyLimits, window: tuple[float, float], set_V: float,
                 reset_V: float) -> None:
        check_settings("heuristic", limits, set_V={"set_V": set_V},
                       reset_V={"reset_V": reset_V})
        self.limits, self.window_S = limits, window[1] - window[0]
        self.set_V, self.reset_V = set_V, reset_V

    def start(self) -> tuple[float, float]:
        middle = 0.5 * np.log(self.limits.width_min_s * self.limits.width_max_s)
        return middle, middle

    def pulse(self, ref: np.ndarray, polarity: np.ndarray, present: np.ndarray,
              target: np.ndarray) -> PlannedPulses:
        with np.errstate(divide="ignore"):
            width = np.exp(ref + np.log(np.abs(target - present) / self.window_S))
        lo, hi = self.limits.width_min_s, self.limits.width_max_s
        clamped = (width < lo * (1 - 1e-9)) | (width > hi * (1 + 1e-9))  # not on round-off
        amplitude = np.where(polarity > 0, self.set_V, self.reset_V)
        return PlannedPulses(polarity, amplitude, np.clip(width, lo, hi), clamped)

    def secant(self, pulses: PlannedPulses, before: np.ndarray, after: np.ndarray):
        """The reference each answer implies, and which pulses were answered at all."""
        answered = (after - before) * pulses.polarity / self.window_S
        seen = answered > _SMALLEST_CHANGE
        return np.log(pulses.width) - np.log(np.where(seen, answered, 1.0)), seen

    def bounds(self) -> tuple[float, float]:
        # Bounded so that a dead cell cannot push its rule to absurd widths forever.
        return np.log(self.limits.width_min_s), np.log(self.limits.width_max_s / _SMALLEST_CHANGE)


@dataclass(frozen=True)
class GateSpan:
    """What a user states about a 1T1R rig: SET gates (V) from the lowest that switches to one
    at the top of the window, at a fixed bit-line ``set_V`` and ``width_s``; RESET source-line
    amplitudes (V) from onset to the floor at a fixed ``reset_gate_V``."""

    set_gates_V: tuple[float, float]
    reset_amplitudes_V: tuple[float, float]
    set_V: float
    reset_gate_V: float
    width_s: float


class GateRule:
    """The gate for SET, the source-line amplitude for RESET (1T1R cells). References: ln k
    (S per V of gate) and ln kappa (per V of amplitude)."""

    grow = -np.log(1.25)  # a smaller slope asks for a larger gate or amplitude

    def __init__(self, limits: SafetyLimits, window: tuple[float, float], span: GateSpan):
        (g0, g1), (a0, a1) = span.set_gates_V, span.reset_amplitudes_V
        if not (g0 < g1 and a0 < a1 and window[0] > 0):
            raise ConfigError(f"heuristic gate span {span.set_gates_V} V / RESET amplitudes "
                              f"{span.reset_amplitudes_V} V (or window {window} S) is empty")
        check_settings("heuristic", limits, set_V={"set_V": span.set_V},
                       reset_V={"reset_amplitudes_V[1]": a1}, width_s={"width_s": span.width_s},
                       set_gate_V={"set_gates_V[0]": g0, "set_gates_V[1]": g1},
                       reset_gate_V={"reset_gate_V": span.reset_gate_V})
        self.limits, self.window, self.span = limits, window, span
        self.window_S = window[1] - window[0]

    def start(self) -> tuple[float, float]:
        (g0, g1), (a0, a1) = self.span.set_gates_V, self.span.reset_amplitudes_V
        return np.log(np.log(self.window[1] / self.window[0]) / (a1 - a0)), \
            np.log(self.window_S / (g1 - g0))

    def pulse(self, ref: np.ndarray, polarity: np.ndarray, present: np.ndarray,
              target: np.ndarray) -> PlannedPulses:
        span, is_set = self.span, polarity > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            gate = span.set_gates_V[0] + (target - self.window[0]) / np.exp(ref)
            amplitude = span.reset_amplitudes_V[0] + np.log(self.window[1] / target) / np.exp(ref)
        low, high = self.limits.gate_range(polarity)
        gate = np.where(is_set, gate, span.reset_gate_V)
        amplitude = np.where(is_set, span.set_V, amplitude)
        top = self.limits.max_amplitude(polarity)
        clamped = (gate < low) | (gate > high) | (amplitude > top) | (amplitude <= 0)
        amplitude = np.clip(np.nan_to_num(amplitude, nan=top), 1e-3, top)
        return PlannedPulses(polarity, amplitude, np.full(polarity.size, span.width_s),
                             clamped, np.clip(np.nan_to_num(gate, nan=high), low, high))

    def secant(self, pulses: PlannedPulses, before: np.ndarray, after: np.ndarray):
        span, is_set = self.span, pulses.polarity > 0
        seen = (after - before) * pulses.polarity / self.window_S > _SMALLEST_CHANGE
        landed = np.maximum(after, self.window[0] * 1e-3)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = (landed - self.window[0]) / (pulses.gate - span.set_gates_V[0])
            kappa = np.log(self.window[1] / landed) / (pulses.amplitude
                                                        - span.reset_amplitudes_V[0])
            implied = np.log(np.where(is_set, k, kappa))
        seen &= np.isfinite(implied)
        return np.where(seen, implied, 0.0), seen

    def bounds(self) -> tuple[float, float]:
        return -np.inf, np.inf


class HeuristicPlanner(PulsePlanner):
    """A fixed rule per polarity (width, or gate on 1T1R cells), secant-corrected per cell.

    Parameters
    ----------
    shape : (rows, cols)
        Shape of the array, for the per-cell memory.
    limits : SafetyLimits
        The rig's limits; the width rule spans their width range.
    g_window_S : (float, float)
        Lowest and highest read conductance (S) the devices are meant to span.
    set_V, reset_V : float
        Fixed pulse magnitudes in volts of the width rule (the oracle's defaults, so that the
        two planners turn the same knob and a comparison is about the width rule alone).
    adapt : bool
        Correct each cell's rule from its last answer.
    gate : GateSpan, optional
        Plan the gate (SET) and source-line amplitude (RESET) of a 1T1R array over this span.
    """

    name = "heuristic"

    def __init__(self, shape: tuple[int, int], limits: SafetyLimits,
                 g_window_S: tuple[float, float], set_V: float = 1.2, reset_V: float = 1.4,
                 adapt: bool = True, gate: GateSpan | None = None) -> None:
        low, high = g_window_S
        if not 0 <= low < high:
            raise ConfigError(f"heuristic conductance window [{low:g}, {high:g}] S is empty")
        self.rule = (WidthRule(limits, g_window_S, set_V, reset_V) if gate is None
                     else GateRule(limits, g_window_S, gate))
        self.shape, self.limits, self.adapt = shape, limits, adapt
        # The reference per polarity (row 0 RESET, row 1 SET) and cell, flat row-major.
        self.log_ref = np.repeat(np.array(self.rule.start())[:, None], shape[0] * shape[1], 1)

    def learned(self, cells: Cells) -> dict[str, np.ndarray]:
        flat = cells.flat(self.shape)
        return {"log_ref_reset": self.log_ref[0, flat], "log_ref_set": self.log_ref[1, flat]}

    def restore_learned(self, cells: Cells, learned: dict[str, np.ndarray]) -> None:
        flat = cells.flat(self.shape)
        self.log_ref[0, flat] = learned["log_ref_reset"]
        self.log_ref[1, flat] = learned["log_ref_set"]

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        target, present = _finite("target", target), _finite("present", present)
        polarity = np.where(target > present, Polarity.SET, Polarity.RESET).astype(np.int8)
        log_ref = self.log_ref[(polarity > 0).astype(int), cells.flat(self.shape)]
        return self.rule.pulse(log_ref, polarity, present, target)

    def observe(self, cells: Cells, pulses: PlannedPulses, before: np.ndarray,
                after: np.ndarray) -> None:
        """Secant update of each pulsed cell's rule from the change it showed."""
        if not self.adapt:
            return
        row = (pulses.polarity > 0).astype(int)
        flat = cells.flat(self.shape)
        secant, seen = self.rule.secant(pulses, before, after)
        grown = self.log_ref[row, flat] + self.rule.grow
        self.log_ref[row, flat] = np.clip(np.where(seen, secant, grown), *self.rule.bounds())


def _finite(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"heuristic planner: {name} conductance "
                        f"{values[~np.isfinite(values)][0]!r} is not a finite number")
    return values
