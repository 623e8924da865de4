"""Builds the crossbar a configuration names: the embedded simulator or an instrument rig.

The choice is explicit in the configuration (a ``[rig]`` table means real instruments); nothing
is chosen at import time.
"""

from __future__ import annotations

from drivers import Crossbar
from hilctl.config import RunConfig
from simulated_backend import DeviceParams, SimulatedCrossbar, preset


def device_params(config: RunConfig) -> DeviceParams:
    """The configured preset with the ``[device]`` overrides applied."""
    return preset(config.array.preset).replace(**config.device)


def open_crossbar(config: RunConfig, seed_offset: int = 0) -> Crossbar:
    """The crossbar to program. ``seed_offset`` gives a distinct simulated array (tiles)."""
    if config.rig is not None:
        from hilctl.rig_config import RigConfig, open_rig

        return open_rig(RigConfig.model_validate(config.rig))
    return SimulatedCrossbar((config.array.rows, config.array.cols), device_params(config),
                             config.limits.build(), seed=config.array.seed + seed_offset)
