"""Safety limits, checked on every driver call before anything reaches a device.

A limit is never clamped: a request outside it raises ``SafetyLimitError`` with the value, the
limit and the pulse it belongs to, because a silently weakened pulse is a wrong measurement in a
write-verify loop and a silently strengthened one can destroy a device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, SafetyLimitError
from .vocabulary import Cells, Polarity, PulseBatch


@dataclass(frozen=True)
class SafetyLimits:
    """Hard limits of a rig.

    Parameters
    ----------
    set_max_V, reset_max_V : float
        Largest pulse magnitude in volts for SET (positive) and RESET (negative) pulses.
    width_min_s, width_max_s : float
        Allowed pulse widths in seconds.
    compliance_A : float
        Current compliance in amperes for pulses and reads.
    read_V : float
        Read voltage in volts; must stay below any switching threshold.
    read_max_V : float
        Largest read voltage the rig accepts, in volts.
    gate_set_min_V, gate_set_max_V, gate_reset_min_V, gate_reset_max_V : float
        Allowed gate (word-line) voltage in volts of a 1T1R array's SET and RESET pulses. The
        SET gate sets the compliance, so its top guards a device against an over-SET; a RESET
        wants the gate fully on (3.5 V in Le et al., "RADAR", IEEE TED 2021), hence a higher
        default top. Only pulses that carry a gate are checked.
    """

    set_max_V: float = 2.0
    reset_max_V: float = 2.5
    width_min_s: float = 10e-9
    width_max_s: float = 100e-6
    compliance_A: float = 1e-3
    read_V: float = 0.2
    read_max_V: float = 0.5
    gate_set_min_V: float = 0.0
    gate_set_max_V: float = 3.3
    gate_reset_min_V: float = 0.0
    gate_reset_max_V: float = 4.0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            floor_ok = value >= 0 if name.endswith("_min_V") else value > 0
            if not (isinstance(value, (int, float)) and math.isfinite(value) and floor_ok):
                kind = "finite number >= 0" if name.endswith("_min_V") else "positive finite number"
                raise ConfigError(f"limits.{name} = {value!r}: expected a {kind}")
        for low, high in (("gate_set_min_V", "gate_set_max_V"),
                          ("gate_reset_min_V", "gate_reset_max_V")):
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(f"limits.{low} = {getattr(self, low):g} V exceeds "
                                  f"limits.{high} = {getattr(self, high):g} V")
        if self.width_min_s > self.width_max_s:
            raise ConfigError(
                f"limits.width_min_s = {self.width_min_s:g} s exceeds "
                f"limits.width_max_s = {self.width_max_s:g} s"
            )
        if self.read_V > self.read_max_V:
            raise ConfigError(
                f"limits.read_V = {self.read_V:g} V exceeds "
                f"limits.read_max_V = {self.read_max_V:g} V"
            )

    def max_amplitude(self, polarity: np.ndarray) -> np.ndarray:
        """Largest allowed magnitude in volts for each entry of ``polarity``."""
        return np.where(polarity == Polarity.SET, self.set_max_V, self.reset_max_V)

    def gate_range(self, polarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Allowed gate voltages (low, high) in volts for each entry of ``polarity``."""
        is_set = polarity == Polarity.SET
        return (np.where(is_set, self.gate_set_min_V, self.gate_reset_min_V),
                np.where(is_set, self.gate_set_max_V, self.gate_reset_max_V))

    def check_pulses(self, pulses: PulseBatch, shape: tuple[int, int]) -> None:
        """Raise ``SafetyLimitError`` naming the first pulse outside the limits.

        A batch that passes is sealed (``PulseBatch.seal``), so handing the same batch on to
        another driver call checks it once, not again on every hop.
        """
        if pulses.checked_for(self, shape):
            return
        check_cells(pulses.cells, shape)
        if self._all_inside(pulses):
            pulses.seal(self, shape)
            return
        self._name_first_unsafe(pulses)

    def _all_inside(self, pulses: PulseBatch) -> bool:
        """Whether every pulse is inside the limits, from one reduction per setting and
        polarity (no per-pulse temporaries); a NaN makes its reduction NaN, which fails."""
        is_set = pulses.polarity == Polarity.SET
        is_reset = ~is_set
        ranges = [(pulses.amplitude, is_set, 0.0, self.set_max_V),
                  (pulses.amplitude, is_reset, 0.0, self.reset_max_V),
                  (pulses.width, None, self.width_min_s, self.width_max_s)]
        if pulses.gate is not None:
            ranges += [(pulses.gate, is_set, self.gate_set_min_V, self.gate_set_max_V),
                       (pulses.gate, is_reset, self.gate_reset_min_V, self.gate_reset_max_V)]
        for values, where, low, high in ranges:
            mask = True if where is None else where
            if not (values.min(where=mask, initial=np.inf) >= low
                    and values.max(where=mask, initial=-np.inf) <= high):
                return False
        return True

    def _name_first_unsafe(self, pulses: PulseBatch) -> None:
        amplitude, width = pulses.amplitude, pulses.width
        limit = self.max_amplitude(pulses.polarity)
        # (bad, values, complaint, per-pulse limit shown as {lim})
        checks = [
            (~np.isfinite(amplitude) | (amplitude < 0), amplitude,
             "V is not a magnitude >= 0", limit),
            (amplitude > limit, amplitude, "V exceeds the polarity's limit {lim:.3e} V", limit),
            (~np.isfinite(width) | (width < self.width_min_s), width,
             f"s is below the width limit {self.width_min_s:.3e} s", limit),
            (width > self.width_max_s, width,
             f"s exceeds the width limit {self.width_max_s:.3e} s", limit),
        ]
        if pulses.gate is not None:
            gate = pulses.gate
            low, high = self.gate_range(pulses.polarity)
            checks += [
                (~np.isfinite(gate) | (gate < low), gate,
                 "V gate is below the polarity's gate limit {lim:.3e} V", low),
                (gate > high, gate, "V gate exceeds the polarity's gate limit {lim:.3e} V", high),
            ]
        for bad, values, complaint, shown in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                pol = Polarity(int(pulses.polarity[i])).name
                raise SafetyLimitError(
                    f"pulse {i + 1} of {len(pulses)} ({pol}) to {pulses.cells.describe(i)}: "
                    f"{values[i]:.3e} " + complaint.format(lim=shown[i])
                )

    def check_read_voltage(self, volts: float) -> None:
        if not (math.isfinite(volts) and 0 < volts <= self.read_max_V):
            raise SafetyLimitError(
                f"read voltage {volts:.3e} V is outside (0, {self.read_max_V:.3e}] V"
            )


def check_cells(cells: Cells, shape: tuple[int, int]) -> None:
    """Raise ``SafetyLimitError`` if any address lies outside an array of ``shape``; cells
    that pass are sealed (``Cells.seal_inside``), and so are their subsets."""
    if cells.inside(shape):
        return
    rows, cols = shape
    bad = (cells.rows < 0) | (cells.rows >= rows) | (cells.cols < 0) | (cells.cols >= cols)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SafetyLimitError(
            f"{cells.describe(i)} is outside the {rows}x{cols} array"
        )
    cells.seal_inside(shape)
