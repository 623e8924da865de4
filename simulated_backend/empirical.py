"""A device model that answers pulses the way measured devices did.

``EmpiricalDevice`` is built from a pulse-response table (``drivers.pulse_table``). For each
measured pulse setting (polarity, amplitude, width, gate) it splits the rows into equal-count
bins of G_before and keeps, per bin, the quantile function of the response dG = G_after -
G_before. A pulse on a device at G draws u ~ U(0, 1) and returns G + dG, where dG is the
u-quantile interpolated linearly between the two nearest bin centres in G (a binned
conditional distribution that has no steps between bins).

Between measured pulse settings the model interpolates in amplitude and log(width), on the
same u (quantile interpolation), so the whole response distribution moves smoothly. Settings
must form a grid per (polarity, gate). A pulse outside the measured settings is never answered
silently: it raises ``DataError`` (``out_of_range="raise"``, the default) or, with
``out_of_range="clamp"``, takes the nearest measured setting and is counted in ``flags``. A
device whose G lies beyond the G_before a setting was measured at is answered from the edge bin
and counted too.

Measured pairs carry the lab's read noise twice (in the read before and the read after), and a
simulated device must not accumulate it as if it were switching. Where the table holds chained
reads (the read after one pulse is the read before the next, as in pulse trains and
characterization), the read noise is what makes successive responses anti-correlated:
cov(dG_k, dG_k+1) - cov(dG_k, dG_k+2) = -sigma_read^2 (the lag-2 term removes what a device's
persistent speed adds at every lag). The model estimates sigma_read from that, narrows
each bin's response around its median by the 2 sigma_read^2 it contains, and lets the crossbar
add sigma_read back on every read (``params.read_noise_floor_S``). Tables without chained reads
keep the full spread and add no read noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable

from .device_model import DeviceModel
from .physics import DeviceParams

OUT_OF_RANGE = ("raise", "clamp")
_REL = 1e-9  # relative tolerance when matching a pulse to a measured setting


@dataclass(frozen=True)
class Setting:
    """One measured pulse setting and its conditional response table (SI units)."""

    polarity: int
    amplitude: float
    width: float
    gate: float  # NaN: no gate
    rows: int
    centres: np.ndarray  # (bins,) median G_before per bin
    quantiles: np.ndarray  # (bins, levels) quantiles of dG per bin
    g_range: tuple[float, float]  # G_before measured

    def describe(self) -> str:
        gate = "" if np.isnan(self.gate) else f", gate {self.gate:g} V"
        return (f"{Polarity(self.polarity).name} {self.amplitude:g} V, "
                f"{self.width * 1e9:g} ns{gate}")


def _gate_key(gate: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(gate), -1.0, np.round(gate, 6))


def _build_setting(table: PulseTable, rows: np.ndarray, min_per_bin: int,
                   max_bins: int, levels: int, read_var: float = 0.0) -> Setting:
    """Quantiles of dG per G_before bin, narrowed around the median by the read noise."""
    order = rows[np.argsort(table.g_before[rows], kind="stable")]
    g = table.g_before[order]
    dg = table.g_after[order] - g
    bins = int(np.clip(order.size // min_per_bin, 1, max_bins))
    parts = np.array_split(np.arange(order.size), bins)
    q = np.linspace(0.0, 1.0, levels)
    return Setting(
        polarity=int(table.polarity[order[0]]), amplitude=float(table.amplitude[order[0]]),
        width=float(table.width[order[0]]), gate=float(table.gate[order[0]]), rows=order.size,
        centres=np.array([np.median(g[p]) for p in parts]),
        quantiles=np.stack([_narrowed(np.quantile(dg[p], q), _robust_var(dg[p]), read_var)
                            for p in parts]),
        g_range=(float(g[0]), float(g[-1])))


def _robust_var(values: np.ndarray) -> float:
    """Variance from the IQR, so that a few outliers do not decide how much to narrow."""
    return float((np.subtract(*np.percentile(values, [75, 25])) / 1.349) ** 2)


def _narrowed(quantiles: np.ndarray, variance: float, read_var: float) -> np.ndarray:
    """Shrink quantiles towards the median so the variance loses 2 read_var (to a 10 % floor)."""
    if read_var <= 0 or variance <= 0:
        return quantiles
    keep = np.sqrt(max(variance - 2.0 * read_var, 0.1 * variance) / variance)
    median = quantiles[quantiles.size // 2]
    return median + (quantiles - median) * keep


def chained_pairs(table: PulseTable) -> tuple[np.ndarray, np.ndarray]:
    """Rows (i, j): row j is the same cell's next pulse in table order, with the same pulse
    setting, and its read before is row i's read after (one read serving both, as in trains)."""
    order = np.argsort(table.cell, kind="stable")
    i, j = order[:-1], order[1:]
    same = (table.cell[i] == table.cell[j]) & (table.g_before[j] == table.g_after[i])
    for column in (table.polarity, table.amplitude, table.width):
        same &= column[i] == column[j]
    return i[same], j[same]


class EmpiricalDevice(DeviceModel):
    """Devices whose response to a pulse is drawn from a measured pulse-response table.

    Parameters
    ----------
    table : PulseTable
        Measured pulses (one row each).
    min_per_bin : int
        Fewest rows in a G_before bin; a setting needs at least this many rows.
    max_bins : int
        Most G_before bins per setting.
    out_of_range : {"raise", "clamp"}
        What a pulse outside the measured settings does.
    read_noise_S : float or "estimate"
        Read noise sigma in siemens, or estimated from chained reads (0 if there are none).
    params : DeviceParams, optional
        Read noise and relaxation the crossbar adds; default: the read noise above only.
    """

    def __init__(self, table: PulseTable, min_per_bin: int = 40, max_bins: int = 16,
                 out_of_range: str = "raise", read_noise_S: float | str = "estimate",
                 params: DeviceParams | None = None) -> None:
        if out_of_range not in OUT_OF_RANGE:
            raise DataError(f"out_of_range = {out_of_range!r}: expected one of "
                            f"{', '.join(OUT_OF_RANGE)}")
        self.out_of_range = out_of_range
        g_all = np.concatenate([table.g_before, table.g_after])
        self.g_low, self.g_high = float(g_all.min()), float(g_all.max())
        self._low_states = np.sort(g_all)[: max(1, g_all.size // 20)]
        self.settings = self._group(table, min_per_bin, max_bins)
        self._grids = self._make_grids()
        self.flags = {"pulse_clamped": 0, "g_beyond_measured": 0}
        self.read_noise_pairs = 0  # chained pairs the read noise was estimated from
        if read_noise_S == "estimate":
            read_noise_S = self._estimate_read_noise(table)
        if not (isinstance(read_noise_S, float | int) and read_noise_S >= 0):
            raise DataError(f"read_noise_S = {read_noise_S!r}: expected 'estimate' or >= 0 S")
        self.read_noise_S = float(read_noise_S)
        if self.read_noise_S > 0:
            self.settings = self._group(table, min_per_bin, max_bins, self.read_noise_S ** 2)
        self.params = params or DeviceParams(
            g_min_S=self.g_low, g_max_S=self.g_high, read_noise_relative=0.0,
            read_noise_floor_S=self.read_noise_S, stuck_fraction=0.0)

    # -- construction -----------------------------------------------------------------------
    def _estimate_read_noise(self, table: PulseTable) -> float:
        """sigma_read from the anti-correlation of successive responses of chained reads."""
        first, second = chained_pairs(table)
        self.read_noise_pairs = int(first.size)
        if first.size < 30:
            return 0.0
        median = np.empty(len(table))
        keys = np.stack([table.polarity.astype(float), table.amplitude, table.width,
                         _gate_key(table.gate)], axis=1)
        for key in np.unique(keys, axis=0):
            rows = np.flatnonzero(np.all(keys == key, axis=1))
            grid = self._grids[(int(key[0]), float(key[3]))]
            median[rows] = self._interpolated(grid, table.g_before[rows], table.amplitude[rows],
                                              np.log10(table.width[rows]), np.full(rows.size, 0.5))
        residual = table.g_after - table.g_before - median
        following = np.full(len(table), -1)
        following[first] = second
        third = following[second]
        has_third = third >= 0
        lag1 = np.mean(residual[first] * residual[second])
        # A device's persistent speed correlates its responses at every lag; a shared read only
        # at lag 1. The lag-2 covariance takes the first out (0 when there are no triples).
        lag2 = (np.mean(residual[first[has_third]] * residual[third[has_third]])
                if has_third.sum() >= 30 else 0.0)
        return float(np.sqrt(max(lag2 - lag1, 0.0)))

    @staticmethod
    def _group(table: PulseTable, min_per_bin: int, max_bins: int,
               read_var: float = 0.0) -> list[Setting]:
        keys = np.stack([table.polarity.astype(float), np.round(table.amplitude, 6),
                         np.round(np.log10(table.width), 6), _gate_key(table.gate)], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        settings = []
        for k in range(unique.shape[0]):
            rows = np.flatnonzero(inverse.ravel() == k)
            if rows.size < min_per_bin:
                probe = table.subset(rows[:1])
                raise DataError(
                    f"pulse setting {Polarity(int(probe.polarity[0])).name} "
                    f"{probe.amplitude[0]:g} V, {probe.width[0]:g} s has {rows.size} rows; at "
                    f"least {min_per_bin} are needed to condition G_after on G_before")
            settings.append(_build_setting(table, rows, min_per_bin, max_bins,
                                           levels=min(41, min_per_bin), read_var=read_var))
        return settings

    def _make_grids(self) -> dict[tuple[int, float], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per (polarity, gate): amplitudes, log10 widths and the setting index on that grid."""
        grids = {}
        for key in {(s.polarity, float(_gate_key(np.array([s.gate]))[0])) for s in self.settings}:
            members = [i for i, s in enumerate(self.settings)
                       if (s.polarity, float(_gate_key(np.array([s.gate]))[0])) == key]
            amps = np.unique([self.settings[i].amplitude for i in members])
            logw = np.unique([np.log10(self.settings[i].width) for i in members])
            index = np.full((amps.size, logw.size), -1)
            for i in members:
                s = self.settings[i]
                index[np.searchsorted(amps, s.amplitude),
                      np.searchsorted(logw, np.log10(s.width))] = i
            if (index < 0).any():
                a, w = np.argwhere(index < 0)[0]
                raise DataError(
                    f"measured {Polarity(key[0]).name} settings do not form a grid: amplitude "
                    f"{amps[a]:g} V with width {10 ** logw[w]:g} s is missing, so the model "
                    "cannot interpolate between them")
            grids[key] = (amps, logw, index)
        return grids

    # -- DeviceModel ------------------------------------------------------------------------
    def start(self, n: int, population_rng: np.random.Generator,
              state_rng: np.random.Generator) -> np.ndarray:
        """After a block RESET: each device at one of the lowest 5 % of measured conductances."""
        self.healthy = np.ones(n, dtype=bool)
        if self.params.random_initial_state:
            return state_rng.random(n)
        return self.state_of(state_rng.choice(self._low_states, size=n))

    def switch(self, flat: np.ndarray, x: np.ndarray, volts: np.ndarray, width: np.ndarray,
               gate: np.ndarray | None, noise: np.random.Generator) -> np.ndarray:
        g = self.conductance(x, flat)
        polarity = np.where(volts > 0, 1, -1)
        gate = np.full(flat.size, np.nan) if gate is None else gate
        g_after = self.respond(g, polarity, np.abs(volts), width, gate, noise)
        return np.clip(self.state_of(g_after), 0.0, 1.0)

    def conductance(self, x: np.ndarray, flat: np.ndarray) -> np.ndarray:
        return self.g_low + (self.g_high - self.g_low) * x

    def read_factor(self, read_V: float) -> float:
        """1: the table holds conductances as the lab read them."""
        return 1.0

    def state_of(self, g: np.ndarray) -> np.ndarray:
        return (np.asarray(g, dtype=np.float64) - self.g_low) / (self.g_high - self.g_low)

    # -- the response -----------------------------------------------------------------------
    def respond(self, g: np.ndarray, polarity: np.ndarray, amplitude: np.ndarray,
                width: np.ndarray, gate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """G_after (S) for devices at ``g`` (S) given one pulse each; vectorised.

        ``polarity`` is +1/-1, ``amplitude`` a magnitude in volts, ``width`` in seconds,
        ``gate`` in volts (NaN for none).
        """
        g = np.asarray(g, dtype=np.float64)
        u = rng.random(g.size)
        out = np.empty_like(g)
        keys = np.stack([polarity.astype(float), _gate_key(np.asarray(gate, dtype=float))], 1)
        for key in np.unique(keys, axis=0):
            mask = np.all(keys == key, axis=1)
            grid = self._grids.get((int(key[0]), float(key[1])))
            if grid is None:
                self._refuse(mask, polarity, amplitude, width, gate, "no measured setting has "
                             "this polarity and gate")
            out[mask] = g[mask] + self._interpolated(grid, g[mask], amplitude[mask],
                                                     np.log10(width[mask]), u[mask])
        return out

    def respond_as_read(self, g_read: np.ndarray, polarity: np.ndarray, amplitude: np.ndarray,
                        width: np.ndarray, gate: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
        """G_after as a lab would read it, given the read G_before: what a measured row is.

        The true state is the read minus its read noise; the read after adds fresh noise.
        """
        g_read = np.asarray(g_read, dtype=np.float64)
        true_before = g_read - self.read_noise_S * rng.standard_normal(g_read.size)
        after = self.respond(true_before, polarity, amplitude, width, gate, rng)
        return after + self.read_noise_S * rng.standard_normal(g_read.size)

    def _interpolated(self, grid, g, amplitude, logw, u) -> np.ndarray:
        amps, lws, index = grid
        ia, ta = self._locate(amps, amplitude, "amplitude", "V", 1.0)
        iw, tw = self._locate(lws, logw, "width", "s", None)
        delta = np.zeros_like(g)
        for da, wa in ((0, 1 - ta), (1, ta)):
            for dw, ww in ((0, 1 - tw), (1, tw)):
                weight = wa * ww
                a = np.minimum(ia + da, amps.size - 1)
                w = np.minimum(iw + dw, lws.size - 1)
                for s in np.unique(index[a, w][weight > 0]):
                    pick = (index[a, w] == s) & (weight > 0)
                    delta[pick] += weight[pick] * self._draw(self.settings[s], g[pick], u[pick])
        return delta

    def _locate(self, axis: np.ndarray, value: np.ndarray, name: str, unit: str,
                scale: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Lower grid index and interpolation weight; out-of-range values raise or clamp."""
        span = np.abs(axis).max() * _REL + _REL
        outside = (value < axis[0] - span) | (value > axis[-1] + span)
        if outside.any():
            shown = (lambda v: f"{v:g} {unit}") if scale else (lambda v: f"{10 ** v:g} {unit}")
            measured = ", ".join(shown(v) for v in axis)
            if self.out_of_range == "raise":
                raise DataError(
                    f"pulse {name} {shown(value[np.flatnonzero(outside)[0]])} lies outside the "
                    f"measured {name}s ({measured}); the empirical model does not extrapolate "
                    "(out_of_range='clamp' uses the nearest measured setting and counts it)")
            self.flags["pulse_clamped"] += int(outside.sum())
        value = np.clip(value, axis[0], axis[-1])
        if axis.size == 1:
            return np.zeros(value.size, dtype=int), np.zeros(value.size)
        i = np.clip(np.searchsorted(axis, value, side="right") - 1, 0, axis.size - 2)
        t = (value - axis[i]) / (axis[i + 1] - axis[i])
        return i, np.clip(t, 0.0, 1.0)

    def _draw(self, s: Setting, g: np.ndarray, u: np.ndarray) -> np.ndarray:
        """dG at quantile ``u`` for devices at ``g``, interpolated between bin centres."""
        beyond = (g < s.g_range[0]) | (g > s.g_range[1])
        self.flags["g_beyond_measured"] += int(beyond.sum())
        levels = np.linspace(0.0, 1.0, s.quantiles.shape[1])
        pos = u * (levels.size - 1)
        lo = np.minimum(pos.astype(int), levels.size - 2)
        frac = pos - lo
        per_bin = s.quantiles[:, lo] * (1 - frac) + s.quantiles[:, lo + 1] * frac  # (bins, n)
        if s.centres.size == 1:
            return per_bin[0]
        b = np.clip(np.searchsorted(s.centres, g, side="right") - 1, 0, s.centres.size - 2)
        gap = s.centres[b + 1] - s.centres[b]  # 0 where bins share a centre (stuck cells)
        t = np.clip(np.divide(g - s.centres[b], gap, out=np.zeros(g.size), where=gap > 0),
                    0.0, 1.0)
        cols = np.arange(g.size)
        return per_bin[b, cols] * (1 - t) + per_bin[b + 1, cols] * t

    def _refuse(self, mask, polarity, amplitude, width, gate, why: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        gate_text = "" if np.isnan(gate[i]) else f", gate {gate[i]:g} V"
        raise DataError(f"pulse {Polarity(int(polarity[i])).name} {amplitude[i]:g} V, "
                        f"{width[i]:g} s{gate_text}: {why}; measured settings: "
                        + "; ".join(s.describe() for s in self.settings))
