"""Trained weights on simulated arrays: accuracy in software, with ideal targets, after
programming, with stuck devices, through the nonlinear I-V, and inference time.

Digits, 64-32-10, on 64x64 arrays of the default device preset (hfox-1t1r, read at 0.2 V),
targets in the nominal window shrunk by 10 % each side. Programming goes through the
simulator and the real protocols: ISPP write-verify at 5 % tolerance, and one-shot (after a
block RESET) with the oracle and with the heuristic planner. Accuracy uses the last verify read
of each cell, as ``hilctl infer`` does. Run:
``python bench/bench_weights.py [--quick] [--write-runs DIR]``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from drivers import Cells  # noqa: E402
from hilctl.commands.infer import plot_defects  # noqa: E402
from hilctl.datasets import Dataset, load_dataset  # noqa: E402
from hilctl.inference import (  # noqa: E402
    array_accuracy,
    defect_sweep,
    weight_errors,
    write_weight_files,
)
from hilctl.model_files import TrainedModel  # noqa: E402
from hilctl.network import TrainConfig, train_model  # noqa: E402
from hilctl.weight_layout import device_range, plan_layout, usable_window  # noqa: E402
from protocols import (  # noqa: E402
    HeuristicPlanner,
    IncrementalStep,
    OneShot,
    StopRules,
    Tolerance,
    program,
)
from simulated_backend import DeviceParams, OraclePlanner, SimulatedCrossbar  # noqa: E402

SHAPE = (64, 64)
MODES = ("voltage", "current")


def table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[f"{v:.2%}" if isinstance(v, float) and abs(v) <= 1 else str(v) for v in row]
             for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))


def program_layout(targets: np.ndarray, protocol_for, seed: int) -> tuple[np.ndarray, float]:
    """Program every array of ``targets`` on its own simulated array; last verify reads."""
    reads = np.full(targets.shape, np.nan)
    pulses = []
    for a in range(targets.shape[0]):
        crossbar = SimulatedCrossbar(SHAPE, seed=seed + a)
        flat = np.flatnonzero(np.isfinite(targets[a].ravel()))
        cells = Cells.from_flat(flat, SHAPE)
        rules = StopRules(tolerance=Tolerance(0.05))
        result = program(protocol_for(crossbar), crossbar, cells, targets[a].ravel()[flat], rules)
        reads[a].reshape(-1)[flat] = result.final_read
        pulses.append(result.pulses)
    return reads, float(np.concatenate(pulses).mean())


def protocols_to_run(params: DeviceParams):
    rf = params.read_factor(0.2)
    window = (params.g_min_S * rf, params.g_max_S * rf)
    return {
        "write-verify ISPP 5%": lambda xb: IncrementalStep(),
        "one-shot oracle": lambda xb: OneShot(OraclePlanner(xb)),
        "one-shot heuristic": lambda xb: OneShot(HeuristicPlanner(xb.shape, xb.limits, window)),
    }


def programming_tables(models: dict[str, TrainedModel], data: Dataset, seed: int,
                       runs_dir: pathlib.Path | None) -> None:
    g_lo, g_hi = usable_window()
    rows, errors = [], []
    for mode, model in models.items():
        layout = plan_layout(model, SHAPE, g_lo, g_hi)
        ideal = array_accuracy(model, layout, layout.targets(), data)
        rows.append([mode, "software", model.accuracy_software, "", ""])
        rows.append([mode, "ideal targets", ideal, f"{ideal - model.accuracy_software:+.2%}", ""])
        for name, protocol_for in protocols_to_run(DeviceParams()).items():
            start = time.perf_counter()
            reads, pulses = program_layout(layout.targets(), protocol_for, seed)
            acc = array_accuracy(model, layout, reads, data)
            if runs_dir is not None:
                write_weight_files(runs_dir / f"{mode}-{name.split()[0]}-{name.split()[1]}",
                                   model, layout, reads)
            rows.append([mode, name, acc, f"{acc - model.accuracy_software:+.2%}",
                         f"{pulses:.1f} pulses/cell, {time.perf_counter() - start:.1f} s"])
            for e in weight_errors(model, layout, reads):
                errors.append([mode, name, e["layer"], f"{e['relative_rms_error']:.1%}"])
    table(f"digits 64-32-10 on {SHAPE[0]}x{SHAPE[1]} arrays ({layout.n_arrays} arrays, layer 0 "
          "tiled): test accuracy", ["mode", "weights", "accuracy", "vs software", "cost"], rows)
    table("per-layer relative RMS weight error after programming",
          ["mode", "programming", "layer", "rel. RMS"], errors)


def defect_table(models: dict[str, TrainedModel], data: Dataset, fractions, trials: int,
                 plot_dir: pathlib.Path | None) -> None:
    g_lo, g_hi = usable_window()
    columns = {}
    for mode, model in models.items():
        layout = plan_layout(model, SHAPE, g_lo, g_hi)
        columns[mode] = defect_sweep(model, layout, layout.targets(), data, fractions, 0, trials)
    if plot_dir is not None:
        reports = [{"mode": m, "dataset": data.name, "defects": columns[m],
                    "accuracy_software": models[m].accuracy_software} for m in models]
        print(f"defect curve of both modes: {plot_defects(reports, plot_dir)}")
    layout = plan_layout(models["current"], SHAPE, g_lo, g_hi, common_mode=0.0)
    columns["current, low common mode"] = defect_sweep(models["current"], layout,
                                                       layout.targets(), data, fractions, 0,
                                                       trials)
    rows = [[f"{p:.0%}", *[columns[k][i]["accuracy"] for k in columns]]
            for i, p in enumerate(fractions)]
    table(f"ideal targets plus stuck devices (half at G_min, half at G_max; mean of {trials} "
          "draws)", ["stuck", *columns], rows)


def common_mode_table(model: TrainedModel, data: Dataset, seed: int, trials: int) -> None:
    """Current mode: how the row common mode trades programming error and defect tolerance."""
    g_lo, g_hi = usable_window()
    rows = []
    for common_mode in (0.0, 0.5, 1.0):
        layout = plan_layout(model, SHAPE, g_lo, g_hi, common_mode=common_mode)
        reads, _ = program_layout(layout.targets(), lambda xb: IncrementalStep(), seed)
        stuck = defect_sweep(model, layout, layout.targets(), data, [0.01, 0.05], 0, trials)
        rows.append([f"{common_mode:.1f}", f"{np.nanmean(layout.targets()) * 1e6:.1f} uS",
                     array_accuracy(model, layout, reads, data), stuck[0]["accuracy"],
                     stuck[1]["accuracy"]])
    table("current mode: row common mode (0 = idle devices at g_lo, 1 = largest row total)",
          ["common mode", "mean target", "after ISPP 5%", "1% stuck", "5% stuck"], rows)


def iv_table(data: Dataset, epochs: int, voltages) -> None:
    g_lo, g_hi = usable_window()
    params = DeviceParams()
    rows = []
    for v in voltages:
        accs = []
        for aware in (False, True):
            model = train_model(TrainConfig(epochs=epochs, input_voltage_V=v, iv_aware=aware),
                                data)
            layout = plan_layout(model, SHAPE, g_lo, g_hi)
            accs.append((model.accuracy_software,
                         array_accuracy(model, layout, layout.targets(), data)))
        (sw, arr), (_, aware_arr) = accs
        loss = sw - arr
        recovered = f"{(aware_arr - arr) / loss:.0%}" if loss >= 0.01 else "-"
        safe = "yes" if v < params.set_threshold_V else "no (SETs devices)"
        rows.append([f"{v:.2f} V", f"{v / params.iv_v0_V:.2f}", safe, sw, arr,
                     f"{loss:+.2%}", aware_arr, recovered])
    table(f"nonlinear I-V (V0 = {params.iv_v0_V} V): voltage mode, inputs x*V_in, ideal "
          "targets on the array", ["V_in", "V_in/V0", "below SET threshold", "conventional sw",
                                   "conventional array", "loss", "I-V aware array",
                                   "loss recovered"], rows)


def timing_table(models: dict[str, TrainedModel], data: Dataset) -> None:
    g_lo, g_hi = usable_window()
    rows = []
    x_big = np.tile(data.x_test, (int(np.ceil(10_000 / len(data.y_test))), 1))[:10_000]
    y_big = np.tile(data.y_test, int(np.ceil(10_000 / len(data.y_test))))[:10_000]
    big = Dataset("digits x19", data.x_train, data.y_train, x_big, y_big)
    rng = np.random.default_rng(0)
    mnist_like = Dataset("random 784-pixel images", data.x_train, data.y_train,
                         rng.random((10_000, 784), dtype=np.float32),
                         rng.integers(0, 10, 10_000))
    wide = TrainedModel(mode="voltage", layer_sizes=(784, 128, 10), dataset="timing",
                        weights=[rng.normal(size=(785, 128)) * 0.05,
                                 rng.normal(size=(129, 10)) * 0.1], gains=[1.0, 1.0])
    for name, model, dataset in (("64-32-10 voltage", models["voltage"], big),
                                 ("64-32-10 current", models["current"], big),
                                 ("784-128-10 voltage", wide, mnist_like)):
        layout = plan_layout(model, SHAPE, g_lo, g_hi)
        start = time.perf_counter()
        array_accuracy(model, layout, layout.targets(), dataset)
        rows.append([name, dataset.name, len(dataset.y_test), layout.n_arrays,
                     f"{time.perf_counter() - start:.3f} s"])
    table("inference time on 10,000 images (conductances to weights + forward pass)",
          ["network", "images", "count", "arrays", "time"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer epochs and draws")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-runs", type=pathlib.Path, metavar="DIR",
                        help="also write each programmed network as a run directory that "
                             "hilctl infer --run reads, and the defect curve of both modes")
    args = parser.parse_args()
    epochs, trials = (20, 2) if args.quick else (60, 5)
    data = load_dataset("digits")
    print(f"device window read at 0.2 V: {device_range()[0]:.3e}..{device_range()[1]:.3e} S; "
          f"targets in {usable_window()[0]:.3e}..{usable_window()[1]:.3e} S")
    models = {mode: train_model(TrainConfig(mode=mode, epochs=epochs, seed=args.seed), data)
              for mode in MODES}
    programming_tables(models, data, args.seed, args.write_runs)
    common_mode_table(models["current"], data, args.seed, trials)
    defect_table(models, data, [0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2], trials, args.write_runs)
    iv_table(data, epochs, [0.2, 0.5, 0.65, 1.0, 1.2, 1.5])
    timing_table(models, data)


if __name__ == "__main__":
    main()
