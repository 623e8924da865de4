"""Spreads of the 1T1R model from cells measured more than once (step 3 of ``fit_1t1r``).

The residuals ln G_after - ln level of the SETs that switched split, setting by setting, into a
cell's own share and the pulse-to-pulse scatter (one-way analysis of variance). The cell share
is g_sat's spread times the setting's sensitivity d ln G / d ln g_sat, plus the threshold's
times d ln G / d V_T (plus k's, taken from the base preset), so a non-negative fit over the
settings separates the two; the pulse-to-pulse share less the read noise is the level's
cycle-to-cycle noise. Without settings repeated on a cell, a cell's switches near the plateau
(where V_T hardly matters) give g_sat's spread, and the threshold sigma is split as in the base.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import nnls

from hilctl.drivers.pulse_table import PulseTable

from .fit_quality import setting_keys
from .one_t_one_r import OneTOneRParams, level_of

_MIN_GROUPS = 10  # cells measured more than once before a set of rows is used


@dataclass(frozen=True)
class _Rows:
    """The table, the devices' own G after (S) and which rows are switched SETs."""

    table: PulseTable
    after: np.ndarray
    switched: np.ndarray


def fit_spreads(table: PulseTable, after: np.ndarray, switched: np.ndarray, p: OneTOneRParams,
                sigma_vt: float, notes: list[str]) -> OneTOneRParams:
    """Device-to-device and cycle-to-cycle spreads of the SET level and of the threshold, from
    the device conductances ``after`` of the rows that ``switched`` (SETs), given the total
    threshold sigma ``sigma_vt`` of the switching fit."""
    terms, how = _cell_variances(_Rows(table, after, switched), p, sigma_vt)
    share = p.transistor_threshold_spread_V / max(np.hypot(p.transistor_threshold_spread_V,
                                                           p.transistor_threshold_c2c_V), 1e-12)
    if terms is None:
        notes.append("spreads: no cell switched more than once; the SET level spreads are the "
                     f"base preset's, the threshold sigma split {share:.0%} device-to-device as "
                     "in the base preset")
        return replace(p, transistor_threshold_spread_V=share * sigma_vt,
                       transistor_threshold_c2c_V=float(np.sqrt(1 - share ** 2)) * sigma_vt)
    between, within, s_vt2, s_k2, s_g2, groups = terms
    weight = np.sqrt(groups)
    cell_var = between - p.transistor_k_spread ** 2 * s_k2
    # the threshold's own share shows only where some setting is steep in V_T
    if s_vt2.size >= 3 and s_vt2.max() * sigma_vt ** 2 > 0.25 * np.median(cell_var):
        g_var, vt_var = nnls(np.stack([s_g2, s_vt2], axis=1) * weight[:, None],
                             cell_var * weight)[0]
        vt_d2d = min(float(np.sqrt(vt_var)), sigma_vt)
    else:
        vt_d2d = share * sigma_vt
        g_var = max(float(np.average((cell_var - s_vt2 * vt_d2d ** 2) / s_g2, weights=weight)),
                    0.0)
    read2 = p.read_noise_relative ** 2 + (p.read_noise_floor_S / p.g_max_S) ** 2
    c2c_var = nnls(np.stack([np.ones_like(s_vt2), s_vt2], axis=1) * weight[:, None],
                   (within - read2) * weight)[0][0]
    notes.append(f"spreads from {int(groups.sum())} cells that switched more than once {how}")
    return replace(p, g_sat_spread=float(np.sqrt(g_var)), set_c2c=float(np.sqrt(c2c_var)),
                   transistor_threshold_spread_V=vt_d2d,
                   transistor_threshold_c2c_V=float(np.sqrt(max(sigma_vt ** 2 - vt_d2d ** 2,
                                                                0.0))))


def _cell_variances(data: _Rows, p: OneTOneRParams, sigma_vt: float):
    """Between-cell and within-cell variance of ln G_after about the model, with the mean
    squared sensitivities of ln G to V_T, ln k and ln g_sat and the number of cells measured
    more than once: per setting where nearly every SET switched, or, if no cell had a setting
    twice, once over the rows near the plateau, where the threshold hardly matters."""
    t, switched = data.table, data.switched
    is_set = t.polarity > 0
    keys = setting_keys(t)
    out = []
    for key in np.unique(keys[switched]):
        at = keys == key
        if switched[at].sum() >= 0.97 * (is_set & at).sum():
            out.append(_group_terms(data, np.flatnonzero(at & switched), p))
    out = [term for term in out if term is not None]
    if out:
        return tuple(np.array(out).T), "at a setting"
    rows = np.flatnonzero(switched & (level_of(t.gate, p.transistor_threshold_V,
                                               p.transistor_k_A, p.g_sat_S, p) > 0))
    _, s_vt, _, s_g = _sensitivities(t.gate[rows], p)
    term = _group_terms(data, rows[(s_g >= 0.5) & (np.abs(s_vt) * sigma_vt <= 0.02)], p)
    return (None, "") if term is None else (tuple(np.array([term]).T), "near the plateau")


def _group_terms(data: _Rows, rows: np.ndarray, p: OneTOneRParams):
    """One set of ``_cell_variances`` terms over ``rows``, grouped by cell (None if too few
    cells appear more than once)."""
    rows = rows[level_of(data.table.gate[rows], p.transistor_threshold_V, p.transistor_k_A,
                         p.g_sat_S, p) > 0]  # none where the model's threshold is above
    level, s_vt, s_k, s_g = _sensitivities(data.table.gate[rows], p)
    between, within, groups = one_way_variance(data.table.cell[rows],
                                               np.log(data.after[rows] / level))
    if groups < _MIN_GROUPS:
        return None
    return between, within, np.mean(s_vt ** 2), np.mean(s_k ** 2), np.mean(s_g ** 2), groups


def _sensitivities(gate: np.ndarray, p: OneTOneRParams):
    """The noise-free level at ``gate`` and d ln level / d V_T, / d ln k and / d ln g_sat."""
    vt, k, g_sat = p.transistor_threshold_V, p.transistor_k_A, p.g_sat_S
    level = level_of(gate, vt, k, g_sat, p)
    step = np.log(1.001)
    return (level, np.log(level_of(gate, vt + 1e-4, k, g_sat, p) / level) / 1e-4,
            np.log(level_of(gate, vt, k * 1.001, g_sat, p) / level) / step,
            np.log(level_of(gate, vt, k, g_sat * 1.001, p) / level) / step)


def one_way_variance(groups: np.ndarray, values: np.ndarray) -> tuple[float, float, int]:
    """(between-group, within-group variance, groups) of ``values`` over the groups with two
    or more members: the method-of-moments estimate of a one-way random-effects model."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    keep = counts[inverse] >= 2
    _, inverse, counts = np.unique(groups[keep], return_inverse=True, return_counts=True)
    values = values[keep]
    n, g = values.size, counts.size
    if g < 2:
        return 0.0, 0.0, g
    means = np.bincount(inverse, values) / counts
    within = float(np.sum((values - means[inverse]) ** 2) / (n - g))
    n0 = (n - np.sum(counts ** 2) / n) / (g - 1)
    msb = float(np.sum(counts * (means - values.mean()) ** 2) / (g - 1))
    return max((msb - within) / n0, 0.0), within, g
