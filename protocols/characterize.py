"""Characterization: random pulses over many cells and states, read before and after.

The result is the pulse-response table (``drivers.pulse_table.PulseTable``) that the predictor
trains on. Every round pulses a batch of distinct cells at once through ``Crossbar.apply`` and
reads them back with one ``Crossbar.read``; the read after a pulse is the read before that cell's
next pulse, exactly as a rig sees it.

States must cover the whole conductance range, not only the fresh (low) state an array starts
in, so polarity is drawn with a bias against the cell's rank among the present reads: low cells
get mostly SET, high cells mostly RESET. The array therefore spreads over its range within a
few rounds and keeps both ends populated, whatever its conductance units or window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import Cells, ConfigError, Crossbar, Polarity, PulseBatch, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable

from .settings import check_settings


@dataclass(frozen=True)
class PulseRanges:
    """Ranges random pulses are drawn from. Voltages in V (magnitudes), widths in s.

    Amplitudes are uniform, widths log-uniform. The lower amplitude bounds sit just above the
    usual switching thresholds; pulses far below threshold only teach that nothing happens.
    ``None`` for an upper bound means the rig's safety limit.
    """

    set_V: tuple[float, float | None] = (0.8, None)
    reset_V: tuple[float, float | None] = (0.9, None)
    width_s: tuple[float | None, float | None] = (None, None)
    gate_V: float | None = None

    def resolved(self, limits: SafetyLimits) -> PulseRanges:
        """Fill the open bounds from ``limits`` and raise ``ConfigError`` if a range is unsafe."""
        ranges = PulseRanges(
            set_V=(self.set_V[0], _or(self.set_V[1], limits.set_max_V)),
            reset_V=(self.reset_V[0], _or(self.reset_V[1], limits.reset_max_V)),
            width_s=(_or(self.width_s[0], limits.width_min_s),
                     _or(self.width_s[1], limits.width_max_s)),
            gate_V=self.gate_V,
        )
        check_settings("characterize", limits,
                       set_V={"set_V[0]": ranges.set_V[0], "set_V[1]": ranges.set_V[1]},
                       reset_V={"reset_V[0]": ranges.reset_V[0], "reset_V[1]": ranges.reset_V[1]},
                       width_s={"width_s[0]": ranges.width_s[0], "width_s[1]": ranges.width_s[1]},
                       gate_V={"gate_V": ranges.gate_V})
        for name in ("set_V", "reset_V", "width_s"):
            low, high = getattr(ranges, name)
            if low > high:
                raise ConfigError(f"characterize.{name} = ({low:g}, {high:g}): low exceeds high")
        return ranges


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def characterize(crossbar: Crossbar, n_pulses: int, rng: np.random.Generator,
                 cells: Cells | None = None, ranges: PulseRanges | None = None,
                 batch: int | None = None) -> PulseTable:
    """Apply ``n_pulses`` random pulses and return one table row per pulse (less the pulses
    whose read before or after was at or below 0 S, see ``table_rows``).

    Parameters
    ----------
    crossbar : Crossbar
    n_pulses : int
        Rows of the table (pulses applied).
    rng : numpy.random.Generator
        Draws cells, polarities, amplitudes and widths (reproducible with its seed).
    cells : Cells, optional
        Cells to characterize; every cell of the array by default.
    ranges : PulseRanges, optional
        Pulse ranges; open bounds come from ``crossbar.limits``.
    batch : int, optional
        Cells pulsed per round (distinct cells); all of ``cells`` by default.
    """
    if n_pulses < 1:
        raise ConfigError(f"characterize: n_pulses = {n_pulses}: expected at least 1")
    cells = cells if cells is not None else Cells.all(crossbar.shape)
    if len(cells) == 0:
        raise ConfigError("characterize: no cells to characterize")
    batch = len(cells) if batch is None else int(batch)
    if not 1 <= batch <= len(cells):
        raise ConfigError(f"characterize: batch = {batch}: expected 1..{len(cells)}")
    ranges = (ranges or PulseRanges()).resolved(crossbar.limits)

    last_read = crossbar.read(cells).conductance
    tables = []
    done = 0
    while done < n_pulses:
        chosen = rng.permutation(len(cells))[:min(batch, n_pulses - done)]
        pulses = _random_pulses(cells.subset(chosen), last_read, chosen, ranges, rng)
        crossbar.apply(pulses)
        after = crossbar.read(pulses.cells).conductance
        tables.append(table_rows(pulses, last_read[chosen], after))
        last_read[chosen] = after
        done += chosen.size
    return PulseTable.concat(tables)


def _random_pulses(cells: Cells, last_read: np.ndarray, chosen: np.ndarray,
                   ranges: PulseRanges, rng: np.random.Generator) -> PulseBatch:
    """Random pulses for ``cells``; SET is likelier the lower a cell reads among all cells."""
    n = chosen.size
    rank = np.argsort(np.argsort(last_read))[chosen] / max(last_read.size - 1, 1)
    p_set = 0.8 - 0.6 * rank
    polarity = np.where(rng.random(n) < p_set, Polarity.SET, Polarity.RESET)
    is_set = polarity == Polarity.SET
    lo = np.where(is_set, ranges.set_V[0], ranges.reset_V[0])
    hi = np.where(is_set, ranges.set_V[1], ranges.reset_V[1])
    amplitude = lo + (hi - lo) * rng.random(n)
    log_lo, log_hi = np.log(ranges.width_s[0]), np.log(ranges.width_s[1])
    width = np.exp(log_lo + (log_hi - log_lo) * rng.random(n))
    width = np.clip(width, ranges.width_s[0], ranges.width_s[1])  # exp(log(w)) may round out
    gate = None if ranges.gate_V is None else np.full(n, ranges.gate_V)
    return PulseBatch(cells, polarity, amplitude, width, gate)


def table_rows(pulses: PulseBatch, before: np.ndarray, after: np.ndarray) -> PulseTable:
    """Table rows of one round. A read at or below 0 S (a device near its read-noise floor) has
    no place in a table of conductances, so its pulse is left out: the table then has fewer
    rows than pulses were applied, and callers report the difference."""
    names = np.char.add(np.char.add(pulses.cells.rows.astype(str), ":"),
                        pulses.cells.cols.astype(str))
    gate = np.full(len(pulses), np.nan) if pulses.gate is None else pulses.gate
    keep = (before > 0) & (after > 0)
    return PulseTable(names[keep], before[keep], pulses.polarity[keep], pulses.amplitude[keep],
                      pulses.width[keep], gate[keep], after[keep])
