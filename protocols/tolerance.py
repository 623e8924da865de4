"""When a cell counts as programmed: inside a band around its target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hilctl.drivers import ConfigError


@dataclass(frozen=True)
class Tolerance:
    """A relative band (fraction of the target) or an absolute one (siemens), never both."""

    relative: float | None = 0.05
    absolute_S: float | None = None

    def __post_init__(self) -> None:
        if (self.relative is None) == (self.absolute_S is None):
            raise ConfigError("tolerance: give exactly one of a relative or an absolute band")
        value = self.relative if self.relative is not None else self.absolute_S
        if not (np.isfinite(value) and value > 0):
            raise ConfigError(f"tolerance = {value!r}: expected a positive number")

    def half_width(self, targets: np.ndarray) -> np.ndarray:
        """Half-width of each target's band in siemens."""
        if self.relative is not None:
            return self.relative * np.abs(targets)
        return np.full(np.shape(targets), self.absolute_S)

    def describe(self) -> str:
        if self.relative is not None:
            return f"{self.relative:.3g} relative"
        return f"{self.absolute_S:.3e} S absolute"


def relative_error(g: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """|G - G_target| / G_target, the relative difference every report uses."""
    return np.abs(g - targets) / np.abs(targets)


@dataclass(frozen=True, eq=False)
class Bands:
    """Named conductance bands [lower, upper] in siemens (the levels of a multi-level cell).

    The engine judges a cell by its target and a half-width, so a cell programmed to a band
    has the band's centre as its target: protocols aim at the middle of the band, and
    ``half_width`` gives each target its own band's half-width. A one-sided band is closed at
    the device range before it gets here (see ``hilctl.levels``).
    """

    relative: ClassVar[None] = None  # no one relative band, as for an absolute Tolerance

    names: tuple[str, ...]
    lower_S: np.ndarray
    upper_S: np.ndarray

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower_S, dtype=np.float64)
        upper = np.asarray(self.upper_S, dtype=np.float64)
        if not (lower.shape == upper.shape == (len(self.names),)) or not lower.size:
            raise ConfigError(f"bands: {len(self.names)} names for {lower.size} lower and "
                              f"{upper.size} upper bounds")
        empty = ~(np.isfinite(lower) & np.isfinite(upper) & (lower >= 0) & (lower < upper))
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise ConfigError(f"band {self.names[i]!r} [{lower[i]:.4g}, {upper[i]:.4g}] S "
                              "is empty")
        order = np.argsort(lower)
        overlap = np.flatnonzero(upper[order][:-1] > lower[order][1:])
        if overlap.size:
            a, b = (self.names[order[overlap[0]]], self.names[order[overlap[0] + 1]])
            raise ConfigError(f"bands {a!r} and {b!r} overlap")
        object.__setattr__(self, "lower_S", lower)
        object.__setattr__(self, "upper_S", upper)

    @property
    def targets_S(self) -> np.ndarray:
        """The centre of each band, the target a protocol aims at."""
        return 0.5 * (self.lower_S + self.upper_S)

    def level_of(self, targets: np.ndarray) -> np.ndarray:
        """Index of the band whose centre each target is; ``ConfigError`` for other targets."""
        targets = np.asarray(targets, dtype=np.float64)
        level = np.abs(targets[..., None] - self.targets_S).argmin(axis=-1)
        stray = ~np.isclose(self.targets_S[level], targets, rtol=1e-9, atol=0)
        if stray.any():
            raise ConfigError(f"target {targets[stray][0]:.4e} S is the centre of none of the "
                              f"bands {', '.join(self.names)}")
        return level

    def half_width(self, targets: np.ndarray) -> np.ndarray:
        return 0.5 * (self.upper_S - self.lower_S)[self.level_of(targets)]

    def describe(self) -> str:
        return ", ".join(f"{n} [{lo:.4g}, {hi:.4g}] S"
                         for n, lo, hi in zip(self.names, self.lower_S, self.upper_S,
                                              strict=True))


@dataclass(frozen=True, eq=False)
class CellBands:
    """Each cell's own band [lower, upper] in siemens (a targets file with per-cell bounds).

    As with ``Bands``, a cell's target is its band's centre; ``half_width`` finds each target's
    band by that centre, so cells whose bands share a centre must share the band.
    """

    relative: ClassVar[None] = None  # no one relative band, as for an absolute Tolerance

    lower_S: np.ndarray
    upper_S: np.ndarray

    def __post_init__(self) -> None:
        lower, upper = np.asarray(self.lower_S, float), np.asarray(self.upper_S, float)
        empty = ~(np.isfinite(lower) & np.isfinite(upper) & (lower >= 0) & (lower < upper))
        if lower.shape != upper.shape or empty.any():
            raise ConfigError("cell bands: every band needs 0 <= lower < upper (S)")
        centre, half = 0.5 * (lower + upper), 0.5 * (upper - lower)
        order = np.argsort(centre, kind="stable")
        centre, half = centre[order], half[order]
        same = np.flatnonzero((np.diff(centre) == 0) & (np.diff(half) != 0))
        if same.size:
            raise ConfigError(f"cell bands: two bands centred at {centre[same[0]]:.4e} S differ "
                              "in width; cells aiming at one conductance need one band")
        object.__setattr__(self, "_centre", centre)
        object.__setattr__(self, "_half", half)

    @property
    def targets_S(self) -> np.ndarray:
        return 0.5 * (np.asarray(self.lower_S) + np.asarray(self.upper_S))

    def half_width(self, targets: np.ndarray) -> np.ndarray:
        targets = np.asarray(targets, dtype=np.float64)
        at = np.clip(np.searchsorted(self._centre, targets), 0, self._centre.size - 1)
        if not np.isclose(self._centre[at], targets, rtol=1e-12, atol=0).all():
            raise ConfigError("a target is the centre of none of the cells' bands")
        return self._half[at]

    def describe(self) -> str:
        return f"per-cell bands ({self._centre.size} cells)"
