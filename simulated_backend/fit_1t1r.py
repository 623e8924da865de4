"""Fit the 1T1R model (``one_t_one_r``) to a measured pulse-response table with a gate column.

The table's reads become the devices' own conductances (the I-V read factor and the base
preset's read transistor removed). Then, with the simulator's own response functions:

1. SET level: least squares of the median G after per pulse setting where most SETs switched
   (``_level_medians`` says why over all its rows) against set_level(saturation_current(V_G))
   in the transistor threshold V_T, its k and theta, and g_sat (with fewer distinct gates,
   fewer of them; the rest stay the base preset's). Fitted twice: the second time knows which
   random pulses had a bit line strong enough to switch.
2. Switching: maximum likelihood of switched or not over the SET rows from states well below
   the plateau, P = (1 - e) Phi((V_G - V_G,sw) / sigma_VT) Phi(ln(V_BL / V_s) / sigma_s),
   V_s = set_v (w / 1 us)^-m, V_G,sw the gate whose current drives V_s through the row's
   G_before and gives a level a lab would count as switched, e the share that never switches.
   Sub-threshold and 0 V rows are data here, and set_v is free to sit above the weakest pulse.
3. Spreads from cells measured more than once (``fit_1t1r_spreads``): device-to-device and
   cycle-to-cycle shares of the SET level and of the threshold.
4. RESET: least squares of ln G_after against ``reset_response`` (onset, slope, span, floor; with
   two or more widths the width exponent; with fewer than three amplitudes only the floor).
5. Read noise: from SET rows that cannot have switched, var(dG) / 2 = floor^2 + (rel G)^2.

What the table cannot decide (the transistor's read path, alpha, the level's sharpness and hold
voltage, over-RESET, stuck cells, the onset spread) stays the base preset's; the notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares, minimize
from scipy.special import log_ndtr

from hilctl.drivers import DataError
from hilctl.drivers.pulse_table import PulseTable

from .fit import variance_components
from .fit_1t1r_spreads import fit_spreads
from .one_t_one_r import (
    G_SCALE_S,
    OneTOneRParams,
    current_for_level,
    device_conductance,
    gate_for_current,
    level_of,
    plateau_level,
    reset_response,
    set_voltage,
    transistor_on,
)

SWITCH_RATIO = 1.5  # G after / G before above this: the SET switched
_FIT_ROWS = 20_000  # rows per least-squares stage (a seeded subsample beyond that)


@dataclass(frozen=True)
class _Data:
    """The table with device conductances (S) beside its reads."""

    table: PulseTable
    before: np.ndarray
    after: np.ndarray

    def subset(self, rows: np.ndarray) -> _Data:
        return _Data(self.table.subset(rows), self.before[rows], self.after[rows])


def fit_1t1r(table: PulseTable, base: OneTOneRParams, read_V: float = 0.2,
             seed: int = 0) -> tuple[OneTOneRParams, list[str]]:
    """Fit ``OneTOneRParams`` to ``table`` (read at ``read_V``); returns them and notes."""
    check_gates(table)
    if len(table) < 20:
        raise DataError(f"pulse table has {len(table)} rows; at least 20 are needed to fit")
    data = _device_view(table, base, read_V)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    # twice: the second level fit knows which random pulses had bit line enough to switch
    p = _fit_level(data, base, [])
    p, sigma_vt = _fit_switching(data, p, [])
    p = _fit_level(data, p, notes, able=_bit_line_suffices(data, p))
    p, sigma_vt = _fit_switching(data, p, notes)
    p = _fit_read_noise(data, p, sigma_vt, notes)
    switched = (table.polarity > 0) & (data.after > SWITCH_RATIO * data.before)
    p = fit_spreads(table, data.after, switched, p, sigma_vt, notes)
    p = _fit_reset(data, p, rng, notes)
    notes.append(f"SET plateau (the highest level a gate gives): "
                 f"{plateau_level(p.transistor_k_A, p.g_sat_S, p) * 1e6:.4g} uS; transistor "
                 f"threshold {p.transistor_threshold_V:.4g} V")
    first = np.unique(table.cell, return_index=True)[1]
    p = replace(p, hrs_S=float(min(np.median(data.before[first]), 0.5 * p.g_sat_S)))
    notes.append("kept from the base preset: the read transistor, alpha, the level's hold "
                 "voltage and sharpness, over-RESET, the RESET onset spread, stuck cells")
    return p, notes


def check_gates(table: PulseTable) -> None:
    """A 1T1R fit needs the gate of every pulse."""
    missing = np.isnan(table.gate)
    if missing.all():
        raise DataError("the pulse table's gate_V column is empty; a 1T1R fit needs the gate "
                        "of every pulse (or fit the 1R model: --model 1r)")
    if missing.any():
        raise DataError(f"pulse table: row {np.flatnonzero(missing)[0] + 1}: gate_V is empty "
                        f"({missing.sum()} rows); a 1T1R fit needs the gate of every pulse")


def _device_view(table: PulseTable, p: OneTOneRParams, read_V: float) -> _Data:
    factor = p.read_factor(read_V)
    g_t = float(transistor_on(p.read_gate_V, p.transistor_threshold_V, p))
    before = device_conductance(table.g_before / factor, g_t)
    after = device_conductance(table.g_after / factor, g_t)
    bad = ~np.isfinite(before) | ~np.isfinite(after) | (np.maximum(before, after) >= G_SCALE_S)
    if bad.any():
        row = np.flatnonzero(bad)[0]
        raise DataError(f"pulse table: row {row + 1}: a read of "
                        f"{max(table.g_before[row], table.g_after[row]) * 1e6:.4g} uS is beyond "
                        f"what the base preset's read transistor ({g_t * 1e6:.4g} uS) passes")
    return _Data(table, before, after)


def _sample(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rows if rows.size <= _FIT_ROWS else np.sort(rng.choice(rows, _FIT_ROWS, replace=False))


def _solve(residuals, start, lower, upper, free) -> np.ndarray:
    """Least squares over the ``free`` entries of ``start`` (robust to outlying rows)."""
    start, free = np.asarray(start, float), np.asarray(free, bool)
    lower, upper = np.asarray(lower, float)[free], np.asarray(upper, float)[free]

    def full(x):
        out = start.copy()
        out[free] = x
        return residuals(out)

    x0 = np.clip(start[free], lower + 1e-9, upper - 1e-9)
    solution = least_squares(full, x0, bounds=(lower, upper), loss="soft_l1", f_scale=0.1,
                             x_scale="jac")
    out = start.copy()
    out[free] = solution.x
    return out


def _fit_level(data: _Data, p: OneTOneRParams, notes: list[str],
               able: np.ndarray | None = None) -> OneTOneRParams:
    """Least squares on the median level per gate (10 mV bins) where most SETs switched: each
    gate weighs the same, so the few gates near threshold, which fix V_T, count as much as
    the many on the plateau; where only some cells switch, the median would be biased."""
    gate, level = _level_medians(data, able)
    if gate.size == 0:
        notes.append("SET level: no gate at which most SETs switched; level and transistor "
                     "are the base preset's")
        return p

    def residuals(x):
        q = replace(p, transistor_theta_per_V=float(np.exp(x[2])))
        return np.log(np.maximum(level_of(gate, x[0], np.exp(x[1]), np.exp(x[3]), q),
                                 1e-12)) - np.log(level)

    start = [p.transistor_threshold_V, np.log(p.transistor_k_A),
             np.log(max(p.transistor_theta_per_V, 1e-3)), np.log(p.g_sat_S)]
    free = [gate.size >= 2, gate.size >= 4, gate.size >= 4, True]
    x = _solve(residuals, start, [0.0, np.log(1e-9), np.log(1e-3), np.log(1.01 * p.hrs_S)],
               [float(gate.max()), np.log(10.0), np.log(1e3), np.log(0.99 * G_SCALE_S)], free)
    if gate.size < 4:
        notes.append(f"SET level: {gate.size} gate(s) where most SETs switched, so "
                     f"{'k and theta' if gate.size >= 2 else 'the threshold, k and theta'} are "
                     "the base preset's")
    return replace(p, transistor_threshold_V=float(x[0]), transistor_k_A=float(np.exp(x[1])),
                   transistor_theta_per_V=float(np.exp(x[2])), g_sat_S=float(np.exp(x[3])))


def _level_medians(data: _Data, able: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(gate V, median G after S) of the SETs from the lower half of states, per pulse setting
    (10 mV gate and amplitude, 0.01 decade width) with at least 5 such rows of which at least
    60 % switched. The median is over all those rows, switched or not: at one setting the
    cells that did not switch are those whose level would have been lowest (the highest
    thresholds) and they stay below every switched one, so with most switched the median is
    the median level; the median of the switched rows alone would sit too high. (A setting
    whose bit line cannot switch at all, such as 0 V, has no place here.) Rows of settings too
    thin for that (random settings) give, per 10 mV gate bin, the same median over the rows
    whose bit line was enough to switch (``able``); without ``able``, the median of the
    switched rows where at least 80 % switched."""
    t = data.table
    is_set = t.polarity > 0
    if not is_set.any():
        return np.array([]), np.array([])
    low = np.flatnonzero(is_set & (data.before <= np.median(data.before[is_set])))
    switched = data.after[low] > SWITCH_RATIO * data.before[low]
    settings = np.stack([np.round(t.gate[low], 2), np.round(t.amplitude[low], 2),
                         np.round(np.log10(t.width[low]), 2)], axis=1)
    _, group = np.unique(settings, axis=0, return_inverse=True)
    group = group.ravel()
    rows = np.bincount(group)
    share = np.bincount(group, switched) / rows
    keep = np.flatnonzero((rows >= 5) & (share >= 0.6))
    levels = [np.median(data.after[low][group == g]) for g in keep]
    gates = [settings[np.argmax(group == g), 0] for g in keep]
    thin = rows[group] < 5
    for gate in np.unique(settings[thin, 0]):
        at = thin & (settings[:, 0] == gate)
        if able is not None:
            at &= able[low]
            if at.sum() >= 5 and switched[at].mean() >= 0.6:
                gates.append(gate)
                levels.append(np.median(data.after[low][at]))
        elif switched[at].sum() >= 5 and switched[at].mean() >= 0.8:
            gates.append(gate)
            levels.append(np.median(data.after[low][at & switched]))
    return np.array(gates), np.array(levels)


def _bit_line_suffices(data: _Data, p: OneTOneRParams) -> np.ndarray:
    """Rows whose bit line is surely above the SET voltage (a SET that stayed there was held
    back by its gate)."""
    rows, _ = _switch_view(data, p)
    out = np.zeros(len(data.table), dtype=bool)
    out[rows] = _switch_scores(data, rows, p, 1.0)[1] > 2.0
    return out


def _switch_view(data: _Data, p: OneTOneRParams):
    """SET rows from states well below the plateau, and whether each switched (G after above
    1.5 G before). From higher states whether a switch shows turns on each device's own
    plateau, which would blur the threshold's sigma."""
    plateau = plateau_level(p.transistor_k_A, p.g_sat_S, p)
    rows = np.flatnonzero((data.table.polarity > 0) & (data.before < plateau / 3))
    return rows, data.after[rows] > SWITCH_RATIO * data.before[rows]


def _switch_scores(data: _Data, rows, p: OneTOneRParams, sigma_vt: float, shows: bool = True):
    """(z of the gate, z of the amplitude) of each row against the condition that its SET
    switches: the current the gate allows must drive the SET voltage V_s through G_before and,
    if the switch is to show (``shows``), give a level above 1.5 G_before (near threshold the
    stricter of the two)."""
    t = data.table
    v_s = set_voltage(p.set_threshold_V, t.width[rows], p)
    before = data.before[rows]
    current = v_s * before
    if shows:
        current = np.maximum(current, current_for_level(SWITCH_RATIO * before, p.g_sat_S, p))
    g_sw = gate_for_current(current, p.transistor_threshold_V, p.transistor_k_A, p)
    sigma_s = np.hypot(p.set_threshold_spread, p.set_threshold_c2c)
    with np.errstate(divide="ignore"):  # a 0 V pulse: certainly below the SET voltage
        z_amp = np.log(t.amplitude[rows] / v_s) / max(sigma_s, 1e-6)
    return (t.gate[rows] - g_sw) / sigma_vt, z_amp


def _fit_switching(data: _Data, p: OneTOneRParams, notes: list[str]):
    """set_v, m and the total threshold sigma by maximum likelihood; returns (params, sigma)."""
    rows, switched = _switch_view(data, p)
    sigma0 = float(np.hypot(p.transistor_threshold_spread_V, p.transistor_threshold_c2c_V))
    if rows.size < 20 or switched.all() or not switched.any():
        notes.append(f"switching: {rows.size} usable SET rows, {int(switched.sum())} switched; "
                     "the SET voltage and threshold sigma are the base preset's")
        return p, sigma0
    widths = np.unique(np.round(np.log10(data.table.width[rows]), 2)).size
    # free to sit beyond the strongest pulse (or twice the base value, if all pulses are 0 V)
    top = float(max(1.5 * data.table.amplitude[rows].max(), 2 * p.set_threshold_V))

    def unpack(x):
        q = replace(p, set_threshold_V=float(np.exp(x[0])),
                    set_width_exponent=float(x[2]) if widths >= 2 else p.set_width_exponent)
        return q, float(np.exp(x[1]))

    def nll(x):
        q, sigma = unpack(x)
        z_gate, z_amp = _switch_scores(data, rows, q, sigma)
        # a share x[3] of cells never switches (stuck), whatever the pulse
        log_p = np.maximum(log_ndtr(z_gate) + log_ndtr(z_amp), -50.0) + np.log1p(-x[3])
        log_q = np.log(np.maximum(-np.expm1(log_p), 1e-22))
        return -float(np.sum(np.where(switched, log_p, log_q)))

    x0 = [np.log(min(p.set_threshold_V, 0.9 * top)), np.log(max(sigma0, 1e-3)),
          p.set_width_exponent, 0.01]
    bounds = [(np.log(1e-3), np.log(top)), (np.log(1e-4), np.log(0.5)), (0.0, 1.0),
              (1e-6, 0.5)]
    solution = minimize(nll, x0, method="L-BFGS-B", bounds=bounds)
    q, sigma = unpack(solution.x)
    if widths < 2:
        notes.append(f"switching: one pulse width, so the width exponent "
                     f"({p.set_width_exponent:g}) is the base preset's")
    return q, sigma


def _fit_read_noise(data: _Data, p: OneTOneRParams, sigma_vt: float,
                    notes: list[str]) -> OneTOneRParams:
    """Rows whose SET cannot have switched differ by read noise alone."""
    t = data.table
    rows = np.flatnonzero(t.polarity > 0)
    z_gate, z_amp = _switch_scores(data, rows, p, sigma_vt, shows=False)
    quiet = rows[(np.minimum(z_gate, z_amp) < -4) & (data.after[rows] < SWITCH_RATIO
                                                     * data.before[rows])]
    if quiet.size < 40:
        notes.append(f"read noise: {quiet.size} sub-threshold SET rows; the base preset's")
        return p
    delta = (t.g_after[quiet] - t.g_before[quiet]) / np.sqrt(2.0)
    floor2, rel2 = variance_components(t.g_before[quiet] ** 2, delta)
    return replace(p, read_noise_relative=float(np.sqrt(max(rel2, 0.0))),
                   read_noise_floor_S=float(np.sqrt(max(floor2, 0.0))))


def _fit_reset(data: _Data, p: OneTOneRParams, rng, notes: list[str]) -> OneTOneRParams:
    t = data.table
    rows = _sample(np.flatnonzero(t.polarity < 0), rng)
    if rows.size < 10:
        notes.append(f"RESET: {rows.size} rows; the base preset's RESET")
        return p
    before, log_after = data.before[rows], np.log(data.after[rows])
    amplitudes = np.unique(np.round(t.amplitude[rows], 2)).size
    widths = np.unique(np.round(np.log10(t.width[rows]), 2)).size

    def params(x) -> OneTOneRParams:
        return replace(p, reset_onset_V=float(x[0]), reset_slope_V=float(np.exp(x[1])),
                       reset_span_S=float(np.exp(x[2])), reset_floor_S=float(np.exp(x[3])),
                       reset_width_exponent=float(x[4]))

    def predicted(q: OneTOneRParams) -> np.ndarray:
        return reset_response(before, t.amplitude[rows], t.gate[rows], t.width[rows],
                              q.transistor_threshold_V, q.reset_onset_V, q)

    def residuals(x):
        return np.log(np.maximum(predicted(params(x)), 1e-12)) - log_after

    start = [p.reset_onset_V, np.log(p.reset_slope_V), np.log(p.reset_span_S),
             np.log(p.reset_floor_S), p.reset_width_exponent]
    top = float(max(1.5 * t.amplitude[rows].max(), 2 * p.reset_onset_V))
    many = amplitudes >= 3
    x = _solve(residuals, start, [0.0, np.log(1e-3), np.log(1e-8), np.log(1e-9), 0.0],
               [top, np.log(5.0), np.log(G_SCALE_S), np.log(G_SCALE_S), 1.0],
               [many, many, many, True, widths >= 2])
    q = params(x)
    acted = predicted(q) < 0.9 * before
    if acted.sum() >= 10:
        scatter = np.log(data.after[rows][acted] / predicted(q)[acted])
        iqr = np.subtract(*np.percentile(scatter, [75, 25])) / 1.349
        q = replace(q, reset_c2c=float(np.sqrt(max(iqr ** 2 - q.read_noise_relative ** 2, 0.0))))
    if not many:
        notes.append(f"RESET: {amplitudes} distinct amplitude(s), so only the floor was fitted")
    return q
