"""A device model that answers pulses the way measured devices did.

``EmpiricalDevice`` is built from a pulse-response table (``drivers.pulse_table``). Per
polarity the measured settings form a grid over amplitude, log10 width and, for a 1T1R table,
the gate (``empirical_grid``); every grid point keeps, per bin of ln G_before, the quantile
function of the response dG = G_after - G_before. So a SET from the high-resistance state and a
SET from an intermediate state answer as the table says each did, not as one average.

A pulse on a device at G draws u ~ U(0, 1). At each corner of its grid cell the answer is
G + dG, dG the u-quantile interpolated in ln G between the two nearest bin centres; the corners
are mixed multilinearly in ln G_after with the pulse's position between the measured levels
(quantile interpolation on the same u, so the whole distribution moves smoothly between
settings). The model counts every pulse it answered at a measured setting, between measured
ones (interpolated), beyond them (clamped), from a grid point without rows of its own (nearest
measured setting) and from a G beyond the G_before measured; ``usage()`` is that summary.

A pulse outside the measured range of a knob raises ``DataError`` (``out_of_range="raise"``,
the default) or, with ``out_of_range="clamp"``, takes the nearest measured level and is counted.
A pulse the table cannot answer at all (a polarity it never measured; a gate on a table without
a gate column, or none on a table with one) raises ``DataError`` naming that setting.

A device keeps its own share of the response (``device_share`` per polarity, estimated from
cells measured more than once at one setting, ``empirical_persistence``): one latent rank per
device correlates its draws, so a device that landed high once tends to land high again.

Measured pairs carry the lab's read noise twice (in the read before and the read after); the
model estimates it from consecutive reads (``empirical_noise``), narrows each bin's response by
the 2 sigma(G)^2 it contains, and lets the crossbar add sigma back on every read
(``params.read_noise_relative`` and ``params.read_noise_floor_S``).
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable

from . import empirical_noise as noise
from . import empirical_persistence as persistence
from .device_model import DeviceModel
from .empirical_grid import PolarityGrid, build_grids, pulse_coords
from .physics import DeviceParams

OUT_OF_RANGE = ("raise", "clamp")
COUNTS = ("pulses", "measured", "interpolated", "clamped", "nearest_measured",
          "g_beyond_measured")
_CLAMP_HINT = ("the empirical model does not extrapolate (empirical_out_of_range = 'clamp' in "
               "[array], or out_of_range='clamp' in Python, uses the nearest measured level "
               "and counts it)")


class EmpiricalDevice(DeviceModel):
    """Devices whose response to a pulse is drawn from a measured pulse-response table.

    Parameters
    ----------
    table : PulseTable
        Measured pulses (one row each).
    min_per_bin : int
        Fewest rows in a G_before bin, hence in a measured setting.
    max_bins : int
        Most G_before bins per setting.
    out_of_range : {"raise", "clamp"}
        What a pulse beyond the measured range of a knob does.
    read_noise : "estimate" or (relative, floor_S)
        Read noise sigma(G) = sqrt((relative G)^2 + floor^2), or estimated from consecutive
        reads (0 if there are none).
    params : DeviceParams, optional
        Read noise and relaxation the crossbar adds; default: the read noise above only.
    """

    def __init__(self, table: PulseTable, min_per_bin: int = 30, max_bins: int = 16,
                 out_of_range: str = "raise",
                 read_noise: str | tuple[float, float] = "estimate",
                 params: DeviceParams | None = None) -> None:
        if out_of_range not in OUT_OF_RANGE:
            raise DataError(f"out_of_range = {out_of_range!r}: expected one of "
                            f"{', '.join(OUT_OF_RANGE)}")
        self.out_of_range = out_of_range
        g_all = np.concatenate([table.g_before, table.g_after])
        self.g_low, self.g_high = float(g_all.min()), float(g_all.max())
        self._low_states = np.sort(g_all)[: max(1, g_all.size // 20)]
        self.grids, self.bank, place = build_grids(table, min_per_bin, max_bins)
        self.counts = dict.fromkeys(COUNTS, 0)
        relative, floor = (self._read_noise(table) if read_noise == "estimate"
                           else _given_noise(read_noise))
        self.read_noise_relative, self.read_noise_S = float(relative), float(floor)
        self.device_share = persistence.device_share(table, place,
                                                     self._read_sigma(table.g_before))
        self._device_z: np.ndarray | None = None
        self.bank.quantiles = noise.narrow(self.bank.quantiles, self.bank.centres,
                                           self.read_noise_relative, self.read_noise_S)
        self.params = params or DeviceParams(
            g_min_S=self.g_low, g_max_S=self.g_high, read_noise_relative=self.read_noise_relative,
            read_noise_floor_S=self.read_noise_S, stuck_fraction=0.0)

    def _read_noise(self, table: PulseTable) -> tuple[float, float]:
        i, j = noise.next_rows(table)
        relative, floor = noise.separate_read_noise(table, i, j)
        if relative > 0 or floor > 0:
            return relative, floor
        median = np.empty(len(table))
        for polarity, grid in self.grids.items():
            rows = np.flatnonzero(table.polarity == polarity)
            g = table.g_before[rows]
            median[rows] = self._answer(grid, g, pulse_coords(table, rows, grid.gated),
                                        np.full(rows.size, 0.5), count=False) - g
        return 0.0, noise.shared_read_noise(table, i, j, median)

    # -- DeviceModel ------------------------------------------------------------------------
    def start(self, n: int, population_rng: np.random.Generator,
              state_rng: np.random.Generator) -> np.ndarray:
        """After a block RESET: each device at one of the lowest 5 % of measured conductances."""
        self.healthy = np.ones(n, dtype=bool)
        self._device_z = population_rng.standard_normal(n)
        if self.params.random_initial_state:
            return state_rng.random(n)
        return self.state_of(state_rng.choice(self._low_states, size=n))

    def switch(self, flat: np.ndarray, x: np.ndarray, volts: np.ndarray, width: np.ndarray,
               gate: np.ndarray | None, noise: np.random.Generator) -> np.ndarray:
        g = self.conductance(x, flat)
        polarity = np.where(volts > 0, 1, -1)
        gate = np.full(flat.size, np.nan) if gate is None else gate
        g_after = self.respond(g, polarity, np.abs(volts), width, gate, noise, devices=flat)
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
                width: np.ndarray, gate: np.ndarray, rng: np.random.Generator,
                devices: np.ndarray | None = None) -> np.ndarray:
        """G_after (S) for devices at ``g`` (S) given one pulse each; vectorised.

        ``polarity`` is +1/-1, ``amplitude`` a magnitude in volts, ``width`` in seconds,
        ``gate`` in volts (NaN for none). ``devices`` (flat indices into the array ``start``
        made) lets each device keep its own share of the response (``device_share``); without
        them every pulse is a fresh draw from the measured distribution.
        """
        g = np.asarray(g, dtype=np.float64)
        gate = np.asarray(gate, dtype=np.float64)
        out = np.empty_like(g)
        for p in np.unique(polarity):
            mask = polarity == p
            grid = self._grid_for(int(p), amplitude[mask], width[mask], gate[mask])
            coords = [amplitude[mask], np.log10(width[mask])]
            coords += [gate[mask]] if grid.gated else []
            z = None if devices is None else self._device_z[devices[mask]]
            u = persistence.draw_quantiles(int(mask.sum()), self.device_share[int(p)], z, rng)
            out[mask] = self._answer(grid, g[mask], coords, u)
        return out

    def respond_as_read(self, g_read: np.ndarray, polarity: np.ndarray, amplitude: np.ndarray,
                        width: np.ndarray, gate: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
        """G_after as a lab would read it, given the read G_before: what a measured row is.

        The true state is the read minus its read noise; the read after adds fresh noise.
        """
        g_read = np.asarray(g_read, dtype=np.float64)
        true_before = g_read - self._read_sigma(g_read) * rng.standard_normal(g_read.size)
        after = self.respond(true_before, polarity, amplitude, width, gate, rng)
        return after + self._read_sigma(after) * rng.standard_normal(g_read.size)

    def _read_sigma(self, g: np.ndarray) -> np.ndarray:
        return np.hypot(self.read_noise_relative * g, self.read_noise_S)

    def _answer(self, grid: PolarityGrid, g: np.ndarray, coords: list[np.ndarray],
                u: np.ndarray, count: bool = True) -> np.ndarray:
        """G_after of devices at ``g`` for pulses at ``coords`` on ``grid``, counted."""
        outside = self._outside(grid, coords) if count else np.zeros(g.size, bool)
        g = np.maximum(g, self.g_low)
        log_after = np.zeros(g.size)
        between = np.zeros(g.size, bool)
        from_hole = np.zeros(g.size, bool)
        beyond = np.zeros(g.size, bool)
        for used, weight, setting, hole in grid.corners(coords):
            between[used] |= weight < 1
            from_hole[used] |= hole
            dg, past = self.bank.draw(setting, g[used], u[used])
            beyond[used] |= past
            log_after[used] += weight * np.log(np.maximum(g[used] + dg, self.g_low))
        if count:
            self._count(outside, between, from_hole, beyond)
        return np.exp(log_after)

    def _outside(self, grid: PolarityGrid, coords: list[np.ndarray]) -> np.ndarray:
        """Pulses beyond the measured range of any knob; they raise unless clamping."""
        outside = np.zeros(coords[0].size, bool)
        for axis, value in zip(grid.axes, coords, strict=True):
            beyond = axis.locate(value)[2]
            if beyond.any() and self.out_of_range == "raise":
                shown = axis.show(value[np.flatnonzero(beyond)[0]])
                raise DataError(f"{grid.name} pulse {axis.name} {shown} lies outside the "
                                f"measured {grid.name} {axis.name}s ({axis.describe()}); "
                                + _CLAMP_HINT)
            outside |= beyond
        return outside

    def _count(self, outside, between, from_hole, beyond) -> None:
        c = self.counts
        c["pulses"] += outside.size
        c["clamped"] += int(outside.sum())
        c["nearest_measured"] += int((from_hole & ~outside).sum())
        c["interpolated"] += int((between & ~outside & ~from_hole).sum())
        c["measured"] += int((~between & ~outside & ~from_hole).sum())
        c["g_beyond_measured"] += int(beyond.sum())

    def _grid_for(self, polarity: int, amplitude, width, gate) -> PolarityGrid:
        """The polarity's grid, or one line naming the setting the table lacks."""
        name = Polarity(polarity).name
        grid = self.grids.get(polarity)
        if grid is None or grid.hole.all():
            why = "no" if grid is None else "too few"
            raise DataError(f"the empirical table has {why} {name} rows: a {name} pulse "
                            f"({amplitude[0]:.4g} V, {width[0]:.4g} s) has no measured response")
        given = np.isfinite(gate)
        if grid.gated and not given.all():
            raise DataError(f"the empirical table's {name} rows were measured with a gate "
                            f"({grid.axes[-1].describe()}), but a {name} pulse carries none: "
                            "give the protocol a gate (protocol.gate_V)")
        if not grid.gated and given.any():
            raise DataError(f"the empirical table's {name} rows have no gate_V, but a {name} "
                            f"pulse carries gate {gate[given][0]:.4g} V: the table cannot answer "
                            "gate-driven pulses (measure them with their gate_V)")
        return grid

    # -- the summary a run reports ----------------------------------------------------------
    def usage(self) -> dict[str, float | int]:
        """How the pulses so far were answered, and the read noise the model adds."""
        return {**self.counts, "read_noise_relative": self.read_noise_relative,
                "read_noise_floor_S": self.read_noise_S,
                "device_share": {Polarity(p).name: w for p, w in self.device_share.items()}}


def _given_noise(read_noise) -> tuple[float, float]:
    """(relative, floor_S) as given, both finite and >= 0."""
    try:
        relative, floor = (float(v) for v in read_noise)
    except (TypeError, ValueError):
        relative = floor = np.nan
    if not (np.isfinite(relative) and np.isfinite(floor) and relative >= 0 and floor >= 0):
        raise DataError(f"read_noise = {read_noise!r}: expected 'estimate' or "
                        "(relative >= 0, floor >= 0 S)")
    return relative, floor


def usage_line(usage: dict) -> str:
    """One console line of ``EmpiricalDevice.usage()``."""
    return (f"empirical table: {usage['pulses']} pulses, {usage['measured']} at measured "
            f"settings, {usage['interpolated']} interpolated, {usage['clamped']} clamped, "
            f"{usage['nearest_measured']} from the nearest measured setting, "
            f"{usage['g_beyond_measured']} from a G beyond the measured one")
