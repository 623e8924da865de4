"""A model-free pulse planner: a fixed width rule, corrected per cell from its last answer.

It knows nothing of the devices beyond what a user states about the rig: the safety limits
and the conductance window the devices are meant to span. Its rule, per polarity, is a power
law with unit slope (the small-pulse regime, where the state moves in proportion to pulse
time), anchored in the middle of the width range on a log scale (a rig's width range is made
for the devices it programs, so their typical rate is assumed to sit there):

    log w = log w_ref + log(|dG| / window),   w_ref = sqrt(width_min * width_max) at the start.

After each pulse a cell's ``w_ref`` for that polarity becomes the secant through its last
answer (the width that, by the same rule, would have produced the change it showed), so a slow
or fast device is treated as such from its next pulse in that polarity. A pulse that moved the
cell by less than a thousandth of the window (or the wrong way) quadruples ``w_ref``.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, ConfigError, DataError, Polarity, SafetyLimits

from .planner import PlannedPulses, PulsePlanner
from .settings import check_settings

# Changes below this fraction of the window are treated as no answer (about the read noise).
_SMALLEST_CHANGE = 1e-3
_GROW_UNANSWERED = 4.0


class HeuristicPlanner(PulsePlanner):
    """Width at a fixed amplitude per polarity from a unit-slope power law, secant-corrected.

    Parameters
    ----------
    shape : (rows, cols)
        Shape of the array, for the per-cell memory.
    limits : SafetyLimits
        The rig's limits; the rule spans their width range.
    g_window_S : (float, float)
        Lowest and highest read conductance (S) the devices are meant to span.
    set_V, reset_V : float
        Fixed pulse magnitudes in volts (the oracle's defaults, so that the two planners turn
        the same knob and a comparison is about the width rule alone).
    adapt : bool
        Correct each cell's rule from its last answer.
    """

    name = "heuristic"

    def __init__(self, shape: tuple[int, int], limits: SafetyLimits,
                 g_window_S: tuple[float, float], set_V: float = 1.2, reset_V: float = 1.4,
                 adapt: bool = True) -> None:
        low, high = g_window_S
        if not 0 <= low < high:
            raise ConfigError(f"heuristic conductance window [{low:g}, {high:g}] S is empty")
        check_settings("heuristic", limits, set_V={"set_V": set_V}, reset_V={"reset_V": reset_V})
        self.shape, self.limits, self.adapt = shape, limits, adapt
        self.window_S = high - low
        self.set_V, self.reset_V = set_V, reset_V
        # log w_ref per polarity (row 0 RESET, row 1 SET) and cell, flat row-major.
        middle = 0.5 * np.log(limits.width_min_s * limits.width_max_s)
        self.log_ref = np.full((2, shape[0] * shape[1]), middle)

    def learned(self, cells: Cells) -> dict[str, np.ndarray]:
        flat = cells.flat(self.shape)
        return {"log_ref_reset": self.log_ref[0, flat], "log_ref_set": self.log_ref[1, flat]}

    def restore_learned(self, cells: Cells, learned: dict[str, np.ndarray]) -> None:
        flat = cells.flat(self.shape)
        self.log_ref[0, flat] = learned["log_ref_reset"]
        self.log_ref[1, flat] = learned["log_ref_set"]

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        change = _finite("target", target) - _finite("present", present)
        polarity = np.where(change > 0, Polarity.SET, Polarity.RESET).astype(np.int8)
        log_ref = self.log_ref[(polarity > 0).astype(int), cells.flat(self.shape)]
        with np.errstate(divide="ignore"):
            width = np.exp(log_ref + np.log(np.abs(change) / self.window_S))
        lo, hi = self.limits.width_min_s, self.limits.width_max_s
        clamped = (width < lo * (1 - 1e-9)) | (width > hi * (1 + 1e-9))  # not on round-off
        amplitude = np.where(polarity > 0, self.set_V, self.reset_V)
        return PlannedPulses(polarity, amplitude, np.clip(width, lo, hi), clamped)

    def observe(self, cells: Cells, pulses: PlannedPulses, before: np.ndarray,
                after: np.ndarray) -> None:
        """Secant update of each pulsed cell's rule from the change it showed."""
        if not self.adapt:
            return
        row = (pulses.polarity > 0).astype(int)
        flat = cells.flat(self.shape)
        answered = (after - before) * pulses.polarity / self.window_S
        seen = answered > _SMALLEST_CHANGE
        secant = np.log(pulses.width) - np.log(np.where(seen, answered, 1.0))
        grown = self.log_ref[row, flat] + np.log(_GROW_UNANSWERED)
        # Bounded so that a dead cell cannot push its rule to absurd widths forever.
        top = np.log(self.limits.width_max_s / _SMALLEST_CHANGE)
        self.log_ref[row, flat] = np.clip(np.where(seen, secant, grown),
                                          np.log(self.limits.width_min_s), top)


def _finite(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"heuristic planner: {name} conductance "
                        f"{values[~np.isfinite(values)][0]!r} is not a finite number")
    return values
