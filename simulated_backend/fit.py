"""Fit the parametric device model to a measured pulse-response table, and compare any preset
with the table, bin by bin.

The fit works on low-field conductances (the table's reads divided by the I-V factor at the
read voltage the lab used). Per polarity it fits, by least squares on G_after: the bounds of
the window (as margins beyond the measured range), the window exponent, and the switching
rate; with two or more measured amplitudes also the threshold and slope (else those stay at
the base preset's values, since one amplitude cannot separate them from the rate). The
residuals then give the cycle-to-cycle noise (relative to the step, plus additive), and the
spread of per-cell rate factors gives the device-to-device rate spread. Read noise cannot be
told apart from cycle-to-cycle noise in pulse pairs, so the fitted preset has none and its
cycle-to-cycle noise carries both.

Fit quality is a distribution distance per (pulse setting, G_before bin): the two-sample
Kolmogorov-Smirnov statistic of G_after - G_before, measured vs simulated, beside the medians
and interquartile ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares

from hilctl.drivers import Cells, DataError, Polarity, PulseBatch, SafetyLimits
from hilctl.drivers.atomic_file import atomic_output
from hilctl.drivers.pulse_table import PulseTable

from .crossbar import SimulatedCrossbar
from .physics import CellParams, DeviceParams, switching_rate, window_decay
from .presets import device_for

_FIT_ROWS = 20_000  # rows used for the least-squares fit (a seeded subsample beyond that)


@dataclass(frozen=True)
class BinQuality:
    """Measured vs simulated response dG = G_after - G_before in one bin (siemens)."""

    setting: str
    g_low: float
    g_high: float
    rows: int
    measured_median: float
    simulated_median: float
    measured_iqr: float
    simulated_iqr: float
    ks: float

    @property
    def median_error(self) -> float:
        """|median difference| relative to the measured IQR (a scale-free miss of the centre)."""
        return abs(self.simulated_median - self.measured_median) / max(self.measured_iqr, 1e-30)


@dataclass(frozen=True)
class FitResult:
    params: DeviceParams
    quality: list[BinQuality]
    notes: list[str]


def _iqr(values: np.ndarray) -> float:
    return float(np.subtract(*np.percentile(values, [75, 25]))) if values.size else float("nan")


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance: the largest gap between the two CDFs."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size
                               - np.searchsorted(b, grid, side="right") / b.size)))


def setting_labels(table: PulseTable) -> np.ndarray:
    """A readable pulse-setting label per row (polarity, amplitude, width, gate)."""
    names = np.where(table.polarity > 0, "SET", "RESET")
    gate = np.where(np.isnan(table.gate), "",
                    np.char.add(" gate ", table.gate.round(3).astype(str)))
    width_ns = np.char.add(np.round(table.width * 1e9, 3).astype(str), " ns")
    amp = np.char.add(np.round(table.amplitude, 4).astype(str), " V, ")
    return np.char.add(np.char.add(np.char.add(names.astype(str), " "), amp),
                       np.char.add(width_ns, gate))


# -- simulation of the table's pulses on a preset ---------------------------------------------
def simulation_limits(table: PulseTable, read_V: float) -> SafetyLimits:
    """Limits wide enough for every pulse in the table (a simulation, not a rig)."""
    amp = {p: table.amplitude[table.polarity == p] for p in (1, -1)}
    gate = table.gate[np.isfinite(table.gate)]
    return SafetyLimits(
        set_max_V=max(2.0, float(amp[1].max(initial=0.0))),
        reset_max_V=max(2.5, float(amp[-1].max(initial=0.0))),
        width_min_s=min(10e-9, float(table.width.min())),
        width_max_s=max(100e-6, float(table.width.max())),
        compliance_A=1.0, read_V=read_V, read_max_V=max(0.5, read_V),
        gate_set_max_V=max(3.3, float(gate.max(initial=0.0))),
        gate_reset_max_V=max(4.0, float(gate.max(initial=0.0))))


def simulate_table(table: PulseTable, params: CellParams, read_V: float,
                   seed: int = 0) -> np.ndarray:
    """G_after (as read at ``read_V``) of fresh simulated devices given each row's G_before
    and pulse: one device per row, so device-to-device spread shows as it would in a lab.
    ``params`` of either cell kind (1R or 1T1R)."""
    n = len(table)
    crossbar = SimulatedCrossbar((1, n), limits=simulation_limits(table, read_V), seed=seed,
                                 model=device_for(params))
    cells = Cells.all((1, n))
    factor = params.read_factor(read_V)
    state = crossbar.model.state_of(table.g_before / factor, np.arange(n))
    crossbar.sim_set_state(np.clip(state, 0.0, 1.0))
    gate = None if np.isnan(table.gate).all() else np.nan_to_num(table.gate)
    crossbar.apply(PulseBatch(cells, table.polarity, table.amplitude, table.width, gate))
    return crossbar.read(cells).conductance


def compare(table: PulseTable, params: DeviceParams, read_V: float, bins: int = 6,
            seed: int = 0, simulated: np.ndarray | None = None) -> list[BinQuality]:
    """Measured vs simulated dG per (pulse setting, equal-count G_before bin)."""
    if simulated is None:
        simulated = simulate_table(table, params, read_V, seed)
    labels = setting_labels(table)
    out = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rows = rows[np.argsort(table.g_before[rows], kind="stable")]
        for part in np.array_split(rows, min(bins, max(1, rows.size // 10))):
            measured = table.g_after[part] - table.g_before[part]
            sim = simulated[part] - table.g_before[part]
            out.append(BinQuality(str(label), float(table.g_before[part].min()),
                                  float(table.g_before[part].max()), part.size,
                                  float(np.median(measured)), float(np.median(sim)),
                                  _iqr(measured), _iqr(sim), ks_statistic(measured, sim)))
    return out


# -- the fit ----------------------------------------------------------------------------------
@dataclass
class _Polarity:
    """Low-field data of one polarity (subsampled) and what to fit."""

    sign: int
    g_before: np.ndarray
    g_after: np.ndarray
    amplitude: np.ndarray
    width: np.ndarray
    cell: np.ndarray
    fit_threshold: bool


def _unpack(theta: np.ndarray, at: int, p: _Polarity, fixed: tuple[float, float]):
    """(rate, window, threshold, slope) of one polarity from the parameter vector."""
    threshold, slope = ((float(theta[at + 2]), float(np.exp(theta[at + 3])))
                        if p.fit_threshold else fixed)
    return float(np.exp(theta[at])), 1.0 + float(np.exp(theta[at + 1])), threshold, slope


def _rates(p: _Polarity, rate: float, threshold: float, slope: float) -> np.ndarray:
    """Rate-time product per row."""
    return switching_rate(p.amplitude, rate, threshold, slope) * p.width


def _predict(p: _Polarity, g_min: float, g_max: float, window: float, kt: np.ndarray):
    x = np.clip((p.g_before - g_min) / (g_max - g_min), 0.0, 1.0)
    u = x if p.sign < 0 else 1.0 - x
    u_new = window_decay(u, np.full(u.size, window), kt)
    x_new = u_new if p.sign < 0 else 1.0 - u_new
    return g_min + (g_max - g_min) * x_new


def _fit_all(parts: list[_Polarity], base: DeviceParams, g_lo: float, g_hi: float):
    """Least squares over margins, per-polarity window and rate (threshold, slope)."""
    span = g_hi - g_lo
    low0 = min(0.05 * span, 0.5 * g_lo) / g_lo  # G_min = G_lo (1 - sigmoid(theta_0)) > 0
    layout, theta0 = [], [np.log(low0 / (1 - low0)), np.log(0.05)]
    lower, upper = [-12.0, -9.0], [12.0, 3.0]
    for p in parts:
        name = "set" if p.sign > 0 else "reset"
        window = getattr(base, f"{name}_window")
        # Sub-threshold and 0 V rows are data (they do not switch), so the threshold may sit
        # anywhere up to beyond the strongest pulse; it starts at the base preset's value.
        top = 1.5 * float(np.abs(p.amplitude).max())
        threshold = min(getattr(base, f"{name}_threshold_V"), 0.9 * top)
        start = [np.log(1e-3 / float(np.median(p.width))), np.log(window - 1.0)]
        lo, hi = [-60.0, np.log(0.01)], [60.0, np.log(20.0)]
        if p.fit_threshold:
            start += [threshold, np.log(getattr(base, f"{name}_slope_V"))]
            lo += [0.0, np.log(1e-3)]
            hi += [top, np.log(5.0)]
        layout.append((p, len(theta0), (threshold, getattr(base, f"{name}_slope_V"))))
        theta0 += start
        lower += lo
        upper += hi

    def residuals(theta: np.ndarray) -> np.ndarray:
        g_min, g_max = _bounds(theta, g_lo, g_hi)
        out = []
        for p, at, fixed in layout:
            rate, window, threshold, slope = _unpack(theta, at, p, fixed)
            kt = _rates(p, rate, threshold, slope)
            out.append((_predict(p, g_min, g_max, window, kt) - p.g_after) / span)
        return np.concatenate(out)

    theta0 = np.clip(theta0, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
    solution = least_squares(residuals, theta0, bounds=(lower, upper), x_scale="jac")
    return solution.x, layout


def _subsample(table: PulseTable, seed: int) -> PulseTable:
    if len(table) <= _FIT_ROWS:
        return table
    keep = np.sort(np.random.default_rng(seed).choice(len(table), _FIT_ROWS, replace=False))
    return table.subset(keep)


def fit_device(table: PulseTable, base: DeviceParams | None = None, read_V: float = 0.2,
               seed: int = 0, bins: int = 6) -> FitResult:
    """Fit ``DeviceParams`` to ``table`` (conductances as read at ``read_V``) and grade it."""
    base = base or DeviceParams()
    if len(table) < 20:
        raise DataError(f"pulse table has {len(table)} rows; at least 20 are needed to fit")
    factor = base.read_factor(read_V)
    sample = _subsample(table, seed)
    g_all = np.concatenate([table.g_before, table.g_after]) / factor
    g_lo, g_hi = float(g_all.min()), float(g_all.max())
    parts = []
    for sign in (1, -1):
        rows = np.flatnonzero(sample.polarity == sign)
        if rows.size:
            amp = sample.amplitude[rows]
            parts.append(_Polarity(sign, sample.g_before[rows] / factor,
                                   sample.g_after[rows] / factor, amp, sample.width[rows],
                                   sample.cell[rows], np.unique(np.round(amp, 6)).size >= 2))
    theta, layout = _fit_all(parts, base, g_lo, g_hi)
    params, notes = _assemble(theta, layout, base, g_lo, g_hi)
    params, noise_notes = _noise_and_spread(params, layout, theta, g_lo, g_hi, table, factor)
    quality = compare(table, params, read_V, bins=bins, seed=seed)
    return FitResult(params, quality, notes + noise_notes)


def _bounds(theta: np.ndarray, g_lo: float, g_hi: float) -> tuple[float, float]:
    """G_min in (0, G_lo) and G_max above G_hi from the first two parameters."""
    g_min = g_lo * (1.0 - 1.0 / (1.0 + np.exp(-theta[0])))
    return float(g_min), float(g_hi + (g_hi - g_lo) * np.exp(theta[1]))


def _assemble(theta, layout, base: DeviceParams, g_lo: float, g_hi: float):
    g_min, g_max = _bounds(theta, g_lo, g_hi)
    values = {"g_min_S": g_min, "g_max_S": g_max}
    notes = []
    for p, at, fixed in layout:
        name = "set" if p.sign > 0 else "reset"
        rate, window, threshold, slope = _unpack(theta, at, p, fixed)
        values.update({f"{name}_rate_per_s": rate, f"{name}_window": window,
                       f"{name}_threshold_V": threshold, f"{name}_slope_V": slope})
        if not p.fit_threshold:
            notes.append(f"{Polarity(p.sign).name}: one measured amplitude, so the threshold "
                         f"({fixed[0]:g} V) and slope ({fixed[1]:g} V) are the base preset's and "
                         "only the rate was fitted; other amplitudes are extrapolation")
    return replace(base, **values), notes


def _noise_and_spread(params: DeviceParams, layout, theta, g_lo, g_hi, table: PulseTable,
                      factor: float):
    """Cycle-to-cycle noise from the residuals; rate spread from per-cell rate factors."""
    step2, resid2, log_factors = [], [], []
    for p, at, fixed in layout:
        rate, window, threshold, slope = _unpack(theta, at, p, fixed)
        kt = _rates(p, rate, threshold, slope)
        predicted = _predict(p, params.g_min_S, params.g_max_S, window, kt)
        step2.append((predicted - p.g_before) ** 2)
        resid2.append(_local_residual(p.g_before, p.g_after - predicted))
        log_factors += _cell_rate_factors(p, params, window, kt)
    coef = variance_components(np.concatenate(step2), np.concatenate(resid2))
    additive, relative = np.sqrt(max(coef[0], 0.0)), np.sqrt(max(coef[1], 0.0))
    spread = float(np.std(log_factors)) if len(log_factors) >= 3 else 0.0
    initial = np.sort(np.concatenate([table.g_before, table.g_after]) / factor)
    low = (initial[: max(1, initial.size // 20)] - params.g_min_S) / (
        params.g_max_S - params.g_min_S)
    fitted = replace(
        params, c2c_relative=float(relative), c2c_additive_S=float(additive),
        read_noise_relative=0.0, read_noise_floor_S=0.0, rate_spread=spread, g_spread=0.0,
        threshold_spread_V=0.0, slope_spread=0.0, window_spread=0.0, stuck_fraction=0.0,
        initial_state=float(np.clip(np.median(low), 0.0, 1.0)),
        initial_state_spread=float(np.std(low)))
    notes = [f"cycle-to-cycle noise: {relative:.3g} of the step + {additive:.3g} S "
             "(read noise included; the preset's read noise is 0)",
             f"device-to-device rate spread (log-normal sigma over {len(log_factors)} "
             f"cell-polarity pairs): {spread:.3g}; other spreads 0"]
    return fitted, notes


def variance_components(step2: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """(additive variance, relative variance) from var(residual) = a + b step^2, with the
    variance of each step-size bin taken from its IQR so that a few outliers do not inflate it."""
    order = np.argsort(step2, kind="stable")
    parts = np.array_split(order, min(10, max(1, order.size // 20)))
    x = np.array([step2[part].mean() for part in parts])
    y = np.array([(_iqr(residual[part]) / 1.349) ** 2 for part in parts])
    design = np.stack([np.ones(x.size), x], axis=1)
    return np.linalg.lstsq(design, y, rcond=None)[0]


def _local_residual(g_before: np.ndarray, residual: np.ndarray, bins: int = 20) -> np.ndarray:
    """Residuals minus their mean in each G_before bin: the scatter the model's noise must
    explain, without the systematic misfit of its mean response (reported separately)."""
    order = np.argsort(g_before, kind="stable")
    out = np.empty_like(residual)
    for part in np.array_split(order, min(bins, max(1, order.size // 10))):
        out[part] = residual[part] - residual[part].mean()
    return out


def _cell_rate_factors(p: _Polarity, params: DeviceParams, window: float,
                       kt: np.ndarray) -> list[float]:
    """Best log rate factor per cell with >= 10 rows (grid search, vectorised over rows)."""
    grid = np.linspace(-3.0, 3.0, 121)
    out = []
    for cell in np.unique(p.cell):
        rows = np.flatnonzero(p.cell == cell)
        if rows.size < 10:
            continue
        sub = _Polarity(p.sign, p.g_before[rows], p.g_after[rows], p.amplitude[rows],
                        p.width[rows], p.cell[rows], False)
        errors = [np.sum((_predict(sub, params.g_min_S, params.g_max_S, window,
                                   kt[rows] * np.exp(s)) - sub.g_after) ** 2) for s in grid]
        out.append(float(grid[int(np.argmin(errors))]))
    return out


def quality_summary(quality: list[BinQuality]) -> dict[str, float]:
    ks = np.array([q.ks for q in quality])
    miss = np.array([q.median_error for q in quality])
    return {"bins": len(quality), "median_ks": float(np.median(ks)), "worst_ks": float(ks.max()),
            "median_centre_miss_iqr": float(np.median(miss))}


def quality_lines(quality: list[BinQuality]) -> list[str]:
    """The per-bin table as text (uS for conductances)."""
    out = [f"{'pulse setting':<28} {'G_before (uS)':>17} {'rows':>6} {'dG median meas/sim':>19} "
           f"{'dG IQR meas/sim':>16} {'KS':>6}"]
    for q in quality:
        out.append(f"{q.setting:<28} {q.g_low * 1e6:>8.4g}-{q.g_high * 1e6:<8.4g} {q.rows:>6} "
                   f"{q.measured_median * 1e6:>9.3g}/{q.simulated_median * 1e6:<9.3g} "
                   f"{q.measured_iqr * 1e6:>7.3g}/{q.simulated_iqr * 1e6:<8.3g} {q.ks:>6.3f}")
    s = quality_summary(quality)
    out.append(f"{s['bins']} bins: median KS {s['median_ks']:.3f}, worst KS {s['worst_ks']:.3f}, "
               f"median centre miss {s['median_centre_miss_iqr']:.2f} measured IQRs")
    return out


def plot_comparison(table: PulseTable, simulated: np.ndarray, path, title: str,
                    bins: int = 6, max_settings: int = 8) -> None:
    """Histograms of dG per (pulse setting, G_before bin): measured vs simulated (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = setting_labels(table)
    settings = np.unique(labels)[:max_settings]
    fig, axes = plt.subplots(len(settings), bins, figsize=(2.6 * bins, 2.2 * len(settings)),
                             squeeze=False)
    for r, label in enumerate(settings):
        rows = np.flatnonzero(labels == label)
        rows = rows[np.argsort(table.g_before[rows], kind="stable")]
        for c, part in enumerate(np.array_split(rows, bins)):
            ax = axes[r, c]
            if part.size == 0:
                ax.axis("off")
                continue
            measured = (table.g_after[part] - table.g_before[part]) * 1e6
            sim = (simulated[part] - table.g_before[part]) * 1e6
            edges = np.histogram_bin_edges(np.concatenate([measured, sim]), bins=25)
            ax.hist(measured, edges, alpha=0.6, density=True, label="measured")
            ax.hist(sim, edges, alpha=0.6, density=True, label="simulated")
            ax.set_title(f"{label}\nG {table.g_before[part].min() * 1e6:.4g}-"
                         f"{table.g_before[part].max() * 1e6:.4g} uS", fontsize=7)
            ax.tick_params(labelsize=6)
            if r == len(settings) - 1:
                ax.set_xlabel("dG (uS)", fontsize=7)
            if c == 0:
                ax.set_ylabel("density (1/uS)", fontsize=7)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.08, top=0.86, hspace=0.9, wspace=0.3)
    with atomic_output(path, "wb") as fh:  # never a truncated PNG
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
