"""Measured against simulated G after, pulse setting by pulse setting: the grade a lab reads.

For every pulse setting (polarity, amplitude, width, gate) with enough rows, the median and the
p10-p90 spread of G after, measured vs simulated from the same rows' G before. A setting meets
the mark when the simulated median is within 5 % of the measured one and the simulated p10-p90
spread within 20 % of the measured one; the report gives the fraction of settings that do.
Settings are grouped at 10 mV (amplitude, gate) and 0.01 decade (width), so a grid's settings
stay apart; a random table's draws, which would fall into thin groups, are grouped by quartile
ranges of each axis instead. Groups under ``MIN_ROWS`` rows are counted, not graded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers.pulse_table import PulseTable

MEDIAN_MARGIN = 0.05
SPREAD_MARGIN = 0.20
MIN_ROWS = 20


@dataclass(frozen=True)
class SettingQuality:
    """Measured vs simulated G after (S) at one pulse setting: (p10, median, p90) each."""

    setting: str
    rows: int
    measured: tuple[float, float, float]
    simulated: tuple[float, float, float]

    @property
    def median_error(self) -> float:
        return self.simulated[1] / self.measured[1] - 1.0

    @property
    def spread_error(self) -> float:
        measured = self.measured[2] - self.measured[0]
        return (self.simulated[2] - self.simulated[0]) / max(measured, 1e-30) - 1.0

    @property
    def meets(self) -> bool:
        return abs(self.median_error) <= MEDIAN_MARGIN and abs(self.spread_error) <= SPREAD_MARGIN


def setting_keys(table: PulseTable) -> np.ndarray:
    """A readable label per row for its pulse setting, at the grouping resolution; where that
    leaves most rows in settings under ``MIN_ROWS`` rows (random settings), quartile ranges of
    each axis per polarity instead."""
    names = np.where(table.polarity > 0, "SET", "RESET").astype(str)
    amp = np.char.add(np.round(table.amplitude, 2).astype(str), " V, ")
    gate = np.where(np.isnan(table.gate), "",
                    np.char.add(" gate ", np.round(table.gate, 2).astype(str)))
    keys = _join(names, " ", amp, _si_width(table.width), gate)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if (counts[inverse] < MIN_ROWS).mean() <= 0.5:
        return keys
    gate = _quartiles(table.gate, table.polarity)
    return _join(names, " ", _quartiles(table.amplitude, table.polarity), " V, ",
                 _quartiles(table.width * 1e9, table.polarity), " ns",
                 np.where(gate == "", "", np.char.add(" gate ", gate)))


def _si_width(width: np.ndarray) -> np.ndarray:
    """Widths rounded to 0.01 decade, written in ns."""
    rounded = 10.0 ** np.round(np.log10(width), 2)
    return np.char.add(np.char.mod("%.4g", rounded * 1e9), " ns")


def _join(*parts: np.ndarray) -> np.ndarray:
    out = parts[0]
    for part in parts[1:]:
        out = np.char.add(out, part)
    return out


def _quartiles(values: np.ndarray, polarity: np.ndarray) -> np.ndarray:
    """Per polarity, the quartile range each value falls in ("" where NaN)."""
    out = np.full(values.size, "", dtype=object)
    for sign in (1, -1):
        rows = (polarity == sign) & np.isfinite(values)
        if not rows.any():
            continue
        edges = np.unique(np.quantile(values[rows], [0, 0.25, 0.5, 0.75, 1]))
        index = np.searchsorted(edges[1:-1], values[rows], side="right")
        low, high = edges[index], edges[np.minimum(index + 1, edges.size - 1)]
        out[rows] = [f"{a:.3g}-{b:.3g}" if a != b else f"{a:.3g}"
                     for a, b in zip(low, high, strict=True)]
    return out.astype(str)


def setting_quality(table: PulseTable, simulated: np.ndarray) -> tuple[list[SettingQuality], int]:
    """Per-setting quality and the number of rows in settings too thin to grade."""
    keys = setting_keys(table)
    out, thin = [], 0
    for key in np.unique(keys):
        rows = keys == key
        if rows.sum() < MIN_ROWS:
            thin += int(rows.sum())
            continue
        out.append(SettingQuality(str(key), int(rows.sum()), _quantiles(table.g_after[rows]),
                                  _quantiles(simulated[rows])))
    return out, thin


def _quantiles(values: np.ndarray) -> tuple[float, float, float]:
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return float(p10), float(median), float(p90)


def setting_lines(quality: list[SettingQuality], thin: int) -> list[str]:
    """The per-setting table as text (uS), and the fraction of settings that meet the mark."""
    out = [f"{'pulse setting':<44} {'rows':>6} {'median meas/sim (uS)':>21} "
           f"{'p10-p90 meas/sim (uS)':>25} {'ok':>3}"]
    for q in quality:
        m, s = np.array(q.measured) * 1e6, np.array(q.simulated) * 1e6
        out.append(f"{q.setting:<44} {q.rows:>6} {m[1]:>10.4g}/{s[1]:<10.4g} "
                   f"{m[0]:>6.4g}-{m[2]:<6.4g}/{s[0]:>6.4g}-{s[2]:<6.4g}"
                   f"{'yes' if q.meets else 'no':>4}")
    met = sum(q.meets for q in quality)
    share = f"{met / len(quality):.0%}" if quality else "n/a"
    out.append(f"{met} of {len(quality)} pulse settings ({share}) have the simulated median "
               f"within {MEDIAN_MARGIN:.0%} and the p10-p90 spread within {SPREAD_MARGIN:.0%} "
               "of the measured"
               + (f"; {thin} rows in settings under {MIN_ROWS} rows not graded" if thin else ""))
    return out
