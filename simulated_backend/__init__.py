"""Simulated devices and arrays that implement the ``drivers`` interfaces."""

from .crossbar import SimulatedCrossbar
from .oracle import OraclePlanner
from .physics import DeviceParams, DevicePopulation
from .presets import DEFAULT_PRESET, PRESETS, preset

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "DeviceParams",
    "DevicePopulation",
    "OraclePlanner",
    "SimulatedCrossbar",
    "preset",
]
