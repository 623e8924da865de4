"""The oracle planner: the physical limit against which every planner is reported.

It knows each simulated device's true parameters and its present true state, and inverts the
noise-free closed-form response (``physics.window_kt`` undoes ``window_decay``), so a
noise-free device lands exactly on its target in one pulse. What it cannot know is the
cycle-to-cycle noise of the pulse it is about to apply (it never touches the simulator's noise
generator), so its result is the floor that noise leaves for any planner.

It plans from the device's present TRUE state, not from the read handed to it: a planner with
perfect knowledge of the device would know its state too, and read noise is part of what the
other planners must cope with, not a limit of the physics.

Given ``attempt_cost`` (a callable (read G, volts, width) -> cost per pulse, such as a
planning objective's), the width knob may also move its fixed amplitude, and the amplitude knob
its fixed width, over ``_ALTERNATIVES`` round values inside the limits: every setting that needs
no clipping lands a noise-free device exactly, so the oracle takes the cheapest of them (the
default setting unless another is strictly cheaper). That keeps ratios to the oracle fair when
planners are told to save time or energy.

On a 1T1R array (``one_t_one_r``) the knob is the gate: ``oracle_1t1r`` inverts the SET level
the gate's compliance allows and the RESET divider; width and amplitude knobs are for 1R cells.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hilctl.drivers import Cells, ConfigError, DataError, Polarity
from hilctl.protocols.planner import PlannedPulses, PulsePlanner

from .crossbar import SimulatedCrossbar
from .one_t_one_r import OneTOneRPopulation
from .oracle_1t1r import GateKnob, device_conductance, plan_gate
from .physics import DevicePopulation, switching_rate, window_kt

# Fixed amplitudes of the default width knob. For the default preset, moves range from a
# correction of 2 % of a target (SET near x = 0.1: k t ~ 3e-3; RESET near x = 0.9: k t ~ 2e-2)
# to the full-range first move from the block-RESET state (SET 0.02 -> 0.9: k t ~ 10; RESET
# 0.9 -> 0.1: k t ~ 50), a span of about 3e3 in k t against the 1e4 span of the default width
# limits (10 ns - 100 us). The amplitudes put the nominal device's rate (SET 1.2 V: 2.5e5 /s,
# RESET 1.4 V: 1.0e6 /s) so that this span sits in the middle of the width range on a log
# scale, leaving room for the device-to-device rate spread (about x2.5 either way at 2 sigma).
# Measured on 2 x 4096 default devices: the SET first move to a target at 10-90 % of the
# window needs over 100 us on 1.6 % of healthy devices (the slowest, or those whose own window
# barely reaches the target: they need a second pulse), a 2 % SET correction needs under 10 ns
# on 1.7 % (the fastest: they overshoot it); for RESET both stay below 0.5 %. Moving the SET
# amplitude trades one kind for the other: planned write-verify at 2 % needs 2.41 - 2.51
# pulses per cell on average anywhere from 1.1 to 1.3 V.
DEFAULT_SET_V = 1.2
DEFAULT_RESET_V = 1.4
# Fixed width of the amplitude knob: at 1 us the same span of k t needs 0.9 - 1.5 V (SET) and
# 1.05 - 1.8 V (RESET) for the nominal device, inside the default amplitude limits.
DEFAULT_WIDTH_S = 1e-6

KNOBS = ("width", "amplitude")
# How close to its bound (share of the window) a cost-aware oracle drives a device whose target
# lies beyond it: kt stays finite, so the cheapest pulse that saturates the device can be chosen.
_SATURATED = 0.01
_ALTERNATIVES = 100  # fixed settings a cost-aware oracle tries besides its default (2 % steps)
AttemptCost = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
GATE_KNOB = "gate"


class OraclePlanner(PulsePlanner):
    """Exact inverse of the simulated devices' noise-free response.

    Parameters
    ----------
    crossbar : SimulatedCrossbar
        The array whose devices, parameters and true states the oracle reads.
    knob : {"width", "amplitude", "gate"}, optional
        Width at a fixed amplitude per polarity, or amplitude at a fixed width (1R cells); the
        gate (1T1R cells, settings in ``gate_knob``). Default: the gate on a 1T1R array, the
        width otherwise.
    set_V, reset_V : float
        Fixed pulse magnitudes in volts for the width knob.
    width_s : float
        Fixed pulse width in seconds for the amplitude knob.
    gate_knob : GateKnob, optional
        Fixed settings of the gate knob.
    attempt_cost : callable, optional
        Cost of one pulse from (read G in S, volts, width in s), arrays; the oracle then plans
        the cheapest exact setting (module docstring). None: the fixed setting above.
    """

    name = "oracle"

    def __init__(self, crossbar: SimulatedCrossbar, knob: str | None = None,
                 set_V: float = DEFAULT_SET_V, reset_V: float = DEFAULT_RESET_V,
                 width_s: float = DEFAULT_WIDTH_S, gate_knob: GateKnob | None = None,
                 attempt_cost: AttemptCost | None = None) -> None:
        if crossbar.population is None:
            raise ConfigError("the oracle planner needs a parametric device model; this "
                              "array's model has no closed-form response to invert")
        gated = isinstance(crossbar.population, OneTOneRPopulation)
        knob = _knob_for(gated, knob)
        self.crossbar, self.knob, self.attempt_cost = crossbar, knob, attempt_cost
        self.gate_knob = gate_knob or GateKnob()
        if gated:
            self.gate_knob.check(crossbar.limits)
            return
        limits = crossbar.limits
        if not (0 < set_V <= limits.set_max_V and 0 < reset_V <= limits.reset_max_V):
            raise ConfigError(
                f"oracle amplitudes SET {set_V:g} V / RESET {reset_V:g} V exceed the limits "
                f"(0, {limits.set_max_V:g}] / (0, {limits.reset_max_V:g}] V"
            )
        if not limits.width_min_s <= width_s <= limits.width_max_s:
            raise ConfigError(f"oracle width {width_s:.3e} s is outside the width limits "
                              f"[{limits.width_min_s:.3e}, {limits.width_max_s:.3e}] s")
        self.set_V, self.reset_V, self.width_s = set_V, reset_V, width_s

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        """Pulses that take each device from its true state to ``target`` (read conductance, S).

        ``present`` (the read) is not used: the oracle knows the true state. Targets beyond a
        device's own bounds and stuck devices get the strongest pulse towards the target and
        are flagged ``clamped``, as are pulses whose knob had to be clipped to the limits.
        """
        target = np.asarray(target, dtype=np.float64)
        if not np.isfinite(target).all():
            raise DataError(f"oracle planner: target {target[~np.isfinite(target)][0]!r} S is "
                            "not a finite number")
        xb = self.crossbar
        flat = cells.flat(xb.shape)
        pop = xb.population.take(flat)
        x = xb.sim_state()[flat]
        if self.knob == GATE_KNOB:
            return plan_gate(self.gate_knob, xb.model.params, pop, device_conductance(x),
                             target, xb.model.read_factor(xb.limits.read_V), xb.limits)
        goal = pop.state_of(target / xb.model.read_factor(xb.limits.read_V))
        reachable = (goal > 0) & (goal < 1) & (pop.stuck == 0)
        goal = np.clip(goal, 0.0, 1.0)
        if self.attempt_cost is not None:
            # A device goes no further than its bound: aim just short of it, at the cheapest
            # pulse that gets there, not the strongest one (hfox-1r: the 100 us pulses of
            # targets beyond their devices were 98 % of the energy a cost-aware oracle spent).
            goal = np.where(reachable, goal, np.clip(goal, _SATURATED, 1.0 - _SATURATED))
        polarity = np.where(goal > x, Polarity.SET, Polarity.RESET).astype(np.int8)
        kt = _needed_kt(pop, x, goal, polarity)
        amplitude, width, clipped = self._cheapest(pop, polarity, kt, np.asarray(present))
        return PlannedPulses(polarity, amplitude, width, clipped | ~reachable)

    def _cheapest(self, pop: DevicePopulation, polarity: np.ndarray, kt: np.ndarray,
                  present: np.ndarray):
        """(amplitude, width, clipped) of the default fixed setting or, with
        ``attempt_cost``, of the cheapest alternative that needs no clipping."""
        limits = self.crossbar.limits
        if self.knob == "width":
            settle, default = self._widths, np.where(polarity == Polarity.SET, self.set_V,
                                                     self.reset_V)
            alternatives = [limits.max_amplitude(polarity) * share
                            for share in np.linspace(0.01, 1.0, _ALTERNATIVES)]
        else:
            settle, default = self._amplitudes, np.full(kt.size, self.width_s)
            alternatives = [np.full(kt.size, w) for w in np.geomspace(
                limits.width_min_s, limits.width_max_s, _ALTERNATIVES)]
        best = settle(pop, polarity, kt, default)
        if self.attempt_cost is None:
            return best
        cost = np.where(best[2], np.inf, self.attempt_cost(present, best[0], best[1]))
        for fixed in alternatives:
            amplitude, width, clipped = settle(pop, polarity, kt, fixed)
            with np.errstate(invalid="ignore", over="ignore"):
                price = np.where(clipped, np.inf, self.attempt_cost(present, amplitude, width))
            cheaper = price < cost
            best = tuple(np.where(cheaper, new, old)
                         for new, old in zip((amplitude, width, clipped), best, strict=True))
            cost = np.where(cheaper, price, cost)
        return best

    def _widths(self, pop: DevicePopulation, polarity: np.ndarray, kt: np.ndarray,
                amplitude: np.ndarray):
        """Widths that give ``kt`` at ``amplitude`` (V, per pulse)."""
        limits = self.crossbar.limits
        is_set = polarity == Polarity.SET
        rate = _rate(pop, amplitude, is_set)
        with np.errstate(divide="ignore", invalid="ignore"):
            width = np.where(rate > 0, kt / rate, np.inf)
        clipped = (width < limits.width_min_s) | (width > limits.width_max_s)
        return amplitude, np.clip(width, limits.width_min_s, limits.width_max_s), clipped

    def _amplitudes(self, pop: DevicePopulation, polarity: np.ndarray, kt: np.ndarray,
                    width: np.ndarray):
        """Amplitudes that give ``kt`` in ``width`` (s, per pulse)."""
        limits = self.crossbar.limits
        is_set = polarity == Polarity.SET
        base = np.where(is_set, pop.set_rate, pop.reset_rate)
        threshold = np.where(is_set, pop.set_threshold, pop.reset_threshold)
        slope = np.where(is_set, pop.set_slope, pop.reset_slope)
        # Inverse of switching_rate: k = rate (exp((V - V_th) / V_s) - 1).
        amplitude = threshold + slope * np.log1p(kt / width / base)
        top = limits.max_amplitude(polarity)
        clipped = amplitude > top
        return np.minimum(amplitude, top), width, clipped


def _knob_for(gated: bool, knob: str | None) -> str:
    """The knob asked for, or the cell's own; a knob of the other kind of cell is refused."""
    if knob is None:
        return GATE_KNOB if gated else "width"
    if knob not in (*KNOBS, GATE_KNOB):
        raise ConfigError(f"oracle knob {knob!r} is unknown; expected one of "
                          f"{(*KNOBS, GATE_KNOB)}")
    if gated != (knob == GATE_KNOB):
        raise ConfigError(f"oracle knob {knob!r} does not fit this array: the gate is the knob "
                          "of 1T1R cells (it sets a SET's level), width or amplitude that of "
                          "1R cells")
    return knob


def _rate(pop: DevicePopulation, amplitude: np.ndarray, is_set: np.ndarray) -> np.ndarray:
    return np.where(is_set,
                    switching_rate(amplitude, pop.set_rate, pop.set_threshold, pop.set_slope),
                    switching_rate(amplitude, pop.reset_rate, pop.reset_threshold,
                                   pop.reset_slope))


def _needed_kt(pop: DevicePopulation, x: np.ndarray, goal: np.ndarray,
               polarity: np.ndarray) -> np.ndarray:
    """Rate-time product that takes state ``x`` to ``goal`` (huge where a bound is the goal)."""
    is_set = polarity == Polarity.SET
    window = np.where(is_set, pop.set_window, pop.reset_window)
    u_from = np.where(is_set, 1.0 - x, x)
    u_to = np.where(is_set, 1.0 - goal, goal)
    return np.maximum(window_kt(u_from, u_to, window), 0.0)
