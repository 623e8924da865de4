"""Cost-aware planning: pulses, modelled time and energy per objective, against ISPP.

Run: ``python bench/bench_objective.py [--rows 64 --cols 64 --seed 0 --presets hfox-1t1r,hfox-1r
--tolerances 5%,2%]``.

Per preset a predictor is trained on a separate array (``hilctl compare``'s sibling, 50k
pulses); per tolerance the write-verify ramp that suits the array runs once (ISPP on 1R,
write-verify-wl on 1T1R), and per objective planned write-verify and one-shot run with the
neural planner and with the oracle, each on an identical copy of the same seeded array
(``hilctl.run.compare``). Modelled time and energy come from the run's cost model (pulse
widths and set-up, 1 us per verify read, V*I*t per pulse), so the figures are exact
counts, not wall-clock measurements; the wall seconds of each preset are printed for scale only.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from hilctl.assemble import Job
from hilctl.config import assemble_config
from hilctl.protocols.objective import OBJECTIVES
from hilctl.registry import build_planner
from hilctl.run.compare import run_comparison
from hilctl.run.sibling_predictor import train_on_sibling_array
from hilctl.targets import targets_for

PLANNED = ("write-verify-planned", "one-shot")
COLUMNS = ("pulses/cell", "time ms", "energy uJ", "success", "x pulses", "x time", "x energy")


def configured(args, preset: str, tolerance: str, objective: str = "time",
               predictor: str | None = None, planner: str = "neural"):
    return assemble_config(None, {}, {
        "array": {"rows": args.rows, "cols": args.cols, "seed": args.seed, "preset": preset},
        "protocol": {"tolerance": tolerance, "objective": objective, "predictor": predictor,
                     "planner": planner}})


def row(label: str, figures: dict, reference: dict) -> str:
    values = (figures["pulses_mean"], figures["program_time_s"] * 1e3,
              figures["energy_J"] * 1e6, figures["success_final"])
    ratios = [figures[k] / reference[k] for k in ("pulses_mean", "program_time_s", "energy_J")]
    cells = [f"{values[0]:.2f}", f"{values[1]:.1f}", f"{values[2]:.3f}", f"{values[3]:.3f}",
             *(f"{r:.2f}" for r in ratios)]
    return f"| {label} | " + " | ".join(cells) + " |"


def planned_runs(args, preset: str, tolerance: str, objective: str, predictor_dir: str):
    """Planned protocols with the neural planner and with the oracle, under ``objective``."""
    runs = {}
    for planner in ("neural", "oracle"):
        job = Job(configured(args, preset, tolerance, objective, predictor_dir, planner))
        comparison = run_comparison(job, list(PLANNED), targets_for(job),
                                    lambda name, xb, j=job: build_planner(j, xb), False)
        report = comparison.report()["protocols"]
        runs.update({f"{name} ({planner})": report[name] for name in PLANNED})
    return runs


def bench_preset(args, preset: str) -> None:
    started = time.perf_counter()
    predictor, _ = train_on_sibling_array(Job(configured(args, preset, "5%")), say=lambda _: None)
    with tempfile.TemporaryDirectory() as directory:
        predictor.save(directory)
        for tolerance in args.tolerances.split(","):
            base = Job(configured(args, preset, tolerance))
            ispp = run_comparison(base, ["write-verify"], targets_for(base), None, False)
            reference = ispp.report()["protocols"]["write-verify"]
            print(f"\n### {preset}, {args.rows}x{args.cols}, tolerance {tolerance}\n")
            print("| protocol (planner), objective | " + " | ".join(COLUMNS) + " |")
            print("|---" * (len(COLUMNS) + 1) + "|")
            print(row("write-verify (ramp)", reference, reference))
            for objective in OBJECTIVES:
                for label, figures in planned_runs(args, preset, tolerance, objective,
                                                   directory).items():
                    print(row(f"{label}, {objective}", figures, reference))
    print(f"\n({preset}: {time.perf_counter() - started:.0f} s wall)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", default="hfox-1t1r,hfox-1r")
    parser.add_argument("--tolerances", default="5%,2%")
    args = parser.parse_args()
    print("x: ratio to the write-verify ramp of the same preset and tolerance "
          "(ISPP on 1R, write-verify-wl on 1T1R)")
    for preset in args.presets.split(","):
        bench_preset(args, preset)


if __name__ == "__main__":
    main()
