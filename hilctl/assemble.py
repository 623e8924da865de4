"""Builds the crossbar a configuration names: the embedded simulator or an instrument rig.

The choice is explicit in the configuration (a ``[rig]`` table means real instruments); nothing
is chosen at import time.
"""

from __future__ import annotations

import functools
from pathlib import Path

from hilctl.drivers import ConfigError, Crossbar
from hilctl.drivers.pulse_table import PulseTable
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar
from hilctl.simulated_backend.device_model import DeviceModel, ParametricDevice
from hilctl.simulated_backend.empirical import EmpiricalDevice
from hilctl.simulated_backend.presets import load_preset

from .config import RunConfig


def device_params(config: RunConfig) -> DeviceParams:
    """The configured preset (a name or a fitted ``.toml``) with ``[device]`` overrides."""
    return load_preset(config.array.preset).replace(**config.device)


def device_model(config: RunConfig) -> DeviceModel:
    """The parametric preset, or the empirical model of a measured table if one is named."""
    if config.array.empirical_table is None:
        return ParametricDevice(device_params(config))
    path = Path(config.array.empirical_table)
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return EmpiricalDevice(_measured_table(str(path), mtime),
                           out_of_range=config.array.empirical_out_of_range)


@functools.lru_cache(maxsize=4)
def _measured_table(path: str, mtime_ns: int) -> PulseTable:
    """A measured table parsed once per version of the file: a run needs its device model
    twice (target window, then the array), and a lab's table can be large."""
    return PulseTable.read_csv(path)


def open_crossbar(config: RunConfig, n_arrays: int = 1) -> Crossbar:
    """The crossbar to program.

    ``n_arrays`` > 1 asks for several arrays of the configured shape (a network tiled across
    arrays); the simulator stacks them row-wise into one crossbar of ``n_arrays * rows`` rows
    with devices of the same type, so cell (a * rows + r, c) is cell (r, c) of array a.
    """
    if config.rig is not None:
        if n_arrays > 1:
            raise ConfigError(f"this programming job needs {n_arrays} arrays of "
                              f"{config.array.rows}x{config.array.cols}; a rig drives one")
        from .rig_config import RigConfig, open_rig

        return open_rig(RigConfig.model_validate(config.rig))
    shape = (config.array.rows * n_arrays, config.array.cols)
    return SimulatedCrossbar(shape, limits=config.limits.build(), seed=config.array.seed,
                             model=device_model(config))
