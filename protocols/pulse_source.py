"""What a characterization pulses: ranges of settings, drawn at random or walked on a grid.

A pulse setting is (polarity, amplitude, width, gate). It is drawn at random (amplitude and gate
uniform, width log-uniform) or walked through a grid of ``grid_points`` values per axis, and a
cell given a setting receives it ``repeats`` times in a row, so that a cell's own response can be
told from the pulse-to-pulse scatter (device-to-device against cycle-to-cycle spread).

Two starts:

- ``random``: states must cover the whole conductance range, so polarity is drawn with a bias
  against the cell's rank among the present reads: low cells get mostly SET, high cells mostly
  RESET. The array spreads over its range within a few rounds and keeps both ends populated.
- ``hrs``: every measured pulse is a SET from the high-resistance state: a full RESET
  (``hrs_reset``) and a read go before it, as in a lab's gate sweep. The RESET is a pulse with
  reads before and after, so it is a table row too.

On a 1T1R array every pulse carries a gate (the word line): SET gates from ``set_gate_V``,
RESET gates from ``reset_gate_V``. Which setting each cell holds and how many repeats it has
left live in the caller's state (``SettingMemory``), so a stored characterization resumes
drawing exactly what it would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from hilctl.drivers import Cells, ConfigError, Polarity, PulseBatch, SafetyLimits

from .settings import ResetPulse, check_settings

Range = tuple[float | None, float | None]


@dataclass(frozen=True)
class PulseRanges:
    """What pulses characterization draws. Voltages in V (magnitudes), widths in s.

    The lower amplitude bounds sit just above the usual switching thresholds; pulses far below
    threshold only teach that nothing happens. ``None`` for a bound means the rig's safety
    limit. A gate range of None sends no gate (a 1R array); a range whose bounds are equal is a
    fixed value.
    """

    set_V: Range = (0.8, None)
    reset_V: Range = (0.9, None)
    width_s: Range = (None, None)
    set_gate_V: Range | None = None
    reset_gate_V: Range | None = None
    sampling: Literal["random", "grid"] = "random"
    grid_points: int = 5
    start: Literal["random", "hrs"] = "random"
    repeats: int = 1
    hrs_reset: ResetPulse = field(default_factory=ResetPulse)

    def resolved(self, limits: SafetyLimits) -> PulseRanges:
        """Fill the open bounds from ``limits`` and raise ``ConfigError`` if a range is unsafe."""
        ranges = replace(
            self,
            set_V=(self.set_V[0], _or(self.set_V[1], limits.set_max_V)),
            reset_V=(self.reset_V[0], _or(self.reset_V[1], limits.reset_max_V)),
            width_s=(_or(self.width_s[0], limits.width_min_s),
                     _or(self.width_s[1], limits.width_max_s)),
            set_gate_V=_gate_range(self.set_gate_V, limits.gate_set_min_V, limits.gate_set_max_V),
            reset_gate_V=_gate_range(self.reset_gate_V, limits.gate_reset_min_V,
                                     limits.gate_reset_max_V))
        check_settings("characterize", limits,
                       set_V={"set_V[0]": ranges.set_V[0], "set_V[1]": ranges.set_V[1]},
                       reset_V={"reset_V[0]": ranges.reset_V[0], "reset_V[1]": ranges.reset_V[1]},
                       width_s={"width_s[0]": ranges.width_s[0], "width_s[1]": ranges.width_s[1]})
        for name in ("set_V", "reset_V", "width_s", "set_gate_V", "reset_gate_V"):
            value = getattr(ranges, name)
            if value is not None and value[0] > value[1]:
                raise ConfigError(f"characterize.{name} = ({value[0]:g}, {value[1]:g}): "
                                  "low exceeds high")
        ranges._check_gates(limits)
        if (ranges.set_gate_V is None) != (ranges.reset_gate_V is None):
            raise ConfigError("characterize: give set_gate_V and reset_gate_V together (a "
                              "1T1R array needs a gate on every pulse, a 1R array none)")
        if ranges.set_gate_V is not None and ranges.hrs_reset.gate_V is None:
            # the full RESET wants the gate fully on: the top of the RESET gate range
            ranges = replace(ranges, hrs_reset=replace(ranges.hrs_reset,
                                                       gate_V=ranges.reset_gate_V[1]))
        if ranges.start == "hrs":
            ranges.hrs_reset.check("characterize.hrs_reset", limits)
        if ranges.grid_points < 1 or ranges.repeats < 1:
            raise ConfigError(f"characterize: grid_points = {ranges.grid_points}, repeats = "
                              f"{ranges.repeats}: expected at least 1 each")
        return ranges

    def _check_gates(self, limits: SafetyLimits) -> None:
        """Gates may be 0 V (transistor off: sub-threshold data) if the limits allow it."""
        for name, low, high, names in (
                ("set_gate_V", limits.gate_set_min_V, limits.gate_set_max_V, "gate_set"),
                ("reset_gate_V", limits.gate_reset_min_V, limits.gate_reset_max_V, "gate_reset")):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value).all() and low <= value[0]
                                          and value[1] <= high):
                raise ConfigError(
                    f"characterize.{name} = ({value[0]:g}, {value[1]:g}) V is outside "
                    f"[{low:g}, {high:g}] V (limits.{names}_min_V, limits.{names}_max_V)")


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _gate_range(value: Range | None, low: float, high: float) -> Range | None:
    return None if value is None else (_or(value[0], low), _or(value[1], high))


@dataclass
class SettingMemory:
    """Per cell: the setting it holds (polarity; amplitude V, width s, gate V or NaN) and the
    repeats it has left; per polarity (RESET, SET), the next grid point."""

    left: np.ndarray
    polarity: np.ndarray
    values: np.ndarray
    grid_next: np.ndarray

    @classmethod
    def fresh(cls, n_cells: int) -> SettingMemory:
        return cls(np.zeros(n_cells, np.int64), np.full(n_cells, Polarity.SET, np.int8),
                   np.zeros((n_cells, 3)), np.zeros(2, np.int64))


class PulseSource:
    """The pulses of each round: a cell keeps its setting for ``repeats`` pulses; then it gets
    the next one, drawn at random or taken in turn from the polarity's grid."""

    def __init__(self, ranges: PulseRanges) -> None:
        self.ranges = ranges
        self._grid = {sign: _grid(_axes(ranges, sign), ranges.grid_points) for sign in Polarity}

    def advance(self, memory: SettingMemory, last_read: np.ndarray, chosen: np.ndarray,
                rng: np.random.Generator) -> None:
        """Use up one repeat of each of the ``chosen`` cells' settings (indices into all
        cells), drawing the next setting where none is left."""
        fresh = chosen[memory.left[chosen] == 0]
        if fresh.size:
            self._draw(memory, fresh, last_read, rng)
        memory.left[chosen] -= 1

    def pulses(self, memory: SettingMemory, cells: Cells, chosen: np.ndarray) -> PulseBatch:
        """The measured pulses of the settings ``cells`` (indices ``chosen``) hold."""
        amplitude, width, gate = memory.values[chosen].T
        has_gate = self.ranges.set_gate_V is not None
        return PulseBatch(cells, memory.polarity[chosen], amplitude, width,
                          gate if has_gate else None)

    def _draw(self, memory: SettingMemory, fresh: np.ndarray, last_read: np.ndarray,
              rng: np.random.Generator) -> None:
        n = fresh.size
        if self.ranges.start == "hrs":
            polarity = np.full(n, Polarity.SET, dtype=np.int8)
        else:  # SET is likelier the lower a cell reads among all cells
            rank = np.argsort(np.argsort(last_read))[fresh] / max(last_read.size - 1, 1)
            polarity = np.where(rng.random(n) < 0.8 - 0.6 * rank, Polarity.SET, Polarity.RESET)
        for sign in Polarity:
            index = fresh[polarity == sign]
            axes = _axes(self.ranges, sign)
            if self.ranges.sampling == "grid":
                grid, slot = self._grid[sign], int(sign > 0)
                u = grid[(memory.grid_next[slot] + np.arange(index.size)) % len(grid)]
                memory.grid_next[slot] += index.size
            else:
                u = rng.random((index.size, len(axes)))
            memory.values[index] = np.nan
            memory.values[index, :len(axes)] = _scale(axes, u)
            memory.polarity[index] = sign
        memory.left[fresh] = self.ranges.repeats


def _axes(ranges: PulseRanges, sign: Polarity) -> list[tuple[float, float, bool]]:
    """(low, high, log-spaced) of amplitude, width and, if the pulse carries one, gate."""
    amplitude = ranges.set_V if sign == Polarity.SET else ranges.reset_V
    gate = ranges.set_gate_V if sign == Polarity.SET else ranges.reset_gate_V
    return [(*amplitude, False), (*ranges.width_s, True)] + ([] if gate is None
                                                             else [(*gate, False)])


def _grid(axes: list[tuple[float, float, bool]], points: int) -> np.ndarray:
    """Every grid point as fractions in [0, 1] per axis (the last axis steps fastest); a range
    whose bounds are equal has one point."""
    steps = [np.linspace(0.0, 1.0, points if high > low else 1) for low, high, _ in axes]
    return np.stack([m.ravel() for m in np.meshgrid(*steps, indexing="ij")], axis=1)


def _scale(axes: list[tuple[float, float, bool]], u: np.ndarray) -> np.ndarray:
    """Fractions ``u`` (rows, axes) to values: linear, or log-uniform for log-spaced axes."""
    out = np.empty_like(u)
    for j, (low, high, log) in enumerate(axes):
        if log:  # exp(log(w)) may round out of the range, hence the clip
            out[:, j] = np.clip(np.exp(np.log(low) + np.log(high / low) * u[:, j]), low, high)
        else:
            out[:, j] = low + (high - low) * u[:, j]
    return out
