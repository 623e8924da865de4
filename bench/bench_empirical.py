"""Speed of the empirical device model on a 1T1R table: pulse+read cell operations per second.

The table is measured on a simulated 1T1R array (``hfox-1t1r`` physics): rounds of a RESET at a
grid of source-line amplitudes (gate 3 V, 200 ns) and a SET at a grid of gates (2 V, 1 us),
reads chained. The empirical array built from it is then pulsed at 256x256, every cell every
round, at the measured settings or halfway between them (interpolated), and read back.

Then every registered protocol programs 16x16 cells (targets 30-180 uS, 10 %) once on the
1T1R physics the table was measured on and once on the empirical array built from it, with
pulses on the table's settings (lookup planner from the table); a protocol that needs a setting
the table lacks shows the one line it stops with.

    python bench/bench_empirical.py
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells, DataError, Polarity, PulseBatch, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.registry import PROTOCOLS
from hilctl.run.runner import new_run
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.empirical import EmpiricalDevice
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice

LIMITS = SafetyLimits(reset_max_V=4.0)
SET_GATES = np.round(np.arange(1.55, 2.01, 0.05), 2)
RESET_AMPLITUDES = np.round(np.arange(0.8, 2.01, 0.3), 2)


def measured_table(rows: int = 64, cols: int = 256, rounds: int = 8) -> PulseTable:
    lab = SimulatedCrossbar((rows, cols), limits=LIMITS, model=OneTOneRDevice(), seed=1)
    cells = Cells.all(lab.shape)
    rng = np.random.default_rng(2)
    before = lab.read(cells).conductance
    parts = []
    for k in range(rounds):
        n = len(cells)
        if k % 2:
            pulses = PulseBatch(cells, Polarity.RESET, rng.choice(RESET_AMPLITUDES, n), 200e-9,
                                np.full(n, 3.0))
        else:
            pulses = PulseBatch(cells, Polarity.SET, 2.0, 1e-6, rng.choice(SET_GATES, n))
        lab.apply(pulses)
        after = lab.read(cells).conductance
        parts.append(PulseTable(np.arange(n).astype(str), before, pulses.polarity,
                                pulses.amplitude, pulses.width, pulses.gate, after))
        before = after
    return PulseTable.concat(parts)


def ops_per_second(model: EmpiricalDevice, offset: float, shape=(256, 256),
                   rounds: int = 20) -> float:
    """Cell operations per second with pulses ``offset`` of a level step off the measured ones."""
    crossbar = SimulatedCrossbar(shape, limits=LIMITS, model=model, seed=3)
    cells = Cells.all(shape)
    rng = np.random.default_rng(4)
    n = len(cells)
    started = time.perf_counter()
    for k in range(rounds):
        if k % 2:
            amplitude = rng.choice(RESET_AMPLITUDES[:-1], n) + 0.3 * offset
            pulses = PulseBatch(cells, Polarity.RESET, amplitude, 200e-9, np.full(n, 3.0))
        else:
            gate = rng.choice(SET_GATES[:-1], n) + 0.05 * offset
            pulses = PulseBatch(cells, Polarity.SET, 2.0, 1e-6, gate)
        crossbar.apply(pulses)
        crossbar.read(cells)
    return rounds * n / (time.perf_counter() - started)


PROTOCOL = {
    "gate_V": 3.0, "max_pulses": 40, "tolerance": 0.1, "planner": "lookup",
    "block_reset": {"amplitude_V": 2.0, "width_s": 200e-9},
    "wl": {"set_V": 2.0, "gate_start_V": 1.55, "gate_step_V": 0.05, "gate_max_V": 2.0,
           "width_s": 1e-6},
}


def protocols_on_both(table: PulseTable) -> None:
    """Success and pulses per protocol on the physics and on its empirical array."""
    folder = Path(tempfile.mkdtemp())
    table.write_csv(folder / "table.csv")
    np.save(folder / "targets.npy", np.random.default_rng(0).uniform(30e-6, 180e-6, (16, 16)))
    print("\n| protocol | hfox-1t1r physics | empirical array from its table |\n|---|---|---|")
    for name in PROTOCOLS:
        shown = []
        for array in ({"preset": "hfox-1t1r"}, {"empirical_table": str(folder / "table.csv")}):
            config = build_config({
                "array": {"rows": 16, "cols": 16, **array},
                "targets": {"file": str(folder / "targets.npy")},
                "protocol": {**PROTOCOL, "name": name, "predictor": str(folder / "table.csv")}})
            run = folder / f"{name}-{len(shown)}"
            try:
                s = new_run(Job(config), run, np.load(folder / "targets.npy")).summary
                shown.append(f"{s['success_rate']:.0%} in band, {s['pulses_mean']:.1f} pulses")
            except DataError as exc:
                shown.append(str(exc))
        print(f"| {name} | {shown[0]} | {shown[1]} |")


def main() -> None:
    table = measured_table()
    started = time.perf_counter()
    model = EmpiricalDevice(table)
    built = time.perf_counter() - started
    print(f"table: {len(table)} rows; model built in {built:.2f} s")
    print("| array | pulses | pulse+read cell ops/s |\n|---|---|---|")
    for offset, where in ((0.0, "at measured settings"), (0.5, "between measured settings")):
        rate = ops_per_second(model, offset)
        print(f"| 256x256 | {where} | {rate / 1e6:.2f} M |")
    print(model.usage())
    protocols_on_both(table)


if __name__ == "__main__":
    main()
