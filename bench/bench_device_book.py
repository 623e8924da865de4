"""The device book: one-shot success against what the book already knows of each device.

For each preset (``hfox-1r`` on the width knob, ``hfox-1t1r`` on the gate knob for SET) a
predictor is trained on a characterization of a sibling array (seed 21) and used on the array
to be programmed (seed 0). Before a one-shot (block RESET, one planned pulse, one read), the
book holds, per device, either nothing (K = 0), K random pulses per device at the predictor's
settings (``book_link.probe``, as ``hilctl characterize --device-book --pulses-per-cell K``),
or one previous full programming run (planned write-verify at 2 % to other targets). Targets
are read conductances uniform over the window (1R: 10-90 % of the nominal window; 1T1R: 30-200
uS). Success: |G_read - G_target| / G_target within 10 % and 50 %, beside the oracle (the
exact per-device inverse of the noise-free response from the true state; for 1T1R the SET
level's inverse through each device's own transistor and plateau, see ``OneTOneROracle``).

Then, on ``hfox-1r``: planned write-verify at 2 % with a book from one previous run against
the oracle's mean pulses per cell; the same one-shot curves with drift on (``drift_per_cycle``)
after 10 and 100 reprogramming cycles (planned write-verify at 5 % to new targets each cycle,
the book updated after each); and the book's update time and size for 512x512.

    python bench/bench_device_book.py [--rows 64 --cols 64 --cycles 10,100]

Measured at 64x64 (10 minutes wall on a shared 2-core machine), against the issue's goals:

- ``hfox-1r`` one-shot within 10 %: 28.2 % without a book (0.52x the oracle's 54.2 %), 43.5 %
  with K = 4 (0.80x), 45.8 % with K = 8 (0.85x), 42.2 % after one previous run (0.78x); within
  50 %: 89.3 % -> 98.2 % (K = 4), 99.0 % (K = 8), oracle 99.3 %. The goal (0.9x at K <= 4) is
  missed; what limits it is the one-number shift, not the book: each device's TRUE switching
  rate given as its shift lands 43.6 % (0.80x), no better than a learned book. The lookup
  planner following the book: 25.2 % -> 33.3 % (K = 4).
- planned write-verify at 2 %: 3.41 pulses per cell without a book (1.40x the oracle's 2.43),
  3.09 with a book of one previous run (1.27x; goal 1.1x missed). An oracle that plans from
  the read instead of the true state (all a book could ever tell a planner) needs 2.53 (1.04x):
  the gap left is the planner's corrections, not read noise.
- ``hfox-1t1r`` (gate knob): the book used to make the one-shot worse (47.4 % without; K = 4
  37.8 %, one previous run 28.8 %): a SET that did not switch near threshold was read by the
  planner's Gaussian look as a much weaker device, and the book carried it. The planner's
  lasting belief (the one the book keeps) now leaves such looks out: K = 1..8 52-55 % (K = 4
  55.1 %, 0.67x the oracle's 82.3 %), one previous run 44.7 % (still below no book: its SET
  shifts, learned from write-verify's corrections, correlate 0.55 with each device's true gate
  shift against 0.76 for K = 8 probe pulses, on 32x32).
- with drift (``drift_per_cycle`` 0.01: the ln rate walks 0.043 in 10 cycles, 0.132 in 100,
  against a device spread of 0.30) a book updated every cycle keeps 0.81x / 0.85x the oracle
  after 10 / 100 cycles (keeping half the information per run: 0.81x / 0.84x); a book whose
  looks are from cycle 0 falls to 0.70x / 0.72x, and ageing it by the pulses counted since
  (half-life 100 pulses) does not help a one-shot (0.70x / 0.70x: it only shrinks a still
  mostly right shift towards 0); no book 0.50-0.52x.
- cost at 512x512 (``time.process_time``, three runs): one update 0.14-0.26 CPU s (the whole
  arrays rewritten in one transaction), reading and seeding 0.10-0.13 CPU s, 25.2 MB on disk
  (format 2 adds the pulses at each look and the last read: 16.8 MB before).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from hilctl.drivers import Cells, Polarity, PulseBatch, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.predictor.lookup import LookupPlanner, LookupTable
from hilctl.predictor.planner import NeuralPlanner
from hilctl.predictor.quantiles import PredictorRangeWarning
from hilctl.predictor.training import train_predictor
from hilctl.protocols import OneShot, PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.characterize import characterize, table_rows
from hilctl.protocols.planner import PlannedPulses, PulsePlanner
from hilctl.protocols.settings import ResetPulse
from hilctl.run.book_link import knobs_of, probe
from hilctl.run.device_book import Beliefs, DeviceBook, Discount
from hilctl.simulated_backend import DeviceParams, OraclePlanner, SimulatedCrossbar
from hilctl.simulated_backend import one_t_one_r as ottr
from hilctl.simulated_backend.physics import switching_rate

KS = (0, 1, 2, 4, 8)
HALF_LIFE_PULSES = 100
TRAIN_SEED, ARRAY_SEED = 21, 0


class Preset:
    """What differs between the two presets: the array, its targets, RESET and oracle."""

    def __init__(self, name: str, shape: tuple[int, int]) -> None:
        self.name, self.shape = name, shape
        self.one_t_one_r = name == "hfox-1t1r"
        self.limits = SafetyLimits(reset_max_V=4.0) if self.one_t_one_r else SafetyLimits()
        self.reset = (ResetPulse(2.0, 2e-7, 3.5) if self.one_t_one_r else ResetPulse())

    def array(self, seed: int, params=None) -> SimulatedCrossbar:
        if self.one_t_one_r:
            return SimulatedCrossbar(self.shape, limits=self.limits, seed=seed,
                                     model=ottr.OneTOneRDevice(params))
        return SimulatedCrossbar(self.shape, params or DeviceParams(), self.limits, seed=seed)

    def targets(self, xb: SimulatedCrossbar, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        n = self.shape[0] * self.shape[1]
        if self.one_t_one_r:
            return rng.uniform(30e-6, 200e-6, n)
        p = xb.params
        fraction = rng.uniform(0.1, 0.9, n)
        return (p.g_min_S + fraction * (p.g_max_S - p.g_min_S)) * p.read_factor(
            xb.limits.read_V)

    def oracle(self, xb: SimulatedCrossbar) -> PulsePlanner:
        return OneTOneROracle(xb) if self.one_t_one_r else OraclePlanner(xb)

    def table(self) -> PulseTable:
        """The sibling array's characterization (the predictor's and the lookup's table)."""
        xb = self.array(TRAIN_SEED)
        if self.one_t_one_r:
            return gate_characterization(xb, 12, np.random.default_rng(0))
        return characterize(xb, 12 * xb.shape[0] * xb.shape[1], np.random.default_rng(0))

    def predictor(self, table: PulseTable):
        if self.one_t_one_r:
            return train_predictor(table, knob="set=gate,reset=amplitude",
                                   fixed={"SET": 1e-6, "RESET": 2e-7}, seed=0)
        return train_predictor(table, seed=0)


class OneTOneROracle(PulsePlanner):
    """The SET gate that puts each 1T1R device's noise-free level on its target: the read's
    transistor undone, then ``current_for_level`` with the device's plateau and
    ``gate_for_current`` with its threshold and strength (V_BL 2.0 V, 1 us: every device
    switches from HRS). SET only: enough for a one-shot after a block RESET."""

    def __init__(self, crossbar: SimulatedCrossbar) -> None:
        self.crossbar = crossbar

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        xb, p = self.crossbar, self.crossbar.params
        pop = xb.population.take(cells.flat(xb.shape))
        g_t = ottr.transistor_on(p.read_gate_V, pop.vt, p)
        device = target / xb.model.read_factor(xb.limits.read_V)
        device = device * g_t / np.maximum(g_t - device, 1e-12)
        current = ottr.current_for_level(device, pop.g_sat, p)
        gate = ottr.gate_for_current(current, pop.vt, pop.k, p)
        top = xb.limits.gate_set_max_V
        n = len(cells)
        return PlannedPulses(np.full(n, Polarity.SET, np.int8), np.full(n, 2.0),
                             np.full(n, 1e-6), gate > top, np.minimum(gate, top))


class ReadOracle(PulsePlanner):
    """The oracle's exact inverse of each device, planned from the READ instead of the true
    state: everything a device book could ever tell a planner, and no more (a book knows
    devices, never the present state behind a noisy read)."""

    def __init__(self, crossbar: SimulatedCrossbar, preset: Preset) -> None:
        self.crossbar, self.twin = crossbar, preset.array(ARRAY_SEED)
        self.twin.population = crossbar.population  # the same devices, drift included
        self.oracle = OraclePlanner(self.twin)

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        xb, flat = self.crossbar, cells.flat(self.crossbar.shape)
        x = self.twin.sim_state()
        x[flat] = xb.population.state_of(present / xb.model.read_factor(xb.limits.read_V), flat)
        self.twin.sim_set_state(x)
        return self.oracle.plan(cells, present, target)


def gate_characterization(xb: SimulatedCrossbar, rounds: int,
                          rng: np.random.Generator) -> PulseTable:
    """A gate sweep as labs characterize 1T1R cells: SET from HRS at V_BL 2.0 V, 1 us with the
    gate uniform in 1.5-2.3 V, then RESET at 200 ns, gate 3.5 V, V_SL uniform in 0.6-2.2 V."""
    cells, tables = Cells.all(xb.shape), []
    n = len(cells)
    last = xb.read(cells).conductance
    for _ in range(rounds):
        for polarity, amplitude, width, gate in (
                (Polarity.SET, np.full(n, 2.0), 1e-6, rng.uniform(1.5, 2.3, n)),
                (Polarity.RESET, rng.uniform(0.6, 2.2, n), 2e-7, np.full(n, 3.5))):
            batch = PulseBatch(cells, polarity, amplitude, width, gate)
            xb.apply(batch)
            after = xb.read(cells).conductance
            tables.append(table_rows(batch, last, after))
            last = after
    return PulseTable.concat(tables)


def one_shot(preset: Preset, xb: SimulatedCrossbar, planner: PulsePlanner,
             targets: np.ndarray) -> tuple[float, float]:
    """Share of cells within 10 % and 50 % of their targets after one planned pulse."""
    cells = Cells.all(xb.shape)
    result = program(OneShot(planner, reset=preset.reset), xb, cells, targets,
                     StopRules(Tolerance(0.1), max_pulses=1))
    error = np.abs(result.final_read - targets) / targets
    return float(np.mean(error <= 0.1)), float(np.mean(error <= 0.5))


def write_verify(xb: SimulatedCrossbar, planner: PulsePlanner, targets: np.ndarray,
                 tolerance: float) -> np.ndarray:
    """Pulses per cell of planned write-verify at ``tolerance``."""
    result = program(PlannedWriteVerify(planner), xb, Cells.all(xb.shape), targets,
                     StopRules(Tolerance(tolerance), max_pulses=60))
    return result.pulses


class Book:
    """A device book file for one array, used as a run would (``RunBook``), in a temp dir."""

    def __init__(self, directory: Path, name: str, shape: tuple[int, int]) -> None:
        self.path = directory / f"{name}.sqlite"
        self.identity = {"kind": "simulated", "preset": name, "seed": ARRAY_SEED,
                         "shape": list(shape)}
        self.runs = 0

    def seeded(self, predictor, shape, discount: Discount | None = None) -> NeuralPlanner:
        planner = NeuralPlanner(predictor, shape)
        if self.path.exists():
            cells = Cells.all(shape)
            with DeviceBook(self.path, self.identity) as book:
                prior = book.prior(cells.flat(shape), discount or Discount())
            planner.seed_belief(cells, prior.shift, prior.information, prior.keep)
        return planner

    def lookup(self, table: LookupTable, shape) -> LookupPlanner:
        """The lookup planner following this book, as ``RunBook`` makes it."""
        planner = LookupPlanner(table)
        if self.path.exists():
            cells = Cells.all(shape)
            with DeviceBook(self.path, self.identity) as book:
                prior = book.prior(cells.flat(shape), Discount())
                planner.follow_book(cells, shape, prior.shift, prior.keep, book.meta["knobs"])
        return planner

    def absorb(self, planner: NeuralPlanner | None, pulses: np.ndarray,
               shape: tuple[int, int] | None = None) -> None:
        """A run's looks (None: a run that only counts its pulses, (2, n) or (n,) per cell:
        counted in the SET row; the age in pulses is their sum)."""
        shape = shape or planner.shape
        cells, n = Cells.all(shape), shape[0] * shape[1]
        counts = pulses if np.ndim(pulses) == 2 else np.stack([np.zeros(n, np.int64), pulses])
        beliefs = planner and Beliefs(*planner.belief(cells))
        self.runs += 1
        with DeviceBook(self.path, self.identity) as book:
            book.absorb(f"run-{self.runs}", cells.flat(shape), beliefs, counts,
                        planner and knobs_of(planner))


def k_curve(preset: Preset, predictor, lookup: LookupTable,
            directory: Path) -> list[list[str]]:
    rows = []
    targets = preset.targets(preset.array(ARRAY_SEED), 1)
    xb = preset.array(ARRAY_SEED)
    oracle = one_shot(preset, xb, preset.oracle(xb), targets)
    for k in KS:
        xb = preset.array(ARRAY_SEED)
        book = Book(directory, f"{preset.name}-k{k}", preset.shape)
        if k:
            planner = NeuralPlanner(predictor, preset.shape)
            _, counts = probe(xb, planner, Cells.all(preset.shape), k, np.random.default_rng(k))
            book.absorb(planner, counts)
        snapshot = xb.sim_snapshot()
        rows.append(_row(f"K = {k}", one_shot(preset, xb, book.seeded(predictor, preset.shape),
                                               targets), oracle))
        if k in (0, 4):
            xb.sim_restore(snapshot)
            rows.append(_row(f"lookup planner, K = {k}", one_shot(
                preset, xb, book.lookup(lookup, preset.shape), targets), oracle))
    xb = preset.array(ARRAY_SEED)
    book = Book(directory, f"{preset.name}-run", preset.shape)
    planner = NeuralPlanner(predictor, preset.shape)
    book.absorb(planner, write_verify(xb, planner, preset.targets(xb, 2), 0.02))
    rows.append(_row("one previous run", one_shot(
        preset, xb, book.seeded(predictor, preset.shape), targets), oracle))
    if not preset.one_t_one_r:
        xb = preset.array(ARRAY_SEED)
        rows.append(_row("each device's true rate as its shift", one_shot(
            preset, xb, true_rate_planner(predictor, xb), targets), oracle))
    rows.append(["oracle", f"{oracle[0]:.1%}", f"{oracle[1]:.1%}", "1.00x"])
    return rows


def true_rate_planner(predictor, xb: SimulatedCrossbar) -> NeuralPlanner:
    """The best a one-number book could hold on the width knob: each device's true switching
    rate at the predictor's fixed amplitude, relative to the median device, as a certain
    shift (a device twice as fast: ln 2)."""
    pop, n = xb.population, xb.shape[0] * xb.shape[1]
    shift = np.zeros((2, n))
    for row, name, rate, threshold, slope in (
            (0, "RESET", pop.reset_rate, pop.reset_threshold, pop.reset_slope),
            (1, "SET", pop.set_rate, pop.set_threshold, pop.set_slope)):
        k = switching_rate(predictor.spec.fixed[name]["amplitude_V"], rate, threshold, slope)
        shift[row] = np.log(k / np.median(k))
    planner = NeuralPlanner(predictor, xb.shape)
    planner.seed_belief(Cells.all(xb.shape), shift, np.full((2, n), 1e6))
    return planner


def _row(label: str, got: tuple[float, float], oracle: tuple[float, float]) -> list[str]:
    return [label, f"{got[0]:.1%}", f"{got[1]:.1%}", f"{got[0] / oracle[0]:.2f}x"]


def write_verify_table(preset: Preset, predictor, directory: Path) -> list[list[str]]:
    targets = preset.targets(preset.array(ARRAY_SEED), 3)
    xb = preset.array(ARRAY_SEED)
    oracle = write_verify(xb, OraclePlanner(xb), targets, 0.02).mean()
    xb = preset.array(ARRAY_SEED)
    book = Book(directory, "wv", preset.shape)
    first = NeuralPlanner(predictor, preset.shape)
    used = write_verify(xb, first, targets, 0.02)
    without = used.mean()
    rows = [["neural, no book", f"{without:.2f}", f"{without / oracle:.2f}x"]]
    book.absorb(first, used)
    xb = preset.array(ARRAY_SEED)
    seeded = write_verify(xb, book.seeded(predictor, preset.shape),
                          preset.targets(xb, 4), 0.02).mean()
    rows.append(["neural, book of one previous run", f"{seeded:.2f}", f"{seeded / oracle:.2f}x"])
    xb = preset.array(ARRAY_SEED)
    from_read = write_verify(xb, ReadOracle(xb, preset), targets, 0.02).mean()
    rows.append(["oracle planning from the read", f"{from_read:.2f}",
                 f"{from_read / oracle:.2f}x"])
    rows.append(["oracle", f"{oracle:.2f}", "1.00x"])
    return rows


def drift_table(preset: Preset, predictor, directory: Path, cycles: tuple[int, ...],
                per_cycle: float) -> list[list[str]]:
    """One array cycled again and again (planned write-verify at 5 % to new targets, each run
    seeded from the book and absorbed into it), and a stale book whose looks are from cycle 0
    only (later cycles count their pulses into it, as a run that learns nothing does);
    one-shot success after ``cycles``, with the updated book read whole (keep 1.0) or with
    half its information (keep 0.5), and the stale one whole or aged by pulses."""
    shape = preset.shape
    xb = preset.array(ARRAY_SEED, DeviceParams().replace(drift_per_cycle=per_cycle))
    updated, stale = Book(directory, "drift", shape), Book(directory, "stale", shape)
    start, done, rows = xb.population.set_rate.copy(), 0, []
    for target_cycle in cycles:
        for cycle in range(done, target_cycle):
            planner = updated.seeded(predictor, shape)
            used = write_verify(xb, planner, preset.targets(xb, 100 + cycle), 0.05)
            updated.absorb(planner, used)
            stale.absorb(planner if cycle == 0 else None, used, shape)
        done = target_cycle
        walked = float(np.std(np.log(xb.population.set_rate / start)))
        snapshot, targets = xb.sim_snapshot(), preset.targets(xb, 1)
        readers = [("no book", NeuralPlanner(predictor, shape)),
                   ("updated, keep 1.0", updated.seeded(predictor, shape)),
                   ("updated, keep 0.5", updated.seeded(predictor, shape, Discount(0.5))),
                   ("stale (cycle 0)", stale.seeded(predictor, shape)),
                   (f"stale, half-life {HALF_LIFE_PULSES} pulses", stale.seeded(
                       predictor, shape, Discount(half_life_pulses=HALF_LIFE_PULSES))),
                   ("oracle", OraclePlanner(xb))]
        outcomes = {}
        for label, planner in readers:
            xb.sim_restore(snapshot)  # every planner sees the same array
            outcomes[label] = one_shot(preset, xb, planner, targets)
        xb.sim_restore(snapshot)
        rows += [[str(target_cycle), f"{walked:.3f}", *_row(label, got, outcomes["oracle"])]
                 for label, got in outcomes.items()]
    return rows


def cost_table(predictor, directory: Path) -> list[list[str]]:
    shape = (512, 512)
    n = shape[0] * shape[1]
    planner = NeuralPlanner(predictor, shape)
    rng = np.random.default_rng(0)
    planner.seed_belief(Cells.all(shape), rng.normal(0, 0.3, (2, n)), rng.uniform(1, 9, (2, n)))
    book = Book(directory, "big", shape)
    started = time.process_time()
    book.absorb(planner, np.ones((2, n), np.int64))
    first = time.process_time() - started
    started = time.process_time()
    book.absorb(planner, np.ones((2, n), np.int64))
    again = time.process_time() - started
    started = time.process_time()
    book.seeded(predictor, shape)
    read = time.process_time() - started
    size = book.path.stat().st_size / 1e6
    return [["512x512", f"{first:.2f}", f"{again:.2f}", f"{read:.2f}", f"{size:.1f}"]]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--cycles", default="10,100")
    parser.add_argument("--drift", type=float, default=0.01,
                        help="drift_per_cycle of the drift runs (ln-rate sigma per pulse)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", PredictorRangeWarning)
    shape = (args.rows, args.cols)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for name in ("hfox-1r", "hfox-1t1r"):
            preset = Preset(name, shape)
            started = time.process_time()
            characterized = preset.table()
            predictor = preset.predictor(characterized)
            print(f"\n## {name} ({shape[0]}x{shape[1]}, knob {predictor.knob}; predictor "
                  f"trained in {time.process_time() - started:.0f} CPU s)\n")
            print(table(["book before the one-shot", "within 10 %", "within 50 %",
                         "10 % vs oracle"],
                        k_curve(preset, predictor, LookupTable(characterized), directory)))
            if name == "hfox-1r":
                hfox_1r = (preset, predictor)
        preset, predictor = hfox_1r
        print("\n## hfox-1r: planned write-verify at 2 %, mean pulses per cell\n")
        print(table(["planner", "pulses", "vs oracle"],
                    write_verify_table(preset, predictor, directory)))
        cycles = tuple(int(c) for c in args.cycles.split(","))
        print(f"\n## hfox-1r with drift_per_cycle = {args.drift}: one-shot after reprogramming "
              "cycles\n")
        print(table(["cycles", "ln-rate walked", "book", "within 10 %", "within 50 %",
                     "10 % vs oracle"],
                    drift_table(preset, predictor, directory, cycles, args.drift)))
        print("\n## the book's cost\n")
        print(table(["array", "first update CPU s", "next update CPU s", "read+seed CPU s",
                     "size MB"], cost_table(predictor, directory)))


if __name__ == "__main__":
    main()
