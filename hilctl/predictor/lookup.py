"""The lookup planner: the baseline every learned planner is reported against.

A lab without a model programs from its characterization table directly: group the pulses by
setting (amplitude, width, gate) and by the cell's state before the pulse, take the median
outcome of each group, and for a target use the setting whose median is closest:

    s*(g, T) = argmin_s | ln median{G_after : pulse s, G_before in bin(g)} - ln T |

over the settings of the polarity that moves towards T (SET if T > g). State bins are
quantiles of ln G_before, so each holds about as many pulses; a (bin, setting) group needs
``min_rows`` pulses to count, and a bin with no such group uses the groups pooled over all
bins. A table that draws a setting at random (characterization) has no repeated values, so a
column with more than ``_MAX_VALUES`` distinct values is binned into quantile bins, as many as
leave about ``_GROUP_ROWS`` pulses per group, and each pulse is counted at its bin's median.

With a device book (``follow_book``) the looked-up setting is moved per device by the book's
knob shift ``s`` (the device answers a knob ``u`` like the average device answers ``u + s``,
in the book's knob coordinate: ln width, or volts of the amplitude or gate), discounted by the
share ``keep`` of its information a run keeps at its age:

    u_device = u*(g, T) - keep * s,

kept inside the range of that setting the table holds for the polarity (values the lab
characterized); the planner itself still learns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import Cells, DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols.planner import PlannedPulses, PulsePlanner

from .knobs import KNOBS, SETTINGS

_MAX_VALUES = 64
_GROUP_ROWS = 20


@dataclass(frozen=True)
class SettingGroups:
    """The pulses of a table grouped by (state bin, setting).

    ``settings`` is (k, 3): amplitude V, width s, gate V (NaN: no gate), with ``polarity``
    (k,); ``edges`` the ln G_before bin edges (inner ones only); per row, ``state`` its bin and
    ``setting`` its row in ``settings``.
    """

    settings: np.ndarray
    polarity: np.ndarray
    edges: np.ndarray
    state: np.ndarray
    setting: np.ndarray

    @classmethod
    def of(cls, table: PulseTable, bins: int = 8, edges: np.ndarray | None = None):
        """Group ``table``; ``edges`` (from another table's groups) keep its state bins."""
        lng = np.log(table.g_before)
        if edges is None:
            edges = np.unique(np.quantile(lng, np.linspace(0, 1, bins + 1)[1:-1]))
        raw = (table.amplitude, table.width, table.gate)
        varied = sum(np.unique(c[np.isfinite(c)]).size > _MAX_VALUES for c in raw)
        # Levels per drawn column so that a (bin, setting) group holds _GROUP_ROWS on average.
        levels = int(np.clip((len(table) / ((edges.size + 1) * _GROUP_ROWS))
                             ** (1 / max(varied, 1)), 4, _MAX_VALUES))
        columns = np.column_stack(raw)
        for pol in (Polarity.SET, Polarity.RESET):  # a polarity's levels are its own values
            rows = table.polarity == pol
            for k, log in enumerate((False, True, False)):
                columns[rows, k] = _discrete(columns[rows, k], log, levels)
        keyed = np.column_stack([table.polarity, columns])
        unique, setting = np.unique(np.nan_to_num(keyed, nan=-1.0), axis=0, return_inverse=True)
        settings = unique[:, 1:].copy()
        if np.isnan(columns[:, 2]).any():
            settings[:, 2] = np.nan  # no gate column
        return cls(settings, unique[:, 0].astype(np.int8), edges,
                   np.searchsorted(edges, lng), setting.reshape(-1))

    @property
    def bins(self) -> int:
        return self.edges.size + 1

    def bin_of(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, np.log(g))


def _discrete(values: np.ndarray, log: bool, levels: int) -> np.ndarray:
    """Values as they are when few are distinct (a sweep), else each at the median of its
    quantile bin, one of ``levels`` (a table that draws the setting at random)."""
    finite = values[np.isfinite(values)]
    if np.unique(finite).size <= _MAX_VALUES:
        return values
    x = np.log(values) if log else values
    edges = np.quantile(x, np.linspace(0, 1, levels + 1)[1:-1])
    index = np.searchsorted(edges, x)
    medians = np.array([np.median(values[index == i]) if (index == i).any() else np.nan
                        for i in range(levels)])
    return medians[index]


class LookupTable:
    """Median ln G after per (state bin, setting) of a pulse-response table."""

    def __init__(self, table: PulseTable, bins: int = 8, min_rows: int = 5) -> None:
        table.validate()
        self.groups = groups = SettingGroups.of(table, bins)
        k = len(groups.settings)
        self.median = np.full((groups.bins + 1, k), np.nan)  # last row: all bins pooled
        lna = np.log(table.g_after)
        for s in range(k):
            rows = groups.setting == s
            if rows.sum() >= min_rows:
                self.median[-1, s] = np.median(lna[rows])
            for b in np.unique(groups.state[rows]):
                here = rows & (groups.state == b)
                if here.sum() >= min_rows:
                    self.median[b, s] = np.median(lna[here])

    def choose(self, present: np.ndarray, target: np.ndarray):
        """(setting index per cell, clamped): the setting of the right polarity whose median
        outcome from the cell's state bin is closest to its target; clamped where the target
        lies beyond every median of that polarity."""
        present, target = np.asarray(present, float), np.asarray(target, float)
        polarity = np.where(target > present, Polarity.SET, Polarity.RESET)
        state = self.groups.bin_of(present)
        wrong = self.groups.polarity[None, :] != polarity[:, None]
        medians = np.where(wrong, np.nan, self.median[state])
        pooled = np.isnan(medians).all(axis=1)
        medians[pooled] = np.where(wrong[pooled], np.nan, self.median[-1])
        usable = ~np.isnan(medians).all(axis=1)
        if not usable.all():
            name = "SET" if polarity[~usable][0] > 0 else "RESET"
            raise DataError(f"the lookup table has no {name} pulses; some cells need one")
        distance = np.abs(medians - np.log(target)[:, None])
        choice = np.nanargmin(distance, axis=1)
        clamped = (np.log(target) > np.nanmax(medians, axis=1)) | (
            np.log(target) < np.nanmin(medians, axis=1))
        return choice, clamped


class LookupPlanner(PulsePlanner):
    """Plans each pulse from a ``LookupTable``; does not adapt (a lab's table does not)."""

    name = "lookup"

    def __init__(self, table: LookupTable) -> None:
        self.table = table
        # From a device book (``follow_book``): per flat device and polarity row, the shift.
        self.shifts: np.ndarray | None = None
        self.book_knobs: list[str] = []
        self._shape: tuple[int, int] | None = None

    def follow_book(self, cells: Cells, shape: tuple[int, int], shift: np.ndarray,
                    keep: np.ndarray | float, knobs: list[str]) -> None:
        """Shift each of ``cells``' looked-up settings by a device book's knob shift (2, m;
        row 0 RESET, row 1 SET) times ``keep``, in the book's ``knobs`` (see the module
        docstring)."""
        self._shape, self.book_knobs = tuple(shape), list(knobs)
        self.shifts = np.zeros((2, shape[0] * shape[1]))
        self.shifts[:, cells.flat(shape)] = keep * np.asarray(shift, float)

    @classmethod
    def from_csv(cls, path) -> LookupPlanner:
        return cls(LookupTable(PulseTable.read_csv(path)))

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        present, target = np.asarray(present, float), np.asarray(target, float)
        if not (np.isfinite(present).all() and np.isfinite(target).all()) or (
                present <= 0).any() or (target <= 0).any():
            raise DataError("lookup planner: present and target conductances must be finite "
                            "and > 0 S")
        choice, clamped = self.table.choose(present, target)
        polarity = self.table.groups.polarity[choice]
        chosen = self.table.groups.settings[choice]
        if self._shape is not None:
            chosen = self._shifted(chosen, polarity, self.shifts[:, cells.flat(self._shape)])
        gate = None if np.isnan(chosen[:, 2]).any() else chosen[:, 2]
        return PlannedPulses(polarity, chosen[:, 0], chosen[:, 1], clamped, gate)

    def _shifted(self, chosen: np.ndarray, polarity: np.ndarray,
                 shift: np.ndarray) -> np.ndarray:
        """``chosen`` (m, 3) settings moved by each device's book shift (2, m)."""
        chosen = chosen.copy()
        for row, name in enumerate(("RESET", "SET")):
            knob = KNOBS.get(self.book_knobs[row])
            rows = polarity == Polarity[name]
            if knob is None or not rows.any():
                continue
            column = SETTINGS.index(knob.setting)
            held = self.table.groups.settings[self.table.groups.polarity == Polarity[name],
                                              column]
            u = knob.coordinate(chosen[rows, column]) - shift[row, rows]
            chosen[rows, column] = np.clip(knob.value(u), np.nanmin(held), np.nanmax(held))
        return chosen
