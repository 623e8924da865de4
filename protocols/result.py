"""What a programming run returns, and the cost model behind its time and energy figures.

Usage::

    cost = CostModel(read_time_s=1e-6, iv_v0_V=0.3, iv_source="device parameters",
                     round_trip_s=1e-4, schedule=Schedule.named("row-parallel"))
    result = program(protocol, crossbar, cells, targets, cost=cost)
    result.time_terms()  # pulses, set-up, reads, round trips, settling (s)
    result.summary()["energy_model"]  # "sinh I-V, V0 = 0.3 V (device parameters), ..."

Time of a run = pulse widths (each parallel group's longest, see ``schedule``) + one set-up per
group + one read time per cell read + one host round trip per batch sent and per read asked
+ one settling time per batch (between its pulses and their verify read). Energy per pulse is
V I t with I = G_low V0 sinh(V / V0) from the last read conductance (ohmic without a V0),
capped at the compliance current.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hilctl.drivers import Cells, ConfigError, PulseBatch

from .schedule import Schedule
from .tolerance import Bands


@dataclass(frozen=True)
class BatchCost:
    """What one batch of pulses costs: its pulse time under the schedule (s, set-up apart),
    its parallel groups, and its energy (J)."""

    width_s: float
    groups: int
    energy_J: float


@dataclass(frozen=True)
class CostModel:
    """How pulses and reads turn into modelled time and energy.

    Parameters
    ----------
    read_time_s : float
        Time one verify read of one cell takes, in seconds.
    read_V : float
        Read voltage in volts at which readings are taken.
    iv_v0_V : float or None
        V0 of the device I-V I = G V0 sinh(V / V0); None for an ohmic device.
    compliance_A : float or None
        Current compliance in amperes: the access transistor or the SMU limits the pulse
        current to it, so no pulse draws more.
    pulse_setup_s : float
        Time each pulse (each parallel group of pulses) costs beyond its width (instrument
        set-up), in seconds.
    round_trip_s : float
        Host overhead of one round trip to the rig (a batch sent, a read asked), in seconds.
    settle_s : float
        Settling time between a batch's pulses and their verify read, in seconds.
    schedule : Schedule
        Which pulses of a batch go together (see ``schedule``).
    iv_source : str
        Where ``iv_v0_V`` comes from (``"device parameters"``, a preset, a config key), so the
        result can name the energy model it used.
    """

    read_time_s: float = 1e-6
    read_V: float = 0.2
    iv_v0_V: float | None = 0.3
    compliance_A: float | None = None
    pulse_setup_s: float = 0.0
    round_trip_s: float = 0.0
    settle_s: float = 0.0
    schedule: Schedule = field(default_factory=Schedule)
    iv_source: str = "assumed"

    def __post_init__(self) -> None:
        for name in ("read_time_s", "pulse_setup_s", "round_trip_s", "settle_s"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"cost.{name} = {value!r}: expected a time of 0 s or more")
        if self.iv_v0_V is not None and not self.iv_v0_V > 0:
            raise ConfigError(f"cost.iv_v0_V = {self.iv_v0_V!r}: expected a voltage above 0 V")

    def pulse_time(self, width: np.ndarray) -> np.ndarray:
        """Seconds each pulse costs: its width plus the set-up."""
        return np.asarray(width) + self.pulse_setup_s

    def pulse_energy(self, g_read: np.ndarray, volts: np.ndarray, width: np.ndarray) -> np.ndarray:
        """V * I * t per pulse in joules, with I from the last read conductance and the I-V."""
        volts = np.abs(volts)
        if self.iv_v0_V is None:
            current = g_read * volts
        else:
            v0 = self.iv_v0_V
            g_low_field = g_read * (self.read_V / v0) / np.sinh(self.read_V / v0)
            current = g_low_field * v0 * np.sinh(volts / v0)
        if self.compliance_A is not None:
            current = np.minimum(current, self.compliance_A)
        return volts * current * width

    def batch(self, g_read: np.ndarray, pulses: PulseBatch) -> BatchCost:
        """The cost of ``pulses`` on cells last read at ``g_read`` (S)."""
        timing = self.schedule.timing(pulses)
        energy = self.pulse_energy(g_read, pulses.amplitude, pulses.width).sum()
        return BatchCost(timing.width_s, timing.groups, float(energy))

    def time_terms(self, width_s: float, groups: int, reads: int, round_trips: int,
                   batches: int) -> dict[str, float]:
        """Each term of the modelled time (s) of a run with these counts."""
        return {"pulses_s": float(width_s), "set_up_s": groups * self.pulse_setup_s,
                "reads_s": reads * self.read_time_s,
                "round_trips_s": round_trips * self.round_trip_s,
                "settling_s": batches * self.settle_s}

    def describe_energy(self) -> str:
        """The energy model in words, e.g. ``sinh I-V, V0 = 0.3 V (device parameters)``."""
        if self.iv_v0_V is None:
            text = f"ohmic ({self.iv_source})"
        else:
            text = f"sinh I-V, V0 = {self.iv_v0_V:.3g} V ({self.iv_source})"
        if self.compliance_A is not None:
            text += f", capped at the {self.compliance_A:.3g} A compliance"
        return text

    def settings(self) -> dict[str, float | str]:
        """The time settings and the schedule, as ``result.json`` states them."""
        return {"schedule": self.schedule.name, "read_time_s": self.read_time_s,
                "pulse_setup_s": self.pulse_setup_s, "round_trip_s": self.round_trip_s,
                "settle_s": self.settle_s}


@dataclass
class ProgramResult:
    """Outcome of programming a set of cells.

    ``success`` is judged by the verify read, as on a real rig; ``true_final`` (simulator only)
    is the noise-free conductance, so that reads which falsely accepted a cell stay visible.
    ``after_first_pulse`` is each cell's read after its first pulse (its initial read if it
    was never pulsed). Conductances in siemens, times in seconds, energy in joules.
    """

    protocol: str
    cells: Cells
    targets: np.ndarray
    band: np.ndarray
    initial: np.ndarray
    after_first_pulse: np.ndarray
    final_read: np.ndarray
    true_final: np.ndarray | None
    success: np.ndarray
    failed: np.ndarray
    pulses: np.ndarray
    rounds: int
    pulse_time_s: float
    reads: int
    energy_J: float
    cost_model: CostModel
    block_reset: bool = False
    pulse_groups: int = 0
    batches: int = 0
    round_trips: int = 0

    def time_terms(self) -> dict[str, float]:
        """Pulses, set-up, reads, round trips and settling (s), as the cost model counts them."""
        return self.cost_model.time_terms(self.pulse_time_s, self.pulse_groups, self.reads,
                                          self.round_trips, self.batches)

    @property
    def program_time_s(self) -> float:
        return sum(self.time_terms().values())

    def true_success(self) -> np.ndarray | None:
        if self.true_final is None:
            return None
        return np.abs(self.true_final - self.targets) <= self.band

    def summary(self) -> dict:
        """The headline figures as plain JSON-ready numbers."""
        pulses = self.pulses
        true_success = self.true_success()
        verify_error = np.abs(self.final_read - self.targets) / self.targets
        out = {
            "protocol": self.protocol,
            "cells": int(len(self.cells)),
            "success_rate": float(self.success.mean()),
            **self._outcome_counts(),
            "pulses_mean": float(pulses.mean()),
            "pulses_median": float(np.median(pulses)),
            "pulses_p95": float(np.percentile(pulses, 95)),
            "rounds": int(self.rounds),
            "program_time_s": float(self.program_time_s),
            "pulse_time_s": float(self.pulse_time_s),
            "reads": int(self.reads),
            "read_time_per_cell_s": float(self.cost_model.read_time_s),
            "time_terms_s": self.time_terms(),
            "cost_settings": self.cost_model.settings(),
            "pulse_groups": int(self.pulse_groups),
            "round_trips": int(self.round_trips),
            "energy_J": float(self.energy_J),
            "energy_model": self.cost_model.describe_energy(),
            "block_reset": bool(self.block_reset),
            "verify_error_median": float(np.median(verify_error)),
            "verify_error_p95": float(np.percentile(verify_error, 95)),
        }
        if true_success is not None:
            true_error = np.abs(self.true_final - self.targets) / self.targets
            out["true_success_rate"] = float(true_success.mean())
            out["falsely_accepted"] = int((self.success & ~true_success).sum())
            out["true_error_median"] = float(np.median(true_error))
            out["true_error_p95"] = float(np.percentile(true_error, 95))
        return out

    def _outcome_counts(self) -> dict[str, int]:
        """Each cell once: in band, failed (stalled or stuck) or out of its pulse budget (the
        engine stopped before either), so the three add up to the cells."""
        failed = self.failed & ~self.success
        return {"in_band_cells": int(self.success.sum()), "failed_cells": int(failed.sum()),
                "out_of_budget_cells": int((~self.success & ~failed).sum())}

    def per_level(self, bands: Bands) -> dict[str, dict]:
        """Per band: cells, share in band (verify read, and true conductance on a simulator),
        and pulses per cell (mean, median, p95), each cell judged against its own band."""
        level = bands.level_of(self.targets)
        true_success = self.true_success()
        out = {}
        for i, name in enumerate(bands.names):
            mine = level == i
            if not mine.any():
                continue
            pulses = self.pulses[mine]
            out[name] = {"cells": int(mine.sum()), "success_rate": float(self.success[mine].mean()),
                         "pulses_mean": float(pulses.mean()),
                         "pulses_median": float(np.median(pulses)),
                         "pulses_p95": float(np.percentile(pulses, 95))}
            if true_success is not None:
                out[name]["true_success_rate"] = float(true_success[mine].mean())
        return out
