"""Trained weights on simulated arrays: accuracy in software, with ideal targets, after
programming, with stuck devices, through the nonlinear I-V, and inference time.

Digits, 64-32-10, on 64x64 arrays of the default device preset (hfox-1r, read at 0.2 V),
targets in the nominal window shrunk by 10 % each side. Programming goes through the
simulator and the real protocols: ISPP write-verify at 5 % tolerance, and one-shot (after a
block RESET) with the oracle and with the heuristic planner. Accuracy uses the last verify read
of each cell, as ``hilctl infer`` does.

The current-mode common-mode sweep goes the way ``hilctl program --weights`` goes (the runner,
the layer's arrays stacked into one simulated crossbar, pair compensation), per array seed,
with write-verify and with one-shot planned by the oracle and by a neural predictor trained on
a sibling array; for the conventionally trained network and for the noise-aware one
(trained against a relative error of 0.2 on every programmed device and 1 % stuck devices,
``hilctl train --mode current --conductance-noise 0.2 --stuck-fraction 0.01``).

Nonlinear I-V: inputs are voltages x * V_in applied to the array; they must stay below the
SET threshold (0.7 V nominal, 0.03 V spread across devices) or inference reprograms the
devices. The default device (V0 = 0.3 V) is too linear below threshold for the I-V to cost
5 points; a more nonlinear device (V0 = 0.15 V) shows the effect at 0.6 V. Run:
``python bench/bench_weights.py [--quick] [--plot-dir DIR]``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import shutil
import tempfile
import time

import numpy as np

from hilctl.api.inference import plot_defects
from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells
from hilctl.protocols import (
    HeuristicPlanner,
    IncrementalStep,
    OneShot,
    StopRules,
    Tolerance,
    program,
)
from hilctl.run.runner import new_run
from hilctl.run.sibling_predictor import train_on_sibling_array
from hilctl.simulated_backend import DeviceParams, OraclePlanner, SimulatedCrossbar
from hilctl.weights.datasets import Dataset, load_dataset
from hilctl.weights.inference import (
    array_accuracy,
    defect_sweep,
    evaluate,
    load_run,
    weight_errors,
)
from hilctl.weights.job import pair_compensation, weights_job
from hilctl.weights.layout import device_range, plan_layout, usable_window
from hilctl.weights.model_files import TrainedModel, save_model
from hilctl.weights.network import TrainConfig, train_model

SHAPE = (64, 64)
MODES = ("voltage", "current")
NOISE_AWARE = "current, noise-aware"
# Noise-aware training: about the relative error one-shot (oracle planner) leaves on a device,
# and the stuck fraction of the default device.
NOISE_AWARE_CONFIG = {"conductance_noise": 0.2, "stuck_fraction": 0.01}
COMMON_MODES = (0.0, 0.25, 0.5, 0.75, 1.0)
SWEEP_PROTOCOLS = {"write-verify": {"name": "write-verify"},
                   "one-shot oracle": {"name": "one-shot", "planner": "oracle"},
                   "one-shot neural": {"name": "one-shot", "planner": "neural"}}


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


def noise_aware(data: Dataset, epochs: int, seed: int, conductance_noise: float,
                stuck_fraction: float) -> TrainedModel:
    """A current-mode network trained against programming error (its noise slows learning, so
    it is given more epochs)."""
    return train_model(TrainConfig(mode="current", epochs=epochs, seed=seed,
                                   conductance_noise=conductance_noise,
                                   stuck_fraction=stuck_fraction), data)


def programming_tables(models: dict[str, TrainedModel], data: Dataset, seed: int) -> None:
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
            rows.append([mode, name, acc, f"{acc - model.accuracy_software:+.2%}",
                         f"{pulses:.1f} pulses/cell, {time.perf_counter() - start:.1f} s"])
            for e in weight_errors(model, layout, reads):
                errors.append([mode, name, e["layer"], f"{e['relative_rms_error']:.1%}"])
    table(f"digits 64-32-10 on {SHAPE[0]}x{SHAPE[1]} arrays ({layout.n_arrays} arrays of seeds "
          f"{seed}..{seed + layout.n_arrays - 1}, layer 0 tiled): test accuracy",
          ["mode", "weights", "accuracy", "vs software", "cost"], rows)
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


def common_mode_stuck_table(model: TrainedModel, data: Dataset, trials: int) -> None:
    """Current mode: how the row common mode sets device size and defect tolerance."""
    g_lo, g_hi = usable_window()
    rows = []
    for common_mode in COMMON_MODES:
        layout = plan_layout(model, SHAPE, g_lo, g_hi, common_mode=common_mode)
        stuck = defect_sweep(model, layout, layout.targets(), data, [0.01, 0.05], 0, trials)
        rows.append([f"{common_mode:.2f}", f"{np.nanmean(layout.targets()) * 1e6:.1f} uS",
                     stuck[0]["accuracy"], stuck[1]["accuracy"]])
    table("current mode: row common mode (0 = idle devices at g_lo, 1 = largest row total), "
          "ideal targets plus stuck devices", ["common mode", "mean target", "1% stuck",
                                               "5% stuck"], rows)


def programmed_sweep(models: dict[str, TrainedModel], data: Dataset, seeds, common_modes,
                     work: pathlib.Path, title: str) -> None:
    """Current mode, programmed the way ``hilctl program --weights`` does, per common mode,
    protocol and array seed: the measured test accuracy."""
    predictors: dict[int, pathlib.Path] = {}
    rows = []
    for label, model in models.items():
        save_model(model, work / label / "model")
        for protocol, settings in SWEEP_PROTOCOLS.items():
            for cm in common_modes:
                accs = [_programmed_accuracy(work / label, settings, cm, seed, data, predictors)
                        for seed in seeds]
                rows.append([label, protocol, f"{cm:.2f}", *accs, float(np.mean(accs)),
                             f"{np.mean(accs) - model.accuracy_software:+.2%}"])
    software = ", ".join(f"{k} {m.accuracy_software:.2%}" for k, m in models.items())
    table(f"{title}: measured accuracy per array seed (software: {software})",
          ["network", "protocol", "common mode", *[f"seed {s}" for s in seeds], "mean",
           "vs software"], rows)


def _programmed_accuracy(work: pathlib.Path, protocol: dict, common_mode: float, seed: int,
                         data: Dataset, predictors: dict) -> float:
    base = {"array": {"seed": seed},
            "weights": {"model": str(work / "model"), "common_mode": common_mode,
                        "rescale": True}}  # as hilctl demo: ballast can tip a row over
    if protocol.get("planner") == "neural":
        if seed not in predictors:
            predictors[seed] = work.parent / f"predictor-{seed}"  # shared by every network
            predictor, _ = train_on_sibling_array(Job(build_config(base)), say=lambda _: None)
            predictor.save(predictors[seed])
        protocol = {**protocol, "predictor": str(predictors[seed])}
    config = build_config({**base, "protocol": protocol})
    targets, files, layout = weights_job(Job(config))
    run_dir = work / f"run-{protocol['name']}-{common_mode}-{seed}"
    new_run(Job(config), run_dir, targets, extra_files=files,
            retarget=pair_compensation(layout, targets))
    accuracy = evaluate(load_run(run_dir), data)["accuracy_measured"]
    shutil.rmtree(run_dir)
    return accuracy


def below_threshold(volts: float, params: DeviceParams) -> float:
    """Fraction of devices whose SET threshold (normal spread) lies above ``volts``."""
    z = (params.set_threshold_V - volts) / params.threshold_spread_V
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def iv_table(data: Dataset, epochs: int, voltages, params: DeviceParams) -> None:
    g_lo, g_hi = usable_window(params)
    rows = []
    for v in voltages:
        accs = []
        for aware in (False, True):
            model = train_model(TrainConfig(epochs=epochs, input_voltage_V=v, iv_aware=aware,
                                            iv_v0_V=params.iv_v0_V), data)
            layout = plan_layout(model, SHAPE, g_lo, g_hi)
            accs.append((model.accuracy_software,
                         array_accuracy(model, layout, layout.targets(), data)))
        (sw, arr), (_, aware_arr) = accs
        loss = sw - arr
        recovered = f"{(aware_arr - arr) / loss:.0%}" if loss >= 0.01 else "-"
        rows.append([f"{v:.2f} V", f"{v / params.iv_v0_V:.2f}",
                     f"{1 - below_threshold(v, params):.2%}", sw, arr, f"{loss:+.2%}",
                     aware_arr, recovered])
    table(f"nonlinear I-V (V0 = {params.iv_v0_V} V, SET threshold {params.set_threshold_V} V "
          f"+- {params.threshold_spread_V} V): voltage mode, inputs x*V_in, ideal targets on "
          "the array", ["V_in", "V_in/V0", "devices SET by V_in", "conventional sw",
                        "conventional array", "loss", "I-V aware array", "loss recovered"],
          rows)


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
    parser.add_argument("--plot-dir", type=pathlib.Path, metavar="DIR",
                        help="also draw the defect curve of both modes into DIR")
    args = parser.parse_args()
    epochs, trials = (20, 2) if args.quick else (60, 5)
    data = load_dataset("digits")
    print(f"device window read at 0.2 V: {device_range()[0]:.3e}..{device_range()[1]:.3e} S; "
          f"targets in {usable_window()[0]:.3e}..{usable_window()[1]:.3e} S")
    models = {mode: train_model(TrainConfig(mode=mode, epochs=epochs, seed=args.seed), data)
              for mode in MODES}
    models[NOISE_AWARE] = noise_aware(data, 2 * epochs, args.seed, **NOISE_AWARE_CONFIG)
    programming_tables(models, data, args.seed)
    seeds = range(args.seed, args.seed + (1 if args.quick else 3))
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-weights-"))
    try:
        programmed_sweep({k: models[k] for k in ("current", NOISE_AWARE)}, data, seeds,
                         COMMON_MODES, work, "current mode through hilctl program, by row "
                         "common mode")
        levels = {f"noise {sigma:.2f}, stuck 1%": noise_aware(data, 2 * epochs, args.seed, sigma,
                                                               0.01)
                  for sigma in (0.1, 0.35)}
        programmed_sweep(levels, data, seeds, (1.0,), work, "noise-aware training (twice the "
                         "epochs) at other noise levels, common mode 1")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    common_mode_stuck_table(models["current"], data, trials)
    defect_table({k: models[k] for k in MODES}, data, [0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2],
                 trials, args.plot_dir)
    iv_table(data, epochs, [0.2, 0.5, 0.65, 1.0, 1.2, 1.5], DeviceParams())
    iv_table(data, epochs, [0.4, 0.5, 0.6, 0.65], DeviceParams().replace(iv_v0_V=0.15))
    timing_table(models, data)


if __name__ == "__main__":
    main()
