"""Makes a configuration into the typed parts of one job (``Job``), among them the crossbar it
names: the embedded simulator or an instrument rig.

The choice is explicit in the configuration (a ``[rig]`` table means real instruments); nothing
is chosen at import time.
"""

from __future__ import annotations

import warnings
from functools import cached_property
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from hilctl.drivers import ConfigError, Crossbar, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols import CostModel, Schedule, StopRules, Tolerance
from hilctl.protocols.settings import ResetPulse
from hilctl.protocols.tolerance import Bands, CellBands
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.simulated_backend.array_backend import arrays_for
from hilctl.simulated_backend.device_model import DeviceModel
from hilctl.simulated_backend.physics import CellParams
from hilctl.simulated_backend.presets import device_for, load_preset

from .config import RunConfig
from .levels import bounds_targets, parse_levels
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


@runtime_checkable
class HoldsDeviceModel(Protocol):
    """A crossbar built on a device model (a simulator): its I-V and, for an empirical model,
    how its pulses were answered are known. A rig's devices are known only through reads."""

    model: DeviceModel


class Job:
    """A configuration made into its typed parts, each built once, on first use, for one job
    (a run, a characterization, a comparison): limits in force, device model and window,
    stop rules, bands, the default gate; ``open_crossbar``, ``cost_model`` and the registry's
    ``build_protocol`` make the rest from them.

    A device model holds its array's devices, so every simulated array opened gets its own;
    the first array takes the one built for the window, so a one-array job builds one, and a
    measured table is read once per job (a table edited between jobs is read anew).
    """

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self._model_taken = False

    @property
    def shape(self) -> tuple[int, int]:
        return self.config.array.rows, self.config.array.cols

    @cached_property
    def limits(self) -> SafetyLimits:
        """The limits in force: ``[limits]``, or with a rig the stricter of it and the rig's."""
        return self.config.limits_in_force()

    @cached_property
    def params(self) -> CellParams:
        """The configured preset (a name or a fitted ``.toml``) with ``[device]`` overrides."""
        return load_preset(self.config.array.preset).replace(**self.config.device)

    @cached_property
    def measured_table(self) -> PulseTable | None:
        """The measured table of an empirical array, parsed once per job (it can be large)."""
        path = self.config.array.empirical_table
        return None if path is None else PulseTable.read_csv(path)

    @cached_property
    def device_model(self) -> DeviceModel:
        """The parametric preset, or the empirical model of the measured table."""
        return self._new_device_model()

    def _new_device_model(self) -> DeviceModel:
        if self.measured_table is None:
            return device_for(self.params)
        from hilctl.simulated_backend.empirical import EmpiricalDevice  # scipy: only for a table

        return EmpiricalDevice(self.measured_table,
                               out_of_range=self.config.array.empirical_out_of_range)

    def _model_for_array(self) -> DeviceModel:
        if self._model_taken:
            return self._new_device_model()
        self._model_taken = True
        return self.device_model

    @cached_property
    def window(self) -> tuple[float, float]:
        """The devices' nominal conductance range as read at the read voltage in force (S)."""
        return nominal_window(self.device_model, self.limits.read_V)

    @cached_property
    def gated(self) -> bool:
        """Whether the cells sit behind an access transistor (1T1R)."""
        return isinstance(self.device_model, AccessTransistor)

    @cached_property
    def default_gate(self) -> float | None:
        """The gate every pulse carries where a protocol plans none: ``protocol.gate_V``, else
        the fully-on gate of a 1T1R array's devices, else none (1R)."""
        if self.config.protocol.gate_V is not None:
            return self.config.protocol.gate_V
        return self.device_model.full_gate_V if self.gated else None

    @cached_property
    def block_reset(self) -> ResetPulse:
        """The configured full RESET, with the default gate where it names none."""
        reset = self.config.protocol.block_reset
        gate = reset.gate_V if reset.gate_V is not None else self.default_gate
        return ResetPulse(reset.amplitude_V, reset.width_s, gate)

    @cached_property
    def bands(self) -> Bands | None:
        """The bands of the configured ``[levels]``, open sides closed at the window."""
        levels = self.config.levels
        return None if levels is None else parse_levels(levels, self.window)

    @cached_property
    def cell_bands(self) -> tuple[np.ndarray, CellBands] | None:
        """Targets and per-cell bands of the configured bounds file (``targets.bounds_file``)."""
        path = self.config.targets.bounds_file
        return bounds_targets(path, self.shape, self.window) if path else None

    @cached_property
    def stop_rules(self) -> StopRules:
        """When a cell is done: in its band, out of pulses, or stalled."""
        p = self.config.protocol
        if self.bands is not None:
            tolerance = self.bands
        elif self.cell_bands is not None:
            tolerance = self.cell_bands[1]
        elif p.tolerance_abs_S is not None:
            tolerance = Tolerance(relative=None, absolute_S=p.tolerance_abs_S)
        else:
            tolerance = Tolerance(relative=p.tolerance)
        return StopRules(tolerance, p.max_pulses, p.stall_pulses, p.stall_response,
                         p.max_crossings)

    def open_crossbar(self, n_arrays: int = 1, seed: int | None = None) -> Crossbar:
        """The crossbar to program.

        ``n_arrays`` > 1 asks for several arrays of the configured shape (a network tiled
        across arrays); the simulator stacks them row-wise into one crossbar of
        ``n_arrays * rows`` rows with devices of the same type, so cell (a * rows + r, c) is
        cell (r, c) of array a. ``seed`` asks for another simulated array of the same devices
        (default ``array.seed``).
        """
        config = self.config
        if config.rig is not None:
            if n_arrays > 1:
                raise ConfigError(f"this programming job needs {n_arrays} arrays of "
                                  f"{config.array.rows}x{config.array.cols}; a rig drives one")
            return open_rig(config.rig, self.limits)
        shape = (config.array.rows * n_arrays, config.array.cols)
        check_memory(shape[0] * shape[1])
        return SimulatedCrossbar(shape, limits=self.limits,
                                 seed=config.array.seed if seed is None else seed,
                                 model=self._model_for_array(),
                                 arrays=arrays_for(config.array.backend, config.array.device))

    def cost_model(self, crossbar: Crossbar) -> CostModel:
        """The run's cost model: ``[cost]`` times, the ``[schedule]`` (refused on a rig whose
        board cannot pulse cells together), and the best device I-V known (``device_iv``)."""
        config = self.config
        schedule = Schedule.named(config.schedule.mode)
        if config.rig is not None and not schedule.one_at_a_time:
            raise ConfigError(f"schedule.mode = {schedule.name!r}: the rig's board pulses one "
                              "cell at a time (BATCH and SEQ in drivers/BOARD_PROTOCOL.md); use "
                              "mode = \"none\" on a rig")
        v0, source = self.device_iv(crossbar)
        cost = config.cost
        return CostModel(read_time_s=cost.read_time_s, read_V=crossbar.limits.read_V,
                         iv_v0_V=v0, compliance_A=crossbar.limits.compliance_A,
                         pulse_setup_s=cost.pulse_setup_s, round_trip_s=cost.round_trip_s,
                         settle_s=cost.settle_s, schedule=schedule, iv_source=source)

    def device_iv(self, crossbar: Crossbar) -> tuple[float | None, str]:
        """V0 of the devices' sinh I-V (None: ohmic) and where it comes from: ``[cost]
        iv_v0_V``, else a simulated array's own device model, else (a rig) the preset its
        array was characterised with if the config names one. No SMU driver returns a pulse's
        own current (the 2600 script measures at the read voltage, the 2400 path pulses from
        the board's generator), so a rig's energy always comes from its reads and this I-V."""
        config = self.config
        if config.cost.iv_v0_V is not None:
            return config.cost.iv_v0_V, "[cost] iv_v0_V"
        if config.rig is None:
            v0 = crossbar.model.params.iv_v0_V if isinstance(crossbar, HoldsDeviceModel) \
                else None
            return v0, "device parameters" if v0 is not None else "no I-V known"
        if "preset" in config.array.model_fields_set and config.array.empirical_table is None:
            return self.params.iv_v0_V, f"preset {config.array.preset}"
        return None, "no I-V known: set [cost] iv_v0_V or the rig's [array] preset"


def nominal_window(model: DeviceModel, read_V: float) -> tuple[float, float]:
    """The devices' nominal conductance range as read at ``read_V`` (S): the preset's, or the
    measured range of an empirical model."""
    factor = model.read_factor(read_V)
    return model.params.g_min_S * factor, model.params.g_max_S * factor


def device_usage(crossbar: Crossbar) -> dict[str, dict]:
    """What a run reports about how its devices answered: for an empirical array, how many
    pulses were answered at measured settings, interpolated, clamped or from a G beyond the
    measured one (``EmpiricalDevice.usage``; after a resume, the pulses since it); nothing for
    other arrays."""
    if isinstance(crossbar, HoldsDeviceModel) and isinstance(crossbar.model, CountsUsage):
        return {"empirical": crossbar.model.usage()}
    return {}


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
