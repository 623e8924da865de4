"""One-shot vs write-verify vs planned write-verify on identical copies of one simulated array.

The planned protocols run with the neural planner, with each baseline planner given (the lookup
planner: the setting whose median measured outcome is closest to the target, the baseline a
learned planner must beat) and with the oracle planner, the physical limit every figure is
reported against.

Relative difference everywhere: |G - G_target| / G_target, with G the verify read (what a rig
knows); ``true_success_final`` uses the simulator's noise-free conductance instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hilctl.drivers import Cells, ConfigError
from hilctl.protocols import ProgrammingProtocol, ProgramResult, program, relative_error
from hilctl.protocols.planner import PulsePlanner
from hilctl.simulated_backend import SimulatedCrossbar

from ..assemble import Job
from ..config_tables import ProtocolConfig
from ..registry import PLANNED, PROTOCOLS, build_protocol, oracle_planner
from ..report.console import COST_AXES
from ..targets import programmed_cells

PlannerFactory = Callable[[str, SimulatedCrossbar], PulsePlanner]
# The classic write-verify (ISPP on the gate of 1T1R cells, a voltage ramp on 1R) every
# protocol's pulses, time and energy are also reported against.
ISPP = ProtocolConfig().name


@dataclass
class Comparison:
    """Per-protocol results and figures: with the predictor's planner, with each baseline
    planner (planned protocols only, by planner name) and with the oracle."""

    tolerance: float
    cells: int
    results: dict[str, ProgramResult]
    oracle_results: dict[str, ProgramResult]
    baseline_results: dict[str, dict[str, ProgramResult]] = field(default_factory=dict)

    def report(self) -> dict:
        oracle = {name: figures(r, self.tolerance) for name, r in self.oracle_results.items()}
        protocols = self._against(self.results, oracle)
        baselines = {planner: self._against(results, oracle)
                     for planner, results in self.baseline_results.items()}
        if ISPP in protocols:
            for entries in (protocols, *baselines.values(), oracle):
                for entry in entries.values():
                    entry["ratio_to_ispp"] = ratios_over(entry, protocols[ISPP], COST_AXES)
        cost = next(iter(self.results.values())).cost_model
        return {"tolerance": self.tolerance, "cells": self.cells,
                "relative_difference": "|G - G_target| / G_target (G: verify read)",
                "energy_model": cost.describe_energy(), "cost_settings": cost.settings(),
                "ispp": ISPP if ISPP in protocols else None,
                "protocols": protocols, "baselines": list(baselines), **baselines,
                "oracle": oracle}

    def _against(self, results: dict[str, ProgramResult], oracle: dict) -> dict:
        """Figures of ``results``, each with its ratio to its oracle reference."""
        out = {name: figures(r, self.tolerance) for name, r in results.items()}
        for name, entry in out.items():
            reference = PROTOCOLS[name].oracle_reference
            if reference in oracle:
                entry["oracle_reference"] = reference
                entry["ratio_to_oracle"] = ratios_over(entry, oracle[reference], (
                    *COST_AXES, "success_1pulse_10pct", "success_1pulse", "success_final"))
        return out


def figures(result: ProgramResult, tolerance: float) -> dict:
    """The comparison figures of one programmed array."""
    first = relative_error(result.after_first_pulse, result.targets)
    final = relative_error(result.final_read, result.targets)
    summary = result.summary()
    out = {
        "success_1pulse": float(np.mean(first <= tolerance)),
        "success_1pulse_10pct": float(np.mean(first <= 0.10)),
        "success_1pulse_50pct": float(np.mean(first <= 0.50)),
        "success_final": float(result.success.mean()),
        "pulses_mean": summary["pulses_mean"],
        "pulses_median": summary["pulses_median"],
        "pulses_p95": summary["pulses_p95"],
        "program_time_s": summary["program_time_s"],
        "time_terms_s": summary["time_terms_s"],
        "pulse_groups": summary["pulse_groups"],
        "round_trips": summary["round_trips"],
        "energy_J": summary["energy_J"],
        "rounds": summary["rounds"],
        "block_reset": summary["block_reset"],
        "failed_cells": summary["failed_cells"],
        "final_error": {"median": float(np.median(final)),
                        "p90": float(np.percentile(final, 90)),
                        "p99": float(np.percentile(final, 99))},
    }
    if result.true_final is not None:
        out["true_success_final"] = summary["true_success_rate"]
        out["falsely_accepted"] = summary["falsely_accepted"]
    return out


def ratios_over(entry: dict, reference: dict, keys: tuple[str, ...]) -> dict[str, float | None]:
    """``entry``'s figures over ``reference``'s (None where the reference is 0)."""
    return {key: None if reference[key] == 0 else entry[key] / reference[key] for key in keys}


def run_comparison(job: Job, protocols: list[str], targets: np.ndarray,
                   planner_for: PlannerFactory | None, with_oracle: bool,
                   progress: Callable[[str], None] | None = None,
                   baselines: dict[str, PlannerFactory] | None = None) -> Comparison:
    """Program identical copies of the configured simulated array, one per protocol, and one
    per planned protocol and baseline planner (``baselines``: factory by planner name).
    Protocol names are checked by the caller (``hilctl.compare``) and by the registry."""
    if job.config.rig is not None:
        raise ConfigError("compare runs on identical simulated arrays; drop the [rig] table")
    if planner_for is None and any(p in PLANNED for p in protocols):
        raise ConfigError("planned protocols need a predictor")

    def oracle(name: str, crossbar: SimulatedCrossbar) -> PulsePlanner:
        return oracle_planner(job, crossbar)

    results = {}
    for name in protocols:
        results[name] = _program_copy(job, name, targets, planner_for, progress, "")
    baseline_results = {
        planner: {name: _program_copy(job, name, targets, factory, progress, f" ({planner})")
                  for name in protocols if name in PLANNED}
        for planner, factory in (baselines or {}).items()}
    oracle_results = {}
    if with_oracle:
        wanted = {PROTOCOLS[p].oracle_reference for p in protocols}
        for name in (p for p in PLANNED if p in wanted):
            oracle_results[name] = _program_copy(job, name, targets, oracle, progress,
                                                 " (oracle)")
    tolerance = job.stop_rules.tolerance.relative
    return Comparison(tolerance, int(np.isfinite(targets).sum()), results, oracle_results,
                      {planner: r for planner, r in baseline_results.items() if r})


def _program_copy(job: Job, name: str, targets: np.ndarray,
                  planner_for: PlannerFactory | None, progress, label: str) -> ProgramResult:
    if progress:
        progress(f"programming with {name}{label}")
    crossbar = job.open_crossbar()
    with crossbar:
        protocol = protocol_named(job, name, crossbar, planner_for)
        flat = programmed_cells(targets)
        cells = Cells.from_flat(flat, crossbar.shape)
        return program(protocol, crossbar, cells, targets.ravel()[flat],
                       job.stop_rules, job.cost_model(crossbar))


def protocol_named(job: Job, name: str, crossbar, planner_for) -> ProgrammingProtocol:
    """Protocol ``name`` with the job's settings, with the planner ``planner_for`` makes if it
    plans."""
    planner = planner_for(name, crossbar) if PROTOCOLS[name].needs_planner else None
    return build_protocol(job, crossbar, planner, name)
