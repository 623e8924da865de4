"""The neural pulse predictor: training time, held-out fit, one-shot accuracy, adaptation.

A predictor is trained on a table characterized on array A (seed A) and used on a fresh array
B (seed B) of the same preset (default), 64x64 by default. Targets are read conductances
uniform over the preset's nominal window kept 10 % of the window from each bound, times the
read factor at the read voltage. One shot starts from the fresh state (near G_min); success
is the relative difference |G - G_target| / G_target after one pulse, judged by the read.

References on the same array and targets: the oracle (knows every device's parameters and
true state: the floor cycle-to-cycle noise leaves) and the nominal-device inverse (knows the
physics exactly but not the device: what a planner without per-device knowledge can at best
expect). Run: ``python bench/bench_predictor.py [--rows 64 --cols 64 --pulses 50000]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from hilctl.drivers import Cells, PulseBatch
from hilctl.predictor.evaluation import evaluate
from hilctl.predictor.lookup import LookupPlanner, LookupTable
from hilctl.predictor.planner import NeuralPlanner
from hilctl.predictor.quantiles import PredictorRangeWarning
from hilctl.predictor.training import train_predictor
from hilctl.protocols import PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.characterize import characterize
from hilctl.protocols.planner import PlannedPulses, PulsePlanner
from hilctl.simulated_backend import DeviceParams, OraclePlanner, SimulatedCrossbar


def random_targets(params: DeviceParams, read_V: float, n: int, seed: int) -> np.ndarray:
    fraction = np.random.default_rng(seed).uniform(0.1, 0.9, n)
    return (params.g_min_S + fraction * (params.g_max_S - params.g_min_S)) * params.read_factor(
        read_V)


def pulses_in_sequence(shape, seed, targets, make_planner, count: int) -> list[np.ndarray]:
    """Relative error after each of ``count`` planned pulses (every cell pulsed each time)."""
    crossbar = SimulatedCrossbar(shape, seed=seed)
    cells = Cells.all(shape)
    planner = make_planner(crossbar)
    present, errors = crossbar.read(cells).conductance, []
    for _ in range(count):
        planned = planner.plan(cells, present, targets)
        crossbar.apply(PulseBatch(cells, planned.polarity, planned.amplitude, planned.width,
                                  planned.gate))
        after = crossbar.read(cells).conductance
        planner.observe(cells, planned, present, after)
        present = after
        errors.append(np.abs(after - targets) / targets)
    return errors


class NominalInverse(PulsePlanner):
    """The oracle's exact inverse for devices with the preset's nominal parameters, planned
    from the read: knows the physics, not the device (and does not adapt)."""

    def __init__(self, crossbar: SimulatedCrossbar) -> None:
        p = crossbar.params
        self.nominal = p.replace(rate_spread=0.0, threshold_spread_V=0.0, slope_spread=0.0,
                                 window_spread=0.0, g_spread=0.0, stuck_fraction=0.0)
        self.read_factor = p.read_factor(crossbar.limits.read_V)
        self.twin = SimulatedCrossbar(crossbar.shape, self.nominal, crossbar.limits, seed=0)
        self.oracle = OraclePlanner(self.twin)

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        n = self.nominal
        x = self.twin.sim_state()
        x[cells.flat(self.twin.shape)] = ((present / self.read_factor - n.g_min_S)
                                          / (n.g_max_S - n.g_min_S))
        self.twin.sim_set_state(x)
        return self.oracle.plan(cells, present, target)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _shown(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--pulses", type=int, default=50_000)
    parser.add_argument("--seed-a", type=int, default=1, help="array the predictor learns on")
    parser.add_argument("--seed-b", type=int, default=2, help="fresh array it is used on")
    args = parser.parse_args()
    shape = (args.rows, args.cols)

    started = time.perf_counter()
    data = characterize(SimulatedCrossbar(shape, seed=args.seed_a), args.pulses,
                        np.random.default_rng(args.seed_a))
    characterize_s = time.perf_counter() - started
    started = time.perf_counter()
    predictor = train_predictor(data, seed=0)
    train_s = time.perf_counter() - started
    spec = predictor.spec
    print(f"## Training on array A (seed {args.seed_a}), {len(data)} rows\n")
    print(table(["characterize s", "train s", "epochs", "fixed SET V", "fixed RESET V",
                 "validation pinball"],
                [[f"{characterize_s:.1f}", f"{train_s:.1f}", str(spec.training["epochs"]),
                  f"{spec.fixed['SET']['amplitude_V']:.2f}",
                  f"{spec.fixed['RESET']['amplitude_V']:.2f}",
                  f"{spec.training['validation_pinball']:.4f}"]]))

    held_out = characterize(SimulatedCrossbar((32, 32), seed=args.seed_b + 100), 10_000,
                            np.random.default_rng(7))
    lookup = LookupTable(data)
    report = evaluate(predictor, held_out, lookup)
    print("\n## Held-out table (another array, 10k rows)\n")
    groups = ("all", "switched", "unswitched")
    print(table(["figure", *groups], [[key, *(_shown(report[g][key]) for g in groups)]
                                    for key in report["all"]]))
    shot = report["one_shot"]
    print("\nImplied one-shot success, mean over targets "
          f"{shot['targets_S'][0] * 1e6:.1f}..{shot['targets_S'][-1] * 1e6:.1f} uS\n")
    print(table(["planner", "<=10%", "<=20%", "<=50%"],
                [[name, *(f"{shot[name]['mean_within_' + t]:.3f}"
                          for t in ("10pct", "20pct", "50pct"))]
                 for name in ("neural", "lookup", "hindsight")]))

    targets = random_targets(DeviceParams(), 0.2, shape[0] * shape[1], seed=args.seed_b + 10)
    planners = {
        "oracle (true device and state)": (OraclePlanner, args.seed_b),
        "nominal-device inverse": (NominalInverse, args.seed_b),
        "lookup (A's table) on B": (lambda xb: LookupPlanner(lookup), args.seed_b),
        "neural (A) on B": (lambda xb: NeuralPlanner(predictor, xb.shape), args.seed_b),
        "neural (A) on B, no adaptation": (
            lambda xb: NeuralPlanner(predictor, xb.shape, adapt=False), args.seed_b),
        "neural (A) on a fresh copy of A": (
            lambda xb: NeuralPlanner(predictor, xb.shape), args.seed_a),
    }
    rows = []
    for name, (make, seed) in planners.items():
        errors = pulses_in_sequence(shape, seed, targets, make, 3)
        first = errors[0]
        rows.append([name, *(f"{np.mean(first <= t):.3f}" for t in (0.05, 0.10, 0.50)),
                     f"{np.median(first):.3f}",
                     *(f"{np.mean(e <= 0.10):.3f}" for e in errors[1:])])
    print(f"\n## One shot from the fresh state on array B (seed {args.seed_b}), "
          f"{shape[0]}x{shape[1]}, random targets\n")
    print(table(["planner", "1 pulse <=5%", "1 pulse <=10%", "1 pulse <=50%",
                 "1 pulse median err", "2 pulses <=10%", "3 pulses <=10%"], rows))
    print("\n(every cell gets pulses 2 and 3 too, planned from its last read; the last row "
          "is the predictor on the very devices it learned on, for the A -> B transfer ratio)")

    print("\n## Write-verify-planned at 2 % and 5 % on array B, same targets, budget 100 "
          "pulses\n")
    wv_rows = []
    for name, make in {
        "oracle": OraclePlanner,
        "neural (A), first_overshoot 0.5": lambda xb: NeuralPlanner(predictor, xb.shape),
        "neural (A), first_overshoot 0.25": lambda xb: NeuralPlanner(predictor, xb.shape,
                                                                     first_overshoot=0.25),
        "neural (A), no adaptation": lambda xb: NeuralPlanner(predictor, xb.shape,
                                                              adapt=False),
    }.items():
        row = [name]
        for tolerance in (0.02, 0.05):
            crossbar = SimulatedCrossbar(shape, seed=args.seed_b)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PredictorRangeWarning)
                result = program(PlannedWriteVerify(make(crossbar)), crossbar,
                                 Cells.all(shape), targets,
                                 StopRules(tolerance=Tolerance(tolerance), max_pulses=100))
            pulses = result.pulses
            row += [f"{result.success.mean():.3f}", f"{pulses.mean():.2f}",
                    f"{np.percentile(pulses, 95):.0f}"]
        wv_rows.append(row)
    print(table(["planner", "success 2%", "pulses mean 2%", "p95 2%", "success 5%",
                 "pulses mean 5%", "p95 5%"], wv_rows))

    big = NeuralPlanner(predictor, (512, 512))
    cells = Cells.all((512, 512))
    rng = np.random.default_rng(0)
    present, target = rng.uniform(2e-6, 40e-6, len(cells)), rng.uniform(5e-6, 38e-6, len(cells))
    started = time.perf_counter()
    planned = big.plan(cells, present, target)
    plan_s = time.perf_counter() - started
    started = time.perf_counter()
    big.observe(cells, planned, present, present * rng.uniform(0.8, 1.2, len(cells)))
    observe_s = time.perf_counter() - started
    print("\n## Planner speed, 512x512 = 262144 cells in one batch\n")
    print(table(["plan s", "observe s"], [[f"{plan_s:.3f}", f"{observe_s:.3f}"]]))


if __name__ == "__main__":
    main()
