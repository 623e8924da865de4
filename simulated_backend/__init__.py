"""Simulated devices and arrays that implement the ``drivers`` interfaces."""

from simulated_backend.crossbar import SimulatedCrossbar
from simulated_backend.device_model import DeviceParams, DevicePopulation
from simulated_backend.oracle import OraclePlanner
from simulated_backend.presets import DEFAULT_PRESET, PRESETS, preset

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "DeviceParams",
    "DevicePopulation",
    "OraclePlanner",
    "SimulatedCrossbar",
    "preset",
]
