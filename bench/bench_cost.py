"""What programming costs on every axis: ISPP vs planned write-verify vs one-shot.

    python bench/bench_cost.py [--size 64] [--big 512] [--presets hfox-1t1r,hfox-1r]

Prints two tables. The first: per preset, at tolerance 5 % and 2 %, the classic write-verify
(ISPP), planned write-verify and one-shot (both planned by a neural predictor trained on a
separate array) on identical copies of one simulated array: success, pulses per cell, modelled
time (pulse widths and reads, the simulator's [cost] defaults) and energy, each with its ratio to
ISPP. The second: modelled wall time per ``--big`` x ``--big`` array of the default preset under
each ``[schedule]``, with a host overhead of 0, 0.1 ms and 2 ms per round trip, from one run per
protocol: the batches of that run re-timed under each schedule (the schedule changes the time
accounting, never the pulses, so one run per protocol suffices). Every figure is modelled, so
the machine's load does not change it.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells, PulseBatch
from hilctl.protocols import SCHEDULES, CostModel, ProgramResult, Schedule, program
from hilctl.registry import neural_planner
from hilctl.run.compare import ISPP, protocol_named, run_comparison
from hilctl.run.sibling_predictor import train_on_sibling_array
from hilctl.simulated_backend import DEFAULT_PRESET
from hilctl.targets import programmed_cells, targets_for

PROTOCOLS = (ISPP, "write-verify-planned", "one-shot")
TOLERANCES = (0.05, 0.02)
ROUND_TRIPS_S = (0.0, 1e-4, 2e-3)


def planners(config):
    """The neural planner ``hilctl program`` builds for a job (its objective and bands), of a
    predictor trained once on a separate array of the job's preset."""
    predictor, _ = train_on_sibling_array(Job(config), say=lambda *_: None)
    return lambda job: (lambda name, crossbar: neural_planner(job, crossbar, predictor))


def axes_table(presets: list[str], size: int, seed: int) -> Table:
    table = Table(title=f"{size}x{size}, random targets: pulses, modelled time, energy")
    for column in ("preset", "tol", "protocol", "in band", "true in band", "pulses/cell",
                   "time ms", "energy nJ", "x ISPP pulses", "x ISPP time", "x ISPP energy"):
        table.add_column(column, justify="right")
    for name in presets:
        base = {"array": {"rows": size, "cols": size, "seed": seed, "preset": name}}
        planners_of = planners(build_config(base))
        for tolerance in TOLERANCES:
            job = Job(build_config({**base, "protocol": {"tolerance": tolerance}}))
            report = run_comparison(job, list(PROTOCOLS), targets_for(job), planners_of(job),
                                    with_oracle=False).report()
            for protocol, entry in report["protocols"].items():
                ratio = entry["ratio_to_ispp"]
                table.add_row(name, f"{tolerance:.0%}", protocol,
                              f"{entry['success_final']:.1%}",
                              f"{entry['true_success_final']:.1%}",
                              f"{entry['pulses_mean']:.2f}",
                              f"{entry['program_time_s'] * 1e3:.2f}",
                              f"{entry['energy_J'] * 1e9:.0f}",
                              *(f"{ratio[axis]:.2f}x" for axis in
                                ("pulses_mean", "program_time_s", "energy_J")))
    return table


def timed_run(config, name: str, planner_for) -> tuple[ProgramResult, dict[str, list]]:
    """One run of protocol ``name``, and per schedule the pulse time (s) and groups of every
    batch it sent (its preparation included), summed as the batches go by."""
    job = Job(config)
    targets = targets_for(job)
    flat = programmed_cells(targets)
    timed = {schedule: [0.0, 0] for schedule in SCHEDULES}

    def time_batch(pulses: PulseBatch | None) -> None:
        for schedule, sums in timed.items():
            timing = Schedule.named(schedule).timing(pulses)
            sums[0] += timing.width_s
            sums[1] += timing.groups

    with job.open_crossbar() as crossbar:
        protocol = protocol_named(job, name, crossbar, planner_for)
        cells = Cells.from_flat(flat, crossbar.shape)
        prep = protocol.preparation(cells, crossbar.limits)
        if prep is not None:
            time_batch(prep)
        result = program(protocol, crossbar, cells, targets.ravel()[flat], job.stop_rules,
                         job.cost_model(crossbar),
                         observer=lambda r: r.pulses is not None and time_batch(r.pulses))
    return result, timed


def wall_time_s(result: ProgramResult, width_s: float, groups: int, round_trip_s: float) -> float:
    """The run's modelled time with this pulse time and these groups (one schedule's) and
    this host overhead per round trip."""
    model = result.cost_model
    cost = CostModel(read_time_s=model.read_time_s, round_trip_s=round_trip_s,
                     pulse_setup_s=model.pulse_setup_s, settle_s=model.settle_s)
    terms = cost.time_terms(width_s, groups, result.reads, result.round_trips, result.batches)
    return sum(terms.values())


def schedule_table(size: int, seed: int) -> Table:
    base = {"array": {"rows": size, "cols": size, "seed": seed, "preset": DEFAULT_PRESET}}
    config = build_config(base)
    planner_for = planners(build_config({**base, "array": {**base["array"], "rows": 64,
                                                            "cols": 64}}))(Job(config))
    table = Table(title=f"modelled wall time per {size}x{size} {DEFAULT_PRESET} array, "
                        "tolerance 5 %, s (round trip: host overhead per batch or read)")
    table.add_column("protocol")
    table.add_column("round trip", justify="right")
    for schedule in SCHEDULES:
        table.add_column(schedule, justify="right")
    for name in PROTOCOLS:
        result, timed = timed_run(config, name, planner_for)
        label = (f"{name} ({result.pulses.mean():.2f} pulses/cell, "
                 f"{result.success.mean():.1%} in band, {result.round_trips} round trips)")
        for round_trip_s in ROUND_TRIPS_S:
            table.add_row(label, f"{round_trip_s * 1e3:g} ms",
                          *(f"{wall_time_s(result, *timed[s], round_trip_s):.3g}"
                            for s in SCHEDULES))
            label = ""
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--big", type=int, default=512)
    parser.add_argument("--presets", default=f"{DEFAULT_PRESET},hfox-1r")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console(width=160)
    console.print(axes_table(args.presets.split(","), args.size, args.seed))
    console.print(schedule_table(args.big, args.seed))


if __name__ == "__main__":
    main()
