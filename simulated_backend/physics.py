"""Vectorised device physics of a bipolar RRAM cell population.

Each device has a state x in [0, 1] and a low-field conductance G = G_min + (G_max - G_min) x.
A pulse of magnitude |V| above the polarity's threshold switches at the rate

    k(V) = k0 * (exp((|V| - V_th) / V_s) - 1),

and the state follows dx/dt = k (1 - x)^p for SET and dx/dt = -k x^q for RESET. The window
exponents p, q > 1 make steps shrink near the bounds and the response S-shaped in log(width);
unequal rates, thresholds and exponents make SET and RESET asymmetric. The ODE has the closed
form ``window_decay`` below, which is what lets the oracle planner invert a pulse exactly.

Every switching event carries cycle-to-cycle noise (multiplicative on the step plus additive);
reads carry relative noise plus a floor and see the nonlinear I-V I = G V0 sinh(V / V0).

The simulator computes in float32 (``SIM_FLOAT``): its seven digits sit far below the 1 % read
noise and the 15 % cycle-to-cycle noise of every event, and half the bytes per device make the
hot path about twice as fast. Only the state's distance to a bound, u = 1 - x, loses digits
near x = 1 (float32 resolves u down to 6e-8, a few pS of a 40 uS window), a train of hundreds
of pulses drifts by up to ~1e-4 of G from the float64 curve, and a 1T1R SET just above the
transistor's threshold loses digits in V_G - V_T (levels of ~0.1 uS off by 1e-4 of
themselves); all far below the noise (``tests/simulated_backend/test_float32.py``). Planners,
fits and cost sums that invert or accumulate stay in float64.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import numpy as np

from hilctl.drivers import ConfigError

from .array_backend import ops

# Plausible ceilings by name (the first suffix that matches): a relative noise beyond 100 % of
# G, a log-normal spread or relaxation sigma beyond 5 (a factor e^5 = 150 between neighbours),
# a device voltage beyond 100 V, a conductance beyond 1 S, a switching rate beyond 1e15 per
# second (faster than a lattice vibration), a time constant beyond 30 years describe no device
# that could be programmed; such a value is a typing slip, not a preset. Other shape
# parameters (windows, exponents, sharpness, states) stay below 1e6.
_CEILINGS = (("_relative", 1.0), ("_spread", 5.0), ("_sigma", 5.0), ("_c2c", 5.0),
             ("_per_cycle", 5.0), ("_per_hour", 5.0), ("_fraction", 1.0),
             ("_per_V", 1e4), ("_V", 100.0), ("_S", 1.0), ("_A", 10.0),
             ("_per_s", 1e15), ("_s", 1e9))
_OTHER_CEILING = 1e6


def _ceiling(name: str) -> float:
    return next((limit for suffix, limit in _CEILINGS if name.endswith(suffix)), _OTHER_CEILING)


# Below this, a state variable is treated as sitting on its bound (avoids 0 ** negative).
_STATE_FLOOR = 1e-12
# The simulator's arithmetic and per-device storage (see the module docstring).
SIM_FLOAT = np.float32
# The switching parameters a pulse gathers for its polarity (``DevicePopulation.by_polarity``).
_SWITCHING_COLUMNS = ("rate", "threshold", "slope", "window")


@dataclass(frozen=True)
class CellParams:
    """What every preset shares: validation, ``replace`` and the read's I-V.

    Subclasses are frozen dataclasses whose numeric fields are all finite and >= 0, and that
    carry ``iv_v0_V`` plus the read and relaxation fields the crossbar applies. ``cell`` says
    whether the preset is a bare resistive device ("1R") or one behind a transistor ("1T1R").
    """

    cell: ClassVar[str] = "1R"

    def _check_nonnegative(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"device.{f.name} = {value!r}: expected a finite number >= 0")
            ceiling = _ceiling(f.name)
            if value > ceiling:
                raise ConfigError(f"device.{f.name} = {value!r}: expected at most {ceiling:g} "
                                  "(no device programs with more)")

    def replace(self, **overrides):
        """A copy with some parameters changed; an unknown name is a ``ConfigError``."""
        known = {f.name for f in fields(self)}
        for name in overrides:
            if name not in known:
                raise ConfigError(f"device.{name}: unknown device parameter ({self.cell} cell)")
        return type(self)(**{**asdict(self), **overrides})

    def read_factor(self, volts: float) -> float:
        """Ratio of the conductance read at ``volts`` (I/V) to the low-field conductance."""
        u = volts / self.iv_v0_V
        return float(np.sinh(u) / u)


@dataclass(frozen=True)
class DeviceParams(CellParams):
    """Nominal 1R device parameters and their device-to-device spread (a preset).

    Conductances in siemens, voltages in volts, rates per second, times in seconds.
    Spreads named ``*_spread`` are log-normal sigmas (relative) unless they end in ``_V``,
    which are normal sigmas in volts.
    """

    g_min_S: float = 1.0e-6
    g_max_S: float = 40.0e-6
    g_spread: float = 0.10

    set_rate_per_s: float = 409.0
    set_threshold_V: float = 0.70
    set_slope_V: float = 0.08
    set_window: float = 2.0
    reset_rate_per_s: float = 2247.0
    reset_threshold_V: float = 0.80
    reset_slope_V: float = 0.10
    reset_window: float = 3.0

    rate_spread: float = 0.30
    threshold_spread_V: float = 0.03
    slope_spread: float = 0.05
    window_spread: float = 0.10

    c2c_relative: float = 0.15
    c2c_additive_S: float = 0.2e-6
    read_noise_relative: float = 0.01
    read_noise_floor_S: float = 0.05e-6
    iv_v0_V: float = 0.30

    stuck_fraction: float = 0.01
    initial_state: float = 0.02
    initial_state_spread: float = 0.01
    random_initial_state: bool = False

    relaxation_sigma: float = 0.0
    relaxation_t0_s: float = 1.0
    # Log-normal walk of each device's rates per pulse and per hour (``drift``; 0: off).
    drift_per_cycle: float = 0.0
    drift_per_hour: float = 0.0

    def __post_init__(self) -> None:
        self._check_nonnegative()
        if self.g_max_S <= self.g_min_S:
            raise ConfigError(
                f"device.g_max_S = {self.g_max_S:g} S must exceed "
                f"device.g_min_S = {self.g_min_S:g} S"
            )
        for name in ("set_window", "reset_window"):
            if getattr(self, name) <= 1.0:
                raise ConfigError(f"device.{name} = {getattr(self, name)!r}: expected > 1")
        for name in ("set_slope_V", "reset_slope_V", "iv_v0_V", "set_rate_per_s",
                     "reset_rate_per_s", "relaxation_t0_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"device.{name} = {getattr(self, name)!r}: expected > 0")
        if self.stuck_fraction > 1 or self.initial_state > 1:
            raise ConfigError("device.stuck_fraction and device.initial_state must be <= 1")


@dataclass
class DevicePopulation:
    """Per-device parameters of an array, one flat array entry per cell (row-major)."""

    g_min: np.ndarray
    g_max: np.ndarray
    set_rate: np.ndarray
    set_threshold: np.ndarray
    set_slope: np.ndarray
    set_window: np.ndarray
    reset_rate: np.ndarray
    reset_threshold: np.ndarray
    reset_slope: np.ndarray
    reset_window: np.ndarray
    stuck: np.ndarray  # int8: 0 healthy, -1 stuck at G_min, +1 stuck at G_max
    drifting: ClassVar[tuple[str, ...]] = ("set_rate", "reset_rate")  # see ``drift``

    def __post_init__(self) -> None:
        """Keep each switching parameter of both polarities in one float32 array of 2 n
        (``by_polarity``: RESET's n, then SET's n), so a pulse finds its polarity's value
        at ``flat + n * is_set`` in one gather; the named fields are its halves (views), so
        changing a field in place (drift, a snapshot's restore) changes it too."""
        n = np.asarray(self.g_min).size
        self.by_polarity = {}
        for name in _SWITCHING_COLUMNS:
            both = np.concatenate([self.__dict__[f"reset_{name}"],
                                   self.__dict__[f"set_{name}"]]).astype(SIM_FLOAT)
            self.by_polarity[name] = both
            setattr(self, f"reset_{name}", both[:n])
            setattr(self, f"set_{name}", both[n:])
        self.g_min = np.asarray(self.g_min, SIM_FLOAT)
        self.g_max = np.asarray(self.g_max, SIM_FLOAT)

    @classmethod
    def sample(cls, params: DeviceParams, n: int, rng: np.random.Generator) -> DevicePopulation:
        def lognormal(nominal: float, sigma: float) -> np.ndarray:
            return (nominal * np.exp(sigma * rng.standard_normal(n))).astype(SIM_FLOAT)

        def normal(nominal: float, sigma: float) -> np.ndarray:
            return (nominal + sigma * rng.standard_normal(n)).astype(SIM_FLOAT)

        g_min = lognormal(params.g_min_S, params.g_spread)
        g_max = np.maximum(lognormal(params.g_max_S, params.g_spread), 2 * g_min)
        stuck = np.zeros(n, dtype=np.int8)
        is_stuck = rng.random(n) < params.stuck_fraction
        stuck[is_stuck] = np.where(rng.random(int(is_stuck.sum())) < 0.5, -1, 1)
        return cls(
            g_min=g_min,
            g_max=g_max,
            set_rate=lognormal(params.set_rate_per_s, params.rate_spread),
            set_threshold=normal(params.set_threshold_V, params.threshold_spread_V),
            set_slope=lognormal(params.set_slope_V, params.slope_spread),
            set_window=1.0 + lognormal(params.set_window - 1.0, params.window_spread),
            reset_rate=lognormal(params.reset_rate_per_s, params.rate_spread),
            reset_threshold=normal(params.reset_threshold_V, params.threshold_spread_V),
            reset_slope=lognormal(params.reset_slope_V, params.slope_spread),
            reset_window=1.0 + lognormal(params.reset_window - 1.0, params.window_spread),
            stuck=stuck,
        )

    def initial_state(self, params: DeviceParams, rng: np.random.Generator) -> np.ndarray:
        """State after forming and a block RESET (near G_min), or uniform if asked for."""
        n = self.g_min.size
        if params.random_initial_state:
            x = rng.random(n)
        else:
            x = np.abs(params.initial_state + params.initial_state_spread * rng.standard_normal(n))
        x = np.clip(x, 0.0, 1.0)
        x[self.stuck == -1] = 0.0
        x[self.stuck == 1] = 1.0
        return x

    def take(self, index: np.ndarray) -> DevicePopulation:
        """The parameters of the devices at flat ``index``."""
        return DevicePopulation(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def converted(self, convert) -> DevicePopulation:
        """The same devices with every array passed through ``convert`` (into another array
        library, ``array_backend``); the named switching fields stay halves of
        ``by_polarity``."""
        moved = copy.copy(self)
        moved.by_polarity = {name: convert(both) for name, both in self.by_polarity.items()}
        n = len(self.g_min)
        for name, both in moved.by_polarity.items():
            setattr(moved, f"reset_{name}", both[:n])
            setattr(moved, f"set_{name}", both[n:])
        moved.g_min, moved.g_max, moved.stuck = map(convert, (self.g_min, self.g_max, self.stuck))
        return moved

    def conductance(self, x: np.ndarray, index=slice(None)) -> np.ndarray:
        return self.g_min[index] + (self.g_max[index] - self.g_min[index]) * x

    def state_of(self, g: np.ndarray, index=slice(None)) -> np.ndarray:
        return (g - self.g_min[index]) / (self.g_max[index] - self.g_min[index])


def standard_normals(rng, count: int, n: int) -> np.ndarray:
    """``count`` rows of ``n`` standard normal draws as ``SIM_FLOAT`` from the crossbar's noise
    stream. A numpy generator draws in float64 row after row: the stream a seed gave before the
    simulator computed in float32, so a seeded array's noise stays what it was up to float32
    rounding. Any other stream (``array_backend.TorchNoise``) draws its own ``normals``."""
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal((count, n)).astype(SIM_FLOAT)
    return rng.normals(count, n)


def switching_rate(volts, rate, threshold, slope) -> np.ndarray:
    """Switching rate k in 1/s for pulse magnitudes ``volts``; zero at or below threshold."""
    xp = ops(volts, threshold)
    overdrive = xp.maximum(xp.abs(volts) - threshold, 0.0)
    return rate * xp.expm1(overdrive / slope)


def window_decay(u: np.ndarray, window: np.ndarray, kt: np.ndarray) -> np.ndarray:
    """Solve du/dt = -k u^p over a pulse: u' = (u^(1-p) + (p-1) k t)^(-1/(p-1)).

    ``u`` is the distance to the bound the pulse drives towards: 1 - x for SET, x for RESET.
    """
    u = ops(u).maximum(u, _STATE_FLOOR)
    e = window - 1.0
    return (u ** -e + e * kt) ** (-1.0 / e)


def window_kt(u_from: np.ndarray, u_to: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Inverse of ``window_decay``: the rate-time product k t that takes u_from to u_to."""
    e = window - 1.0
    u_from = np.maximum(u_from, _STATE_FLOOR)
    u_to = np.maximum(u_to, _STATE_FLOOR)
    return (u_to ** -e - u_from ** -e) / e


def noise_free_response(pop: DevicePopulation, flat: np.ndarray, x: np.ndarray,
                        volts: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New states of devices ``flat`` (states ``x``) after pulses of signed ``volts`` and
    ``width`` without noise, and which pulses were above threshold (switching events).

    This is the simulator's hot path: one gather per parameter fetches each device's value for its
    pulse's polarity, and both polarities run through the same arithmetic (a SET drives
    u = 1 - x to zero, a RESET u = x).
    """
    is_set = volts > 0
    at = flat + len(pop.g_min) * is_set
    xp = ops(x)
    rate, threshold, slope, window = (xp.take(pop.by_polarity[name], at)
                                      for name in _SWITCHING_COLUMNS)
    switching = xp.abs(volts) > threshold
    kt = switching_rate(volts, rate, threshold, slope) * width
    u_new = window_decay(xp.where(is_set, 1.0 - x, x), window, kt)
    return xp.where(is_set, 1.0 - u_new, u_new), switching
