"""What an inference costs on the array: the Numbers of the read-path cost model.

1. The worked check: a 128x128 array, mean G 20 uS, 10 ns integration; the array's energy per
   full read at 0.2 V and 30 mV, and 128 conversions of the ISAAC-class ADC (1.56 pJ each).
2. The digits network (64-16-10) programmed by ISPP write-verify on 64x64 simulated arrays in
   both modes (``hilctl train`` then ``hilctl program --protocol write-verify``, current mode
   with ``--rescale``): energy and latency per inference and per MAC by block, at the defaults
   of ``[read_cost]``; the current/voltage ratio, and how it moves with converter bits,
   converter preset, converter sharing and read level.
3. Accuracy vs energy over read level and converter bits for both modes: a table and
   ``accuracy_energy.png``.

Run: ``python bench/bench_interface_cost.py [--out DIR]`` (about a minute).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hilctl.report.plots import plot_accuracy_energy
from hilctl.weights.datasets import load_dataset
from hilctl.weights.inference import evaluate, load_run, read_cost_report, read_cost_sweep
from hilctl.weights.interface_presets import read_cost_settings
from hilctl.weights.model_files import TrainedModel
from hilctl.weights.read_cost import VoltageReadPath, full_read_energy_J, phase_cost


def hilctl(*args, cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "hilctl", *map(str, args), "--json"], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def worked_check() -> None:
    g = np.full((128, 128), 20e-6)
    model = TrainedModel("voltage", (2, 1), [np.zeros((3, 1))], [1.0], "digits")
    phase = phase_cost(VoltageReadPath(read_cost_settings(), model), g,
                       g.sum(axis=1, keepdims=True), np.ones((1, 128)))
    print("worked check, 128x128, mean G 20 uS, 10 ns:")
    print(f"  array at 0.2 V  {full_read_energy_J(g, 0.2, 1e-8) * 1e12:7.1f} pJ")
    print(f"  array at 30 mV  {full_read_energy_J(g, 0.03, 1e-8) * 1e12:7.2f} pJ")
    print(f"  128 conversions {phase['energy_J']['conversion'] * 1e12:7.1f} pJ (isaac)\n")


def program_both(where: Path) -> dict:
    runs = {}
    for mode in ("voltage", "current"):
        hilctl("train", "--dataset", "digits", "--mode", mode, "--hidden", 16, "--epochs", 30,
               "--out", f"model_{mode}", cwd=where)
        extra = ["--rescale"] if mode == "current" else []
        result = hilctl("program", "--weights", f"model_{mode}", "--protocol", "write-verify",
                        "--rows", 64, "--cols", 64, "--out", f"run_{mode}", "--quiet", *extra,
                        cwd=where)
        runs[mode] = (load_run(where / f"run_{mode}"), result)
    return runs


def block_table(runs: dict, data) -> None:
    print(f"{'mode':8} {'accuracy':>8} " + " ".join(f"{b:>16}" for b in
          ("drivers", "array", "column interface", "conversion", "digital"))
          + f" {'total pJ':>9} {'fJ/MAC':>7} {'ns':>6}  dominant")
    for mode, (run, result) in runs.items():
        c = read_cost_report(run, data, read_cost_settings())
        blocks = " ".join(f"{v * 1e12:16.3f}" for v in c["blocks_J"].values())
        print(f"{mode:8} {c['accuracy']:8.2%} {blocks} {c['energy_J'] * 1e12:9.2f} "
              f"{c['energy_per_mac_J'] * 1e15:7.1f} {c['latency_s'] * 1e9:6.1f}  "
              f"{c['dominant_block']}")
        print(f"{'':8} programming: {result['energy_J'] * 1e6:.3f} uJ, "
              f"{result['program_time_s']:.3g} s, {result['cells']} cells, "
              f"{result['pulses_mean']:.1f} pulses/cell")
    print()


def ratio_table(runs: dict, data) -> None:
    """Voltage / current energy per inference over the knobs that move it."""
    cases = [("defaults (isaac 8 b, 0.2 V, 10 uA)", {}),
             ("survey ADC 8 b", {"adc": "survey"}),
             ("neurosim-sar ADC 8 b", {"adc": "neurosim-sar"}),
             ("isaac, 4 bits", {"adc_bits": 4}),
             ("survey, 4 bits", {"adc": "survey", "adc_bits": 4}),
             ("isaac, 4 ADCs shared per array", {"adcs_per_array": 4}),
             ("read 0.1 V / 1 uA", {"read_voltage_V": 0.1, "input_current_A": 1e-6}),
             ("read 0.3 V / 100 uA", {"read_voltage_V": 0.3, "input_current_A": 1e-4}),
             ("TIA 100 uW, isaac", {"tia_power_W": 1e-4}),
             ("integration 100 ns", {"integration_time_s": 1e-7})]
    print(f"{'conditions':38} {'voltage pJ':>10} {'current pJ':>10} {'V/C':>6} "
          f"{'lat V ns':>8} {'lat C ns':>8}")
    for label, table in cases:
        s = read_cost_settings(table)
        v = read_cost_report(runs["voltage"][0], data, s)
        c = read_cost_report(runs["current"][0], data, s)
        print(f"{label:38} {v['energy_J'] * 1e12:10.2f} {c['energy_J'] * 1e12:10.2f} "
              f"{v['energy_J'] / c['energy_J']:6.1f} {v['latency_s'] * 1e9:8.1f} "
              f"{c['latency_s'] * 1e9:8.1f}")
    print()


def sweep(runs: dict, data, out: Path) -> None:
    rows = (read_cost_sweep(runs["voltage"][0], data, read_cost_settings({"adc": "survey"}),
                            [0.05, 0.1, 0.2, 0.3], [3, 4, 6, 8])
            + read_cost_sweep(runs["current"][0], data, read_cost_settings(),
                              [1e-6, 1e-5, 1e-4], [3, 4, 6, 8]))
    print(f"{'mode':8} {'level':>8} {'bits':>4} {'accuracy':>8} {'pJ/inference':>12}  dominant"
          "   (voltage: survey ADC; current: SAR neurons)")
    for r in rows:
        level = r.get("read_voltage_V", r.get("input_current_A"))
        print(f"{r['mode']:8} {level:8.3g} {r['adc_bits']:4d} {r['accuracy']:8.2%} "
              f"{r['energy_J'] * 1e12:12.2f}  {r['dominant_block']}")
    print(f"plot: {plot_accuracy_energy(rows, out / 'accuracy_energy.png')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep the runs and PNG here")
    args = parser.parse_args()
    worked_check()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.out or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        data = load_dataset("digits")
        runs = program_both(where)
        for mode, (run, _) in runs.items():
            print(f"{mode}: measured accuracy {evaluate(run, data)['accuracy_measured']:.2%}")
        print()
        block_table(runs, data)
        ratio_table(runs, data)
        sweep(runs, data, where)


if __name__ == "__main__":
    main()
