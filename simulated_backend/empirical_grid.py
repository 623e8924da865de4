"""The measured settings of an empirical table, as a grid the model interpolates on.

Per polarity, each pulse knob is an axis: amplitude (V), log10 width (s) and, where the table
has a gate column, the gate (V). An axis whose values repeat (a lab's grid: at least
``min_per_bin`` rows per distinct value on average) keeps its distinct values as levels; a
continuous one (random settings, as ``characterize`` draws them) is cut into equal-count bins
whose medians are its levels, as many as leave about four G_before bins per grid point (at
most 64: a random gate sweep over 1.2 V gets levels some 20 mV apart).

Every grid point with at least ``min_per_bin`` rows is a measured setting. Its rows are split
into bins of ln G_before: the polarity's pooled quantiles (so that a setting measured mostly in
the high-resistance state still gets its own bins for the intermediate states it saw), adjacent
bins merged until each holds ``min_per_bin`` rows. Per bin the model keeps ``LEVELS`` quantiles
of dG = G_after - G_before. A grid point without enough rows (a hole) answers from the nearest
measured setting, in units of level steps, and is marked so that its use is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy.spatial import cKDTree

from hilctl.drivers import DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable

LEVELS = 41  # quantiles of dG kept per bin
_ROWS_PER_POINT = 4  # G_before bins a continuous axis aims to leave per grid point
_MAX_LEVELS = 64  # of a continuous axis (a gate sweep: ~20 mV steps over 1.2 V)
_REL = 1e-6  # relative tolerance of a pulse on a measured level
_CONTINUOUS_SLACK = 0.01  # of a continuous knob's measured span
_SPACING = 1e3  # between settings' ln G centres in Bank's sorted array


@dataclass(frozen=True)
class Axis:
    """One pulse knob of one polarity: its levels and the range the table measured."""

    name: str  # "amplitude", "width" or "gate"
    levels: np.ndarray  # sorted; widths as log10(s)
    edges: np.ndarray  # boundaries between levels, to assign rows to them
    span: tuple[float, float]  # measured range (log10 s for width)
    slack: float  # how far beyond the span a pulse still counts as inside it

    def show(self, value: float) -> str:
        return f"{10 ** value:.4g} s" if self.name == "width" else f"{value:.4g} V"

    def describe(self) -> str:
        low, high = self.span
        return self.show(low) if high - low <= _REL * max(abs(high), 1.0) else \
            f"{self.show(low)} to {self.show(high)}"

    def locate(self, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower level index, interpolation weight of the upper level, and outside-the-span."""
        outside = (value < self.span[0] - self.slack) | (value > self.span[1] + self.slack)
        if self.levels.size == 1:
            return np.zeros(value.size, dtype=np.intp), np.zeros(value.size), outside
        i = np.clip(np.searchsorted(self.levels, value, side="right") - 1, 0,
                    self.levels.size - 2)
        t = (value - self.levels[i]) / (self.levels[i + 1] - self.levels[i])
        t = np.clip(t, 0.0, 1.0)
        return i, np.where(np.abs(t - np.round(t)) < 1e-6, np.round(t), t), outside


def make_axis(name: str, values: np.ndarray, levels_wanted: int | None) -> Axis:
    """Levels of one knob: the distinct values, or ``levels_wanted`` equal-count bins.

    A pulse on a measured value is inside the span up to round-off; random values stand for
    the range they were drawn from, whose bounds their extremes miss by a little, so a pulse
    up to ``_CONTINUOUS_SLACK`` of the span beyond them is inside too.
    """
    span = (float(values.min()), float(values.max()))
    round_off = _REL * max(abs(span[0]), abs(span[1]), 1.0)
    if levels_wanted is None:
        levels = np.unique(np.round(values, 9))
        return Axis(name, levels, (levels[1:] + levels[:-1]) / 2, span, round_off)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, levels_wanted + 1)[1:-1]))
    index = np.searchsorted(edges, values)
    levels = np.array([np.median(values[index == k]) for k in range(edges.size + 1)])
    return Axis(name, levels, edges, span,
                round_off + _CONTINUOUS_SLACK * (span[1] - span[0]))


def is_discrete(values: np.ndarray, min_per_bin: int) -> bool:
    """A lab's grid: the distinct values are few enough to hold ``min_per_bin`` rows each."""
    return np.unique(np.round(values, 9)).size <= max(values.size // min_per_bin, 1)


@dataclass
class Bank:
    """Every measured setting's binned response, stacked so that one gather answers a batch.

    ``centres`` (settings, bins) are ln G_before bin medians padded with +inf; ``quantiles``
    (settings, bins, LEVELS) the dG quantiles per bin (S), the last bin repeated as padding.
    """

    centres: np.ndarray
    quantiles: np.ndarray
    bins: np.ndarray  # (settings,) bins in use
    g_range: np.ndarray  # (settings, 2) measured G_before (S)
    names: list[str]

    def __post_init__(self) -> None:
        # Every setting's centres in one sorted array, setting k shifted by k * _SPACING (far
        # beyond any span of ln G), so one searchsorted finds each pulse's bin in its setting.
        shift = _SPACING * np.arange(self.centres.shape[0])[:, None]
        self._sorted = (np.where(np.isfinite(self.centres), self.centres, _SPACING / 2)
                        + shift).ravel()

    def draw(self, s: np.ndarray, g: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dG (S) at quantile ``u`` of settings ``s`` for devices at ``g``, interpolated in
        ln G between bin centres; and where ``g`` lies beyond the G_before measured."""
        lg = np.log(g)
        width = self.centres.shape[1]
        below = np.searchsorted(self._sorted, lg + _SPACING * s, side="right") - width * s
        b = np.clip(below - 1, 0, np.maximum(self.bins[s] - 2, 0))
        low, high = self.centres[s, b], self.centres[s, b + 1]
        with np.errstate(invalid="ignore"):
            t = np.where(high > low, np.clip((lg - low) / (high - low), 0.0, 1.0), 0.0)
        pos = u * (LEVELS - 1)
        lo = np.minimum(pos.astype(np.intp), LEVELS - 2)
        frac = pos - lo
        q = self.quantiles

        def at(k: np.ndarray) -> np.ndarray:
            return q[s, k, lo] * (1 - frac) + q[s, k, lo + 1] * frac

        beyond = (g < self.g_range[s, 0]) | (g > self.g_range[s, 1])
        return at(b) * (1 - t) + at(b + 1) * t, beyond


@dataclass
class PolarityGrid:
    """The grid of one polarity: its axes and the bank setting at every grid point."""

    polarity: int
    axes: tuple[Axis, ...]
    index: np.ndarray  # bank setting per grid point (holes hold their nearest setting)
    hole: np.ndarray  # bool, same shape: no measured setting there

    @property
    def name(self) -> str:
        return Polarity(self.polarity).name

    @property
    def gated(self) -> bool:
        return self.axes[-1].name == "gate"

    def corners(self, coords: list[np.ndarray]):
        """Yield (pulses, weight, bank setting, from a hole) per corner of the pulses' grid
        cells, for the pulses that give that corner a weight (corners no pulse weighs are left
        out: on a measured level only one corner counts)."""
        located = [axis.locate(c) for axis, c in zip(self.axes, coords, strict=True)]
        for bits in product((0, 1), repeat=len(self.axes)):
            weight = np.ones(coords[0].size)
            for bit, (_, t, _) in zip(bits, located, strict=True):
                weight = weight * (t if bit else 1 - t)
            used = np.flatnonzero(weight > 0)
            if used.size == 0:
                continue
            point = tuple(np.minimum(i[used] + bit, axis.levels.size - 1)
                          for bit, axis, (i, _, _) in zip(bits, self.axes, located, strict=True))
            yield used, weight[used], self.index[point], self.hole[point]


def pulse_coords(table: PulseTable, rows: np.ndarray, gated: bool) -> list[np.ndarray]:
    coords = [table.amplitude[rows], np.log10(table.width[rows])]
    return coords + [table.gate[rows]] if gated else coords


def build_grids(table: PulseTable, min_per_bin: int,
                max_bins: int) -> tuple[dict[int, PolarityGrid], Bank, np.ndarray]:
    """The grid of every polarity in ``table``, the bank of their measured settings, and
    where each row went: (2, rows) bank setting and bin (-1 for rows at a hole)."""
    grids, parts = {}, []
    place = np.full((2, len(table)), -1)
    for polarity in (Polarity.SET, Polarity.RESET):
        rows = np.flatnonzero(table.polarity == polarity)
        if rows.size:
            grids[int(polarity)] = _polarity_grid(table, rows, int(polarity), min_per_bin,
                                                  max_bins, parts, place)
    settings = [setting for part in parts for setting in part]
    if not settings:
        counts = ", ".join(f"{g.name} {int((table.polarity == p).sum())} rows"
                           for p, g in grids.items())
        raise DataError(f"empirical table: no pulse setting has {min_per_bin} rows ({counts}); "
                        "that many are needed to condition G_after on G_before")
    return grids, _stack(settings), place


def _gated(table: PulseTable, rows: np.ndarray, name: str) -> bool:
    """Whether a polarity's rows carry a gate: all of them, or none."""
    known = np.isfinite(table.gate[rows])
    if known.any() and not known.all():
        raise DataError(f"empirical table: {int((~known).sum())} of the {rows.size} {name} "
                        f"rows have no gate_V while the others have one; give every {name} "
                        "row its gate, or none")
    return bool(known.any())


def _axes(coords: list[np.ndarray], min_per_bin: int) -> tuple[Axis, ...]:
    """A lab's grid keeps its values; continuous knobs share the rows a grid point gets."""
    names = ("amplitude", "width", "gate")[:len(coords)]
    discrete = [is_discrete(c, min_per_bin) for c in coords]
    per_grid_point = coords[0].size / np.prod([np.unique(np.round(c, 9)).size
                                               for c, d in zip(coords, discrete, strict=True)
                                               if d])
    continuous = len(coords) - sum(discrete)
    wanted = int(np.clip((per_grid_point / (_ROWS_PER_POINT * min_per_bin))
                         ** (1 / max(continuous, 1)), 1, _MAX_LEVELS))
    return tuple(make_axis(n, c, None if d else wanted)
                 for n, c, d in zip(names, coords, discrete, strict=True))


def _polarity_grid(table, rows, polarity, min_per_bin, max_bins, parts, place) -> PolarityGrid:
    """One polarity's grid; its settings are appended to ``parts``, its rows' places written
    into ``place``."""
    name = Polarity(polarity).name
    coords = pulse_coords(table, rows, _gated(table, rows, name))
    axes = _axes(coords, min_per_bin)
    point = tuple(np.searchsorted(a.edges, c) for a, c in zip(axes, coords, strict=True))
    shape = tuple(a.levels.size for a in axes)
    flat = np.ravel_multi_index(point, shape)
    edges = _pooled_edges(table.g_before[rows], max_bins)
    index = np.full(int(np.prod(shape)), -1)
    offset = sum(len(part) for part in parts)
    settings = []
    for k in np.unique(flat):
        mine = rows[flat == k]
        if mine.size >= min_per_bin:
            index[k] = offset + len(settings)
            where = np.unravel_index(k, shape)
            label = ", ".join(a.show(a.levels[w]) for a, w in zip(axes, where, strict=True))
            settings.append(_binned(table, mine, edges, min_per_bin, f"{name} {label}"))
            place[0, mine], place[1, mine] = index[k], settings[-1][4]
    parts.append(settings)
    if not settings:
        return PolarityGrid(polarity, axes, index.reshape(shape), np.ones(shape, bool))
    index = index.reshape(shape)
    hole = index < 0
    return PolarityGrid(polarity, axes, _fill_nearest(index, hole), hole)


def _pooled_edges(g_before: np.ndarray, max_bins: int) -> np.ndarray:
    """Interior ln G_before boundaries: the polarity's pooled quantiles."""
    return np.unique(np.quantile(np.log(g_before), np.linspace(0, 1, max_bins + 1)[1:-1]))


def _binned(table: PulseTable, rows: np.ndarray, edges: np.ndarray, min_per_bin: int,
            name: str) -> tuple:
    """(centres, quantiles, G_before range, name, bin of each row) of one setting, thin bins
    merged."""
    lg = np.log(table.g_before[rows])
    dg = table.g_after[rows] - table.g_before[rows]
    group = _merge_thin(np.bincount(np.searchsorted(edges, lg), minlength=edges.size + 1),
                        min_per_bin)[np.searchsorted(edges, lg)]
    members = [group == k for k in range(group.max() + 1)]
    levels = np.linspace(0.0, 1.0, LEVELS)
    return (np.array([np.median(lg[m]) for m in members]),
            np.stack([np.quantile(dg[m], levels) for m in members]),
            (float(np.exp(lg.min())), float(np.exp(lg.max()))), name, group)


def _merge_thin(counts: np.ndarray, min_per_bin: int) -> np.ndarray:
    """Group of each fine bin: adjacent bins joined, low to high, until a group holds
    ``min_per_bin`` rows; a thin remainder at the top joins the group below it."""
    group = np.zeros(counts.size, dtype=np.intp)
    k, held = 0, 0
    for i, c in enumerate(counts):
        group[i] = k
        held += c
        if held >= min_per_bin:
            k, held = k + 1, 0
    if held < min_per_bin and k > 0:
        group[group == k] = k - 1
    return group


def _fill_nearest(index: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Each hole takes the setting of the nearest measured grid point (in level steps)."""
    if not hole.any():
        return index
    measured = np.argwhere(~hole)
    missing = np.argwhere(hole)
    nearest = cKDTree(measured).query(missing)[1]
    filled = index.copy()
    filled[tuple(missing.T)] = index[tuple(measured[nearest].T)]
    return filled


def _stack(settings: list[tuple]) -> Bank:
    bins = np.array([s[0].size for s in settings])
    width = int(bins.max())
    centres = np.full((len(settings), width + 1), np.inf)
    quantiles = np.empty((len(settings), width + 1, LEVELS))
    for k, (c, q, *_) in enumerate(settings):
        centres[k, :c.size] = c
        quantiles[k, :c.size] = q
        quantiles[k, c.size:] = q[-1]
    return Bank(centres, quantiles, bins, np.array([s[2] for s in settings]),
                [s[3] for s in settings])
