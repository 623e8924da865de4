"""What a predictor plans: the knob strategies (width, amplitude, gate), one per polarity.

A knob is the one pulse setting a planner varies; the other settings of that polarity stay at
fixed values. Each strategy says

- which setting it varies (``setting``: one of ``SETTINGS``) and which stay fixed,
- the coordinate ``u`` the model is inverted in: ln width (the response is S-shaped in log
  time), the amplitude in V, or the gate voltage in V (the SET level follows the current the
  gate allows, smooth in volts),
- how far the table must vary it before it can teach the knob (``least_spread`` in ``u``),
- which fixed setting ``choose_fixed`` searches (``searched``) and how its candidates are
  rounded (whole 10 mV steps for a voltage, three significant digits for a width),
- how a pulse is built from ``u`` and the fixed settings (``pulse``).

A knob spec names one knob for both polarities (``"gate"``) or one per polarity
(``"set=gate,reset=amplitude"``: the gate for SET, as labs program 1T1R cells, and the
source-line amplitude for RESET).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import DataError

SETTINGS = ("amplitude_V", "width_s", "gate_V")
POLARITY_NAMES_ORDER = ("SET", "RESET")


@dataclass(frozen=True)
class Knob:
    """One knob strategy; see the module docstring."""

    name: str
    setting: str
    unit: str
    log: bool
    least_spread: float
    searched: str

    def coordinate(self, value) -> np.ndarray:
        """``u`` for knob values in SI units."""
        value = np.asarray(value, dtype=np.float64)
        return np.log(value) if self.log else value

    def value(self, u) -> np.ndarray:
        """Knob values in SI units for coordinates ``u``."""
        u = np.asarray(u, dtype=np.float64)
        return np.exp(u) if self.log else u

    def u_range(self, low: float, high: float) -> tuple[float, float]:
        return (math.log(low), math.log(high)) if self.log else (low, high)

    @property
    def error_unit(self) -> str:
        """The unit a knob error is reported in: decades of width, or volts."""
        return "decades" if self.log else "V"

    @property
    def error_scale(self) -> float:
        return math.log(10.0) if self.log else 1.0

    def fixed_settings(self, has_gate: bool) -> tuple[str, ...]:
        """The settings that stay fixed while this knob varies."""
        names = SETTINGS if has_gate else SETTINGS[:2]
        return tuple(s for s in names if s != self.setting)

    def pulse(self, u, fixed: dict[str, float]) -> dict[str, np.ndarray]:
        """Every setting of the pulses at coordinates ``u`` (SI arrays, by ``SETTINGS`` name;
        ``gate_V`` only where the predictor has a gate)."""
        value = self.value(u)
        out = {name: np.full(value.shape, fixed[name]) for name in fixed}
        out[self.setting] = value
        return out

    def candidates(self, setting: str, low: float, high: float, count: int) -> np.ndarray:
        """Round candidate values of the fixed ``setting`` inside [low, high]."""
        if setting == "width_s":
            grid = [float(f"{w:.3g}") for w in np.geomspace(low, high, count)]
            return np.unique(np.clip(grid, low, high))
        grid = np.linspace(math.ceil(low * 100) / 100, math.floor(high * 100) / 100,
                           count).round(2)
        return np.unique(np.clip(grid, low, high)) if grid[0] <= grid[-1] else np.array([low])


WIDTH = Knob("width", "width_s", "s", log=True, least_spread=math.log(2.0),
             searched="amplitude_V")
AMPLITUDE = Knob("amplitude", "amplitude_V", "V", log=False, least_spread=0.05,
                 searched="width_s")
GATE = Knob("gate", "gate_V", "V", log=False, least_spread=0.05, searched="width_s")
KNOBS = {knob.name: knob for knob in (WIDTH, AMPLITUDE, GATE)}


def settings_of(amplitude, width, gate) -> dict[str, np.ndarray]:
    """Pulse settings by ``SETTINGS`` name (``gate`` may be None: no gate)."""
    out = {"amplitude_V": np.asarray(amplitude, dtype=np.float64),
           "width_s": np.asarray(width, dtype=np.float64)}
    if gate is not None:
        out["gate_V"] = np.asarray(gate, dtype=np.float64)
    return out


def parse_knobs(text: str, polarities: tuple[str, ...]) -> dict[str, str]:
    """Knob name per polarity from ``"gate"`` or ``"set=gate,reset=amplitude"``."""
    known = ", ".join(KNOBS)
    if "=" not in text:
        if text.strip() not in KNOBS:
            raise DataError(f"knob {text!r} is unknown; expected one of {known}")
        return {name: text.strip() for name in polarities}
    chosen: dict[str, str] = {}
    for part in text.split(","):
        name, _, knob = (s.strip() for s in part.partition("="))
        if name.upper() not in POLARITY_NAMES_ORDER or knob not in KNOBS:
            raise DataError(f"knob {part!r}: expected SET=<knob> or RESET=<knob> with a knob "
                            f"among {known}")
        chosen[name.upper()] = knob
    missing = [p for p in polarities if p not in chosen]
    if missing:
        raise DataError(f"knob {text!r} names no knob for {'/'.join(missing)}; add "
                        f"{missing[0].lower()}=<knob> or train --polarities "
                        f"{'/'.join(p for p in polarities if p in chosen) or 'SET'}")
    return {p: chosen[p] for p in polarities}


def knob_text(knobs: dict[str, str]) -> str:
    """The spec back as text: one name when every polarity shares it."""
    if len(set(knobs.values())) == 1:
        return next(iter(knobs.values()))
    return ",".join(f"{name.lower()}={knobs[name]}" for name in POLARITY_NAMES_ORDER
                    if name in knobs)
