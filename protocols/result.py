"""What a programming run returns, and the cost model behind its time and energy figures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import Cells

from .tolerance import Bands


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
        Time each pulse costs beyond its width (instrument set-up), in seconds.
    """

    read_time_s: float = 1e-6
    read_V: float = 0.2
    iv_v0_V: float | None = 0.3
    compliance_A: float | None = None
    pulse_setup_s: float = 0.0

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

    @property
    def program_time_s(self) -> float:
        return self.pulse_time_s + self.reads * self.cost_model.read_time_s

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
            "energy_J": float(self.energy_J),
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
