"""Vectorised physics of 1T1R cells: a resistive device in series with an NMOS access transistor.

The transistor, gate V_G (word line) over its threshold V_T, passes at most the saturation
current of the alpha-power law

    I_sat = k (V_ov / (1 + theta V_ov))^alpha,   V_ov = V_G - V_T,

(theta: velocity saturation and mobility degradation, which make the current, hence the SET
level, rise ever more slowly at high gate),
and, fully on, conducts G_T = g_on (V_G - V_T) in its linear region (reads and RESET).

**SET** (bit line V_BL, width w) is abrupt: the device switches when the voltage it sees,
V_cell = min(V_BL, I_sat / G), reaches its SET voltage V_set (w / 1 us)^-m (the time-voltage
relation: longer pulses switch at a lower voltage, hence at a lower gate). A switched device
ends at the level the compliance current allows, 1 / G = V_hold / I_sat + 1 / G_sat, i.e.

    G_level = G_sat u / (1 + u),   u = I_sat / (V_hold G_sat),

(the series sum, sharpened by the exponent n of ``set_level``), which follows the gate
above threshold and saturates at G_sat; a SET never lowers G. Near
threshold only a fraction of cells switches: V_T spreads from device to device and jitters from
pulse to pulse, and the SET voltage jitters too.

**RESET** (source line V_SL, width w, gate on) is gradual: the device sees the divider share
V_dev = V_SL G_T / (G_T + G), so a partly-on gate weakens it, and falls to the level

    L(V_dev, w) = (w / 200 ns)^-r [G_floor + G_span exp(-(V_dev - V_R) / V_Rs)]

when that is below its present G (it never rises, short of over-RESET). Beyond V_over the
level creeps up again by G_over (1 - exp(-(V_dev - V_over) / V_os)) and the device lands there
from either side (over-RESET).

Every device parameter has a device-to-device spread (the larger share) and every event a
cycle-to-cycle one. A fresh array sits in the high-resistance state after forming and a block
RESET. Reads go through the transistor with the read gate on, G_read = G G_T / (G + G_T).
Calibrated against Le et al., "RADAR", IEEE TED 2021 (``presets.HFOX_1T1R``); the reference
widths 1 us (SET) and 200 ns (RESET) are that paper's.

The state x of the crossbar is G / ``G_SCALE_S`` (G the device's own conductance, in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from hilctl.drivers import ConfigError, SafetyLimitError

from .array_backend import ops
from .device_model import DeviceModel
from .physics import SIM_FLOAT, CellParams, standard_normals

G_SCALE_S = 1e-3
SET_REF_WIDTH_S = 1e-6
RESET_REF_WIDTH_S = 200e-9


@dataclass(frozen=True)
class OneTOneRParams(CellParams):
    """Nominal 1T1R parameters; ``*_spread`` are device-to-device, ``*_c2c`` per pulse.

    Relative spreads are log-normal sigmas, those ending in ``_V`` normal sigmas in volts.
    Conductances in S, voltages in V, currents in A (``transistor_k_A`` in A / V^alpha).
    """

    cell: ClassVar[str] = "1T1R"

    transistor_threshold_V: float = 1.597
    transistor_threshold_spread_V: float = 0.013
    transistor_threshold_c2c_V: float = 0.004
    transistor_k_A: float = 0.0342
    transistor_k_spread: float = 0.02
    transistor_alpha: float = 2.0
    transistor_theta_per_V: float = 12.0
    transistor_on_S_per_V: float = 2e-3
    read_gate_V: float = 3.3

    set_threshold_V: float = 0.6
    set_threshold_spread: float = 0.05
    set_threshold_c2c: float = 0.03
    set_width_exponent: float = 0.1
    hold_V: float = 0.4
    level_sharpness: float = 2.0
    g_sat_S: float = 255e-6
    g_sat_spread: float = 0.055
    set_c2c: float = 0.018

    hrs_S: float = 10.1e-6
    hrs_spread: float = 0.30
    hrs_c2c: float = 0.26

    reset_onset_V: float = 0.8
    reset_onset_spread_V: float = 0.14
    reset_onset_c2c_V: float = 0.04
    reset_slope_V: float = 0.2
    reset_span_S: float = 136e-6
    reset_floor_S: float = 18e-6
    reset_width_exponent: float = 0.15
    reset_c2c: float = 0.03
    over_reset_V: float = 2.3
    over_reset_S: float = 8e-6
    over_reset_slope_V: float = 0.4

    read_noise_relative: float = 0.004
    read_noise_floor_S: float = 0.1e-6
    iv_v0_V: float = 1.0
    stuck_fraction: float = 0.015
    relaxation_sigma: float = 0.0
    relaxation_t0_s: float = 1.0
    # Log-normal walk of each device's transistor strength and SET plateau per pulse and per
    # hour (``drift``; 0: off).
    drift_per_cycle: float = 0.0
    drift_per_hour: float = 0.0

    def __post_init__(self) -> None:
        self._check_nonnegative()
        for name in ("transistor_k_A", "transistor_alpha", "transistor_on_S_per_V", "hold_V",
                     "level_sharpness",
                     "g_sat_S", "hrs_S", "reset_slope_V", "over_reset_slope_V", "iv_v0_V",
                     "set_threshold_V", "relaxation_t0_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"device.{name} = {getattr(self, name)!r}: expected > 0")
        if self.stuck_fraction > 1:
            raise ConfigError(f"device.stuck_fraction = {self.stuck_fraction!r}: expected <= 1")
        if self.g_sat_S >= G_SCALE_S or self.hrs_S >= self.g_sat_S:
            raise ConfigError(f"device: expected hrs_S < g_sat_S < {G_SCALE_S:g} S")

    @property
    def g_min_S(self) -> float:
        """Bottom of the programming window: the high-resistance state after a block RESET."""
        return self.hrs_S

    @property
    def g_max_S(self) -> float:
        """Top of the window: the SET plateau as read through the transistor."""
        g_t = self.transistor_on_S_per_V * (self.read_gate_V - self.transistor_threshold_V)
        return self.g_sat_S * g_t / (self.g_sat_S + g_t)


@dataclass
class OneTOneRPopulation:
    """Per-device parameters of a 1T1R array, one flat array entry per cell (row-major)."""

    vt: np.ndarray
    k: np.ndarray
    set_v: np.ndarray
    g_sat: np.ndarray
    hrs: np.ndarray
    reset_onset: np.ndarray
    stuck: np.ndarray  # int8: 0 healthy, -1 stuck in HRS, +1 stuck on the SET plateau
    drifting: ClassVar[tuple[str, ...]] = ("k", "g_sat")  # see ``drift``
    @classmethod
    def sample(cls, p: OneTOneRParams, n: int, rng: np.random.Generator) -> OneTOneRPopulation:
        def lognormal(nominal: float, sigma: float) -> np.ndarray:
            return (nominal * np.exp(sigma * rng.standard_normal(n))).astype(SIM_FLOAT)

        stuck = np.zeros(n, dtype=np.int8)
        is_stuck = rng.random(n) < p.stuck_fraction
        stuck[is_stuck] = np.where(rng.random(int(is_stuck.sum())) < 0.5, -1, 1)
        return cls(
            vt=(p.transistor_threshold_V
                + p.transistor_threshold_spread_V * rng.standard_normal(n)).astype(SIM_FLOAT),
            k=lognormal(p.transistor_k_A, p.transistor_k_spread),
            set_v=lognormal(p.set_threshold_V, p.set_threshold_spread),
            g_sat=np.minimum(lognormal(p.g_sat_S, p.g_sat_spread), 0.99 * G_SCALE_S),
            hrs=lognormal(p.hrs_S, p.hrs_spread),
            reset_onset=(p.reset_onset_V
                         + p.reset_onset_spread_V * rng.standard_normal(n)).astype(SIM_FLOAT),
            stuck=stuck,
        )

    def take(self, index: np.ndarray) -> OneTOneRPopulation:
        return self.converted(lambda values: values[index])

    def converted(self, convert) -> OneTOneRPopulation:
        """The same devices with every array passed through ``convert`` (``array_backend``)."""
        return OneTOneRPopulation(**{f.name: convert(getattr(self, f.name)) for f in fields(self)})


def saturation_current(gate, vt, k, p: OneTOneRParams) -> np.ndarray:
    """Largest current in A the transistor passes at ``gate`` V (zero below threshold)."""
    overdrive = ops(gate, vt).maximum(gate - vt, 0.0)
    return k * (overdrive / (1.0 + p.transistor_theta_per_V * overdrive)) ** p.transistor_alpha


def gate_for_current(current, vt, k, p: OneTOneRParams) -> np.ndarray:
    """Inverse of ``saturation_current`` (infinite beyond the current the gate can reach)."""
    w = (np.maximum(current, 0.0) / k) ** (1.0 / p.transistor_alpha)
    with np.errstate(divide="ignore", invalid="ignore"):  # an infinite current: no gate
        return np.where(p.transistor_theta_per_V * w < 1.0,
                        vt + w / (1.0 - p.transistor_theta_per_V * w), np.inf)


def set_level(current, g_sat, p: OneTOneRParams) -> np.ndarray:
    """Conductance in S a SET under compliance ``current`` A ends at."""
    u = current / (p.hold_V * g_sat)
    n = p.level_sharpness
    return g_sat * u / (1.0 + u ** n) ** (1.0 / n)


def current_for_level(g, g_sat, p: OneTOneRParams) -> np.ndarray:
    """Inverse of ``set_level`` (infinite at or above ``g_sat``)."""
    n = p.level_sharpness
    with np.errstate(divide="ignore"):
        y = np.minimum(g / g_sat, 1.0) ** n
        return p.hold_V * g_sat * (y / (1.0 - y)) ** (1.0 / n)


def level_of(gate, vt, k, g_sat, p: OneTOneRParams) -> np.ndarray:
    """The conductance in S a SET at ``gate`` V switches to (noise-free)."""
    return set_level(saturation_current(gate, vt, k, p), g_sat, p)


def plateau_level(k, g_sat, p: OneTOneRParams) -> np.ndarray:
    """The highest SET level in S a gate can give: the level at the transistor's saturation
    current k / theta^alpha (g_sat itself, the level at unlimited current, only without
    velocity saturation). It is what a gate sweep measures; g_sat beyond it is extrapolation."""
    if p.transistor_theta_per_V == 0:
        return np.asarray(g_sat, dtype=float)
    return set_level(k / p.transistor_theta_per_V ** p.transistor_alpha, g_sat, p)


def set_voltage(set_v, width, p: OneTOneRParams) -> np.ndarray:
    """Cell voltage in V that switches a SET of ``width`` s (falls with width)."""
    return set_v * (width / SET_REF_WIDTH_S) ** -p.set_width_exponent


def transistor_on(gate, vt, p: OneTOneRParams) -> np.ndarray:
    """Linear-region conductance in S of the transistor at ``gate`` V."""
    return p.transistor_on_S_per_V * ops(gate, vt).maximum(gate - vt, 0.0)


def reset_level(v_dev, width, onset, p: OneTOneRParams) -> np.ndarray:
    """The level L(V_dev, w) in S a RESET drives towards, over-RESET included."""
    xp = ops(v_dev, onset)
    scale = (width / RESET_REF_WIDTH_S) ** -p.reset_width_exponent
    level = scale * (p.reset_floor_S + p.reset_span_S * xp.exp(-(v_dev - onset) / p.reset_slope_V))
    over = xp.maximum(v_dev - p.over_reset_V, 0.0)
    return level + p.over_reset_S * -xp.expm1(-over / p.over_reset_slope_V)


def reset_voltage_for_level(g, width, onset, p: OneTOneRParams) -> np.ndarray:
    """Device voltage at which ``reset_level`` is ``g`` below over-RESET (inf if unreachable)."""
    scale = (width / RESET_REF_WIDTH_S) ** -p.reset_width_exponent
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = (g / scale - p.reset_floor_S) / p.reset_span_S
        return np.where(excess > 0, onset - p.reset_slope_V * np.log(excess), np.inf)


def reset_divider(v_sl, gate, g, vt, p: OneTOneRParams) -> np.ndarray:
    """Share in V of the source-line voltage ``v_sl`` that a device at ``g`` S sees."""
    g_t = transistor_on(gate, vt, p)
    return v_sl * g_t / (g_t + g)


def reset_response(g, v_sl, gate, width, vt, onset, p: OneTOneRParams,
                   jitter=1.0) -> np.ndarray:
    """Conductance in S after a RESET from ``g`` S: the level (times the cycle-to-cycle
    ``jitter``), never above ``g`` short of over-RESET, where the device lands on it."""
    v_dev = reset_divider(v_sl, gate, g, vt, p)
    level = reset_level(v_dev, width, onset, p) * jitter
    xp = ops(g, level)
    return xp.where(v_dev > p.over_reset_V, level, xp.minimum(g, level))


class OneTOneRDevice(DeviceModel):
    """1T1R cells with a preset's nominal values and spreads (see the module docstring)."""

    def __init__(self, params: OneTOneRParams | None = None) -> None:
        self.params = params or OneTOneRParams()

    @property
    def full_gate_V(self) -> float:
        """The gate in V that turns the access transistor fully on (the read gate): what a
        pulse carries when its protocol plans no gate, so it acts as on a bare device."""
        return self.params.read_gate_V

    def start(self, n: int, population_rng: np.random.Generator,
              state_rng: np.random.Generator) -> np.ndarray:
        p = self.params
        self.population = OneTOneRPopulation.sample(p, n, population_rng)
        pop = self.population
        self.healthy = pop.stuck == 0
        g = pop.hrs * np.exp(p.hrs_c2c * state_rng.standard_normal(n)).astype(SIM_FLOAT)
        g = np.where(pop.stuck == 1, 0.95 * pop.g_sat, g)
        return np.minimum(g, G_SCALE_S) / G_SCALE_S

    def switch(self, flat: np.ndarray, x: np.ndarray, volts: np.ndarray, width: np.ndarray,
               gate: np.ndarray | None, noise: np.random.Generator) -> np.ndarray:
        if gate is None:
            raise SafetyLimitError("a pulse to a 1T1R array needs a gate voltage; the protocol "
                                   "must say the gate (word line) of every pulse")
        xp = ops(x)
        g = x * SIM_FLOAT(G_SCALE_S)
        is_set = volts > 0
        if is_set.all() or not is_set.any():  # one polarity (most rounds): no masks
            response = self._set if is_set.all() else self._reset
            g_new = response(flat, g, xp.abs(volts), width, gate, noise)
        else:
            g_new = xp.copy(g)
            for mask, response in ((is_set, self._set), (~is_set, self._reset)):
                if mask.any():
                    g_new[mask] = response(flat[mask], g[mask], xp.abs(volts[mask]),
                                           width[mask], gate[mask], noise)
        return xp.clip(g_new * SIM_FLOAT(1 / G_SCALE_S), 0.0, 1.0)

    def _set(self, flat, g, v_bl, width, gate, noise) -> np.ndarray:
        p, pop, xp = self.params, self.working, ops(g)
        vt_jitter, threshold_jitter, level_jitter = standard_normals(noise, 3, len(g))
        vt = pop.vt[flat] + p.transistor_threshold_c2c_V * vt_jitter
        current = saturation_current(gate, vt, pop.k[flat], p)
        with np.errstate(divide="ignore"):
            v_cell = xp.minimum(v_bl, current / g)
        jitter = xp.exp(p.set_threshold_c2c * threshold_jitter)
        switched = v_cell >= set_voltage(pop.set_v[flat], width, p) * jitter
        level = set_level(current, pop.g_sat[flat], p)
        level = level * xp.exp(p.set_c2c * level_jitter)
        return xp.where(switched, xp.maximum(g, level), g)

    def _reset(self, flat, g, v_sl, width, gate, noise) -> np.ndarray:
        p, pop = self.params, self.working
        onset_jitter, level_jitter = standard_normals(noise, 2, len(g))
        onset = pop.reset_onset[flat] + p.reset_onset_c2c_V * onset_jitter
        jitter = ops(g).exp(p.reset_c2c * level_jitter)
        return reset_response(g, v_sl, gate, width, pop.vt[flat], onset, p, jitter)

    def conductance(self, x: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """The conductance a read sees: the device in series with the transistor's read gate."""
        g = x * SIM_FLOAT(G_SCALE_S)
        g_t = transistor_on(self.params.read_gate_V, self.working.vt[flat], self.params)
        return g * g_t / (g + g_t)

    def state_of(self, g: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """States of devices ``flat`` that read ``g`` S (inverse of ``conductance``; above 1
        where a read through the transistor cannot reach ``g``)."""
        g_t = transistor_on(self.params.read_gate_V, self.population.vt[flat], self.params)
        return device_conductance(g, g_t) / G_SCALE_S


def device_conductance(g_read, g_t) -> np.ndarray:
    """The device's own conductance in S behind a read of ``g_read`` S through a transistor of
    ``g_t`` S (infinite where the read is at or above the transistor's own conductance)."""
    with np.errstate(divide="ignore"):
        return np.where(g_read < g_t, g_read * g_t / np.maximum(g_t - g_read, 1e-300), np.inf)
