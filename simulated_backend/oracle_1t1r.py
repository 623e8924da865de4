"""The oracle's exact inverse of the noise-free 1T1R cell (``one_t_one_r``): the gate knob.

A read target G_r (S, at the read gate and voltage) is first turned into the device's own
conductance, G = G_r' G_T,read / (G_T,read - G_r') with G_r' = G_r / read_factor. Then, from the
device's true present conductance G_0 and its own parameters:

- **SET** (target above G_0), gate knob at a fixed bit-line amplitude V_BL and width w: a
  switched device lands on the level the gate's compliance current allows, so

      I = current_for_level(G),   V_G = gate_for_current(I).

  It switches only if the cell voltage min(V_BL, I / G_0) reaches its SET voltage at w. A cell
  whose present state is too high for that (a small step up, which a 1T1R SET cannot make)
  gets the strongest RESET short of over-RESET instead, so that its next SET switches: two
  pulses, hence flagged ``clamped``.
- **RESET** (target below G_0), gradual: the device must see V_dev = reset_voltage_for_level(G,
  w) through the divider V_dev = V_SL G_T / (G_T + G_0). Either by the source-line amplitude at
  a fixed gate (``reset_knob = "amplitude"``: V_SL = V_dev (G_T + G_0) / G_T), or by the gate at
  a fixed source-line amplitude (``"gate"``, a gate-controlled RESET: G_T = G_0 V_dev / (V_SL -
  V_dev), V_G = V_T + G_T / g_on).

A target above the SET plateau, below the RESET floor (or the over-RESET minimum), a stuck
device, or a setting clipped to the limits is flagged ``clamped`` (unreachable in one pulse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import ConfigError, Polarity, SafetyLimits
from hilctl.protocols.planner import PlannedPulses
from hilctl.protocols.settings import check_settings

from .one_t_one_r import (
    G_SCALE_S,
    OneTOneRParams,
    OneTOneRPopulation,
    current_for_level,
    gate_for_current,
    reset_level,
    reset_voltage_for_level,
    set_voltage,
    transistor_on,
)

RESET_KNOBS = ("amplitude", "gate")


@dataclass(frozen=True)
class GateKnob:
    """The fixed settings of the 1T1R gate knob. Volts, seconds.

    The defaults put the bit line well above the SET voltage at 1 us (0.6 V nominal, 5 %
    device-to-device and 3 % cycle-to-cycle spread), so every planned SET from a low state
    switches, and RESET at the gate fully on (3.5 V, as in Le et al., "RADAR", IEEE TED 2021)
    so the source-line amplitude alone sets how far it goes.
    """

    set_V: float = 1.2
    width_s: float = 1e-6
    reset_width_s: float = 1e-6
    reset_gate_V: float = 3.5
    reset_V: float = 2.0
    reset_knob: str = "amplitude"

    def check(self, limits: SafetyLimits) -> None:
        if self.reset_knob not in RESET_KNOBS:
            raise ConfigError(f"oracle reset_knob {self.reset_knob!r} is unknown; expected one "
                              f"of {RESET_KNOBS}")
        check_settings("oracle", limits, set_V={"set_V": self.set_V},
                       reset_V={"reset_V": self.reset_V},
                       width_s={"width_s": self.width_s, "reset_width_s": self.reset_width_s},
                       reset_gate_V={"reset_gate_V": self.reset_gate_V})


def plan_gate(knob: GateKnob, p: OneTOneRParams, pop: OneTOneRPopulation, g0: np.ndarray,
              goal_read: np.ndarray, read_factor: float, limits: SafetyLimits) -> PlannedPulses:
    """Pulses taking devices ``pop`` from conductance ``g0`` (S, device's own) to the read
    conductance ``goal_read`` (S); see the module docstring."""
    g_read_t = transistor_on(p.read_gate_V, pop.vt, p)
    seen = goal_read / read_factor
    with np.errstate(divide="ignore", invalid="ignore"):
        goal = np.where(seen < g_read_t, seen * g_read_t / (g_read_t - seen), np.inf)
    is_set = goal > g0
    current = current_for_level(np.minimum(goal, pop.g_sat), pop.g_sat, p)
    with np.errstate(divide="ignore"):
        switches = np.minimum(knob.set_V, current / g0) >= set_voltage(pop.set_v, knob.width_s, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        gate = gate_for_current(current, pop.vt, pop.k, p)
    lowest = reset_voltage_for_level(goal, knob.reset_width_s, pop.reset_onset, p)
    # A SET that cannot switch from here becomes the deepest RESET, for the next SET to switch.
    rescue = is_set & ~switches
    v_dev = np.where(rescue | ~np.isfinite(lowest), p.over_reset_V,
                     np.minimum(lowest, p.over_reset_V))
    amplitude, reset_gate = _reset_settings(knob, p, pop, g0, v_dev)
    polarity = np.where(is_set & switches, Polarity.SET, Polarity.RESET).astype(np.int8)
    is_set = polarity == Polarity.SET
    amplitude = np.where(is_set, knob.set_V, amplitude)
    gate = np.where(is_set, gate, reset_gate)
    width = np.where(is_set, knob.width_s, knob.reset_width_s)
    low, high = limits.gate_range(polarity)
    top = limits.max_amplitude(polarity)
    clipped = (gate < low) | (gate > high) | (amplitude > top) | ~np.isfinite(gate)
    reachable = (goal < pop.g_sat) & (pop.stuck == 0) & ~rescue
    landed = reset_level(v_dev, knob.reset_width_s, pop.reset_onset, p)
    reachable &= is_set | (landed <= goal * (1 + 1e-9))
    return PlannedPulses(polarity, np.minimum(amplitude, top), width, clipped | ~reachable,
                         np.clip(np.nan_to_num(gate, posinf=high), low, high))


def _reset_settings(knob: GateKnob, p: OneTOneRParams, pop: OneTOneRPopulation,
                    g0: np.ndarray, v_dev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source-line amplitude and gate that put ``v_dev`` across devices at ``g0``."""
    n = g0.size
    if knob.reset_knob == "amplitude":
        g_t = transistor_on(knob.reset_gate_V, pop.vt, p)
        with np.errstate(divide="ignore"):
            return v_dev * (g_t + g0) / g_t, np.full(n, knob.reset_gate_V)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_t = np.where(knob.reset_V > v_dev, g0 * v_dev / (knob.reset_V - v_dev), np.inf)
    return np.full(n, knob.reset_V), pop.vt + g_t / p.transistor_on_S_per_V


def device_conductance(x: np.ndarray) -> np.ndarray:
    """The device's own conductance (S) at crossbar state ``x``."""
    return x * G_SCALE_S
