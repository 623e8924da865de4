"""When a cell counts as programmed: inside a band around its target."""

from __future__ import annotations

from dataclasses import dataclass

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
