"""Builds the crossbar a configuration names: the embedded simulator or an instrument rig.

The choice is explicit in the configuration (a ``[rig]`` table means real instruments); nothing
is chosen at import time.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

from hilctl.drivers import ConfigError, Crossbar, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols import CostModel, Schedule
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.simulated_backend.device_model import DeviceModel
from hilctl.simulated_backend.physics import CellParams
from hilctl.simulated_backend.presets import device_for, load_preset

from .config import RunConfig
from .rig_config import RigConfig, StricterLimits, stricter


@runtime_checkable
class Relaxable(Protocol):
    """A crossbar whose time can be advanced on request (a simulator; a rig just waits)."""

    def sim_relax(self, seconds: float) -> bool: ...


@runtime_checkable
class KnowsDevices(Protocol):
    """A crossbar that holds its devices' true parameters (only a simulator can), which the
    oracle planner inverts."""

    population: object


@runtime_checkable
class AccessTransistor(Protocol):
    """A device model whose cells sit behind an access transistor (1T1R): the gate, not the
    pulse, sets where a SET lands, every pulse must carry one, and protocols that plan none
    send the gate that turns the transistor fully on."""

    @property
    def full_gate_V(self) -> float: ...


@runtime_checkable
class CountsUsage(Protocol):
    """A device model that counts how its pulses were answered: at measured settings,
    interpolated, clamped (the empirical model of a measured table)."""

    def usage(self) -> dict[str, float | int]: ...


def default_gate(config: RunConfig) -> float | None:
    """The gate every pulse carries where a protocol plans none: ``protocol.gate_V``, else the
    fully-on gate of a 1T1R array's devices, else none (1R)."""
    if config.protocol.gate_V is not None:
        return config.protocol.gate_V
    model = device_model(config)
    return model.full_gate_V if isinstance(model, AccessTransistor) else None


def device_params(config: RunConfig) -> CellParams:
    """The configured preset (a name or a fitted ``.toml``) with ``[device]`` overrides."""
    return load_preset(config.array.preset).replace(**config.device)


def device_model(config: RunConfig) -> DeviceModel:
    """The parametric preset, or the empirical model of a measured table if one is named."""
    if config.array.empirical_table is None:
        return device_for(device_params(config))
    from hilctl.simulated_backend.empirical import EmpiricalDevice  # scipy: only for a table

    path = Path(config.array.empirical_table)
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return EmpiricalDevice(_measured_table(str(path), mtime),
                           out_of_range=config.array.empirical_out_of_range)


def cost_model(config: RunConfig, crossbar: Crossbar) -> CostModel:
    """The run's cost model: ``[cost]`` times, the ``[schedule]`` (refused on a rig whose board
    cannot pulse cells together), and the best device I-V known (see ``device_iv``)."""
    schedule = Schedule.named(config.schedule.mode)
    if config.rig is not None and not schedule.one_at_a_time:
        raise ConfigError(f"schedule.mode = {schedule.name!r}: the rig's board pulses one cell "
                          "at a time (BATCH and SEQ in drivers/BOARD_PROTOCOL.md); use "
                          "mode = \"none\" on a rig")
    v0, source = device_iv(config, crossbar)
    cost = config.cost
    return CostModel(read_time_s=cost.read_time_s, read_V=crossbar.limits.read_V,
                     iv_v0_V=v0, compliance_A=crossbar.limits.compliance_A,
                     pulse_setup_s=cost.pulse_setup_s, round_trip_s=cost.round_trip_s,
                     settle_s=cost.settle_s, schedule=schedule, iv_source=source)


def device_iv(config: RunConfig, crossbar: Crossbar) -> tuple[float | None, str]:
    """V0 of the devices' sinh I-V (None: ohmic) and where it comes from: ``[cost] iv_v0_V``,
    else a simulated array's own parameters, else (a rig) the preset its array was
    characterised with if the config names one. No SMU driver returns a pulse's own current
    (the 2600 script measures at the read voltage, the 2400 path pulses from the board's
    generator), so a rig's energy always comes from its reads and this I-V."""
    if config.cost.iv_v0_V is not None:
        return config.cost.iv_v0_V, "[cost] iv_v0_V"
    if config.rig is None:
        v0 = getattr(getattr(crossbar, "params", None), "iv_v0_V", None)
        return v0, "device parameters" if v0 is not None else "no I-V known"
    if "preset" in config.array.model_fields_set and config.array.empirical_table is None:
        return device_params(config).iv_v0_V, f"preset {config.array.preset}"
    return None, "no I-V known: set [cost] iv_v0_V or the rig's [array] preset"


def device_usage(crossbar: Crossbar) -> dict[str, dict]:
    """What a run reports about how its devices answered: for an empirical array, how many
    pulses were answered at measured settings, interpolated, clamped or from a G beyond the
    measured one (``EmpiricalDevice.usage``; after a resume, the pulses since it); nothing for
    other arrays."""
    model = getattr(crossbar, "model", None)
    return {"empirical": model.usage()} if isinstance(model, CountsUsage) else {}


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
        return open_rig(config.rig, config.limits_in_force())
    shape = (config.array.rows * n_arrays, config.array.cols)
    check_memory(shape[0] * shape[1])
    return SimulatedCrossbar(shape, limits=config.limits_in_force(), seed=config.array.seed,
                             model=device_model(config))


# Peak memory of a simulated run per cell: 630 B measured (peak RSS of hilctl program at 256x256
# and 768x768, hfox-1r), for the devices' parameters, the program state, the rounds in flight
# to the store and the result maps; rounded up.
BYTES_PER_SIMULATED_CELL = 640


def check_memory(cells: int) -> None:
    """Refuse, before anything is allocated, a simulated array this machine cannot hold."""
    needed = cells * BYTES_PER_SIMULATED_CELL
    available = available_memory()
    if available is not None and needed > available:
        raise ConfigError(f"a simulated array of {cells} cells needs about {needed / 2**30:.1f} "
                          f"GiB of memory, this machine has {available / 2**30:.1f} GiB "
                          "available; use fewer rows or columns")


def available_memory() -> int | None:
    """Bytes the system can give without swapping (Linux ``MemAvailable``), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def open_rig(cfg: RigConfig, limits: SafetyLimits | None = None,
             visa_library: str | None = None) -> Crossbar:
    """Connect to the SMU and the board of ``cfg`` and return them as one ``Crossbar``.

    ``limits`` (default: ``[rig.limits]``) are first tightened to what the board's pulse
    generator reports, so the limits in force are never looser than any instrument's; a
    ``StricterLimits`` warning says which. ``visa_library`` is one the user named on the
    command line (a config only ever names the pure-Python backend). The instruments are
    identified and configured (output off at 0 V, compliance set, error queues drained)
    before this returns; no pulse is applied. The instrument modules are imported here, so
    validating a config never needs pyvisa or pyserial.
    """
    from hilctl.drivers.instrument_crossbar import open_instrument_crossbar

    limits, tightened = stricter(limits or cfg.limits.build(), board_limits(cfg))
    if tightened:
        fields = ", ".join(f"{key} = {getattr(limits, key):.3g}" for key in tightened)
        warnings.warn(f"the board's pulse generator is stricter than the config; in force: "
                      f"{fields}", StricterLimits, stacklevel=2)
    return open_instrument_crossbar(
        smu_model=cfg.smu.model, smu_resource=cfg.smu.resource,
        visa_library=visa_library or cfg.smu.visa_library, channel=cfg.smu.channel,
        aperture_s=cfg.smu.nplc / cfg.smu.line_frequency_Hz,
        line_frequency_Hz=cfg.smu.line_frequency_Hz,
        board_url=cfg.board.url, baudrate=cfg.board.baudrate,
        limits=limits, connect_timeout_s=cfg.timeouts.connect_s,
        margin_s=cfg.timeouts.margin_s, factor=cfg.timeouts.factor,
        shape=(cfg.rows, cfg.cols) if cfg.rows and cfg.cols else None,
    )


def board_limits(cfg: RigConfig) -> dict[str, float]:
    """The limits the board's pulse generator reports (asked before anything is sourced)."""
    from hilctl.drivers.board import CrossbarBoard

    timing = {"connect_timeout_s": cfg.timeouts.connect_s, "margin_s": cfg.timeouts.margin_s,
              "factor": cfg.timeouts.factor}
    board = CrossbarBoard.open(cfg.board.url, cfg.limits.build(), cfg.board.baudrate, **timing)
    try:
        return board.hardware_limits()
    finally:
        board.close()
