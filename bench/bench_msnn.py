"""Fully memristive spiking networks on digits: training, programming, inference, defects.

Trains a 64-64-10 MIF network (and, for the defect table, the demo's 64-32-10 MLP), programs
both onto the embedded simulated array with write-verify and planned write-verify at 5 %, and
prints software against measured-conductance accuracy and accuracy against stuck devices.

    python bench/bench_msnn.py [--epochs 10] [--steps 40] [--mnist5k]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hilctl.api.story import program_and_infer, train_network
from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.run.sibling_predictor import train_on_sibling_array
from hilctl.weights.datasets import load_dataset
from hilctl.weights.inference import defect_sweep, load_run
from hilctl.weights.model_files import save_model
from hilctl.weights.spiking import SpikingTrainConfig, train_spiking
from hilctl.weights.spiking_spec import SpikingSpec

DEFECTS = (0.0, 0.05, 0.1, 0.2)
PROTOCOLS = ("write-verify", "write-verify-planned")


def train_msnn(out: Path, dataset: str, epochs: int, steps: int, hidden: int) -> dict:
    data = load_dataset(dataset)
    started = time.perf_counter()
    # The same column current per active row as digits' 65 rows at the default 10 uA.
    spec = SpikingSpec(steps=steps, i_ref_A=1e-5 * 65 / (data.n_features + 1))
    model = train_spiking(SpikingTrainConfig(spec=spec, hidden=(hidden,), epochs=epochs), data)
    seconds = time.perf_counter() - started
    save_model(model, out / "model")
    sizes = "-".join(str(n) for n in model.layer_sizes)
    print(f"{dataset} msnn {sizes}, T = {steps}, {epochs} epochs: software test accuracy "
          f"{model.accuracy_software:.2%} ({data.y_test.size} images), {seconds:.0f} s training")
    return {"data": data}


def program_both(out: Path, data) -> list[dict]:
    base = {"array": {"seed": 0}, "weights": {"model": str((out / "model").resolve()),
                                               "rescale": True},
            "protocol": {"tolerance": 0.05, "predictor": str((out / "predictor").resolve())}}
    predictor, _ = train_on_sibling_array(Job(build_config(base)), say=lambda _: None)
    predictor.save(out / "predictor")
    return [program_and_infer(protocol, base, out, data, quiet=True) for protocol in PROTOCOLS]


def defects_of(run_dir: Path, data) -> list[float]:
    run = load_run(run_dir)
    rows = defect_sweep(run.model, run.layout, run.conductance, data, list(DEFECTS))
    return [r["accuracy"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--mnist5k", action="store_true", help="train on mnist5k only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.mnist5k:
            train_msnn(Path(tmp), "mnist5k", args.epochs, args.steps, args.hidden)
            return
        snn, mlp = Path(tmp) / "msnn", Path(tmp) / "mlp"
        snn.mkdir(), mlp.mkdir()
        data = train_msnn(snn, "digits", args.epochs, args.steps, args.hidden)["data"]
        rows = program_both(snn, data)
        print(f"\n{'protocol':22} {'in band':>8} {'pulses':>7} {'software':>9} {'measured':>9}"
              f" {'gap pts':>8}")
        for r in rows:
            gap = 100 * (r["accuracy_software"] - r["accuracy_measured"])
            print(f"{r['protocol']:22} {r['success_rate']:8.1%} {r['pulses_mean']:7.2f} "
                  f"{r['accuracy_software']:9.1%} {r['accuracy_measured']:9.1%} {gap:8.1f}")
        train_network("voltage", "mlp", mlp, say=lambda _: None)
        mlp_rows = program_both(mlp, data)
        print("\nstuck devices after write-verify at 5 %: accuracy (mean of 3 draws)")
        print(f"{'stuck':>6} {'msnn':>7} {'mlp':>7}")
        for p, a, b in zip(DEFECTS, defects_of(Path(rows[0]['run_dir']), data),
                           defects_of(Path(mlp_rows[0]['run_dir']), data), strict=True):
            print(f"{p:6.0%} {a:7.1%} {b:7.1%}")


if __name__ == "__main__":
    main()
