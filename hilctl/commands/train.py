"""``hilctl train``: train an MLP for a voltage- or current-mode crossbar and save it."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console

from hilctl.simulated_backend import DeviceParams

from ..units import Quantity
from ..weights.datasets import load_dataset
from ..weights.model_files import save_model


@click.command()
@click.option("--dataset", default="digits", show_default=True,
              help="digits, mnist5k, or a directory of MNIST idx files.")
@click.option("--mode", type=click.Choice(["voltage", "current"]), default="voltage",
              show_default=True, help="Crossbar formulation the network is trained for.")
@click.option("--iv-aware", is_flag=True,
              help="Train through the device I-V at the read voltage (voltage mode).")
@click.option("--read-voltage", type=Quantity("V"), default="0.2V", show_default=True,
              help="Full-scale input voltage at which the array will compute; keep it below "
                   "the devices' SET threshold (0.7V on the default device) or inference "
                   "reprograms them.")
@click.option("--iv-v0", type=Quantity("V"), default=None,
              help="V0 of the device I-V I = G V0 sinh(V/V0) [the default device's, 0.3V]; "
                   "the smaller, the more nonlinear.")
@click.option("--conductance-noise", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True,
              help="Train against this relative error on every programmed device "
                   "(noise-aware; 0.2 suits one-shot programming).")
@click.option("--stuck-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True,
              help="Also train against this fraction of stuck devices.")
@click.option("--hidden", type=click.IntRange(1), default=None,
              help="Hidden units [32 for digits, 128 for mnist5k].")
@click.option("--epochs", type=click.IntRange(1), default=60, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Model directory to write (weights.npz + model.json).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def train(dataset, mode, iv_aware, read_voltage, iv_v0, conductance_noise, stuck_fraction, hidden,
          epochs, seed, out_dir, as_json):
    """Train a network for a crossbar and save its weights with mode and I-V settings."""
    from ..weights.network import DEFAULT_HIDDEN, TrainConfig, train_model  # torch: import late

    config = TrainConfig(mode=mode, hidden=(hidden or DEFAULT_HIDDEN.get(dataset, 64),),
                         epochs=epochs, seed=seed, iv_aware=iv_aware,
                         conductance_noise=conductance_noise, stuck_fraction=stuck_fraction,
                         input_voltage_V=read_voltage,
                         iv_v0_V=DeviceParams().iv_v0_V if iv_v0 is None else iv_v0)
    data = load_dataset(dataset)
    start = time.perf_counter()
    model = train_model(config, data)
    save_model(model, out_dir)
    summary = {"model": str(out_dir), "dataset": model.dataset, "mode": mode,
               "layer_sizes": list(model.layer_sizes), "iv_aware": iv_aware,
               "input_voltage_V": read_voltage, "iv_v0_V": model.iv_v0_V,
               "accuracy_software": model.accuracy_software,
               "test_samples": int(data.y_test.size),
               "train_seconds": round(time.perf_counter() - start, 2)}
    if as_json:
        click.echo(json.dumps(summary))
        return
    sizes = "-".join(str(n) for n in model.layer_sizes)
    Console().print(f"{mode}-mode {sizes} on {model.dataset}: software test accuracy "
                    f"{model.accuracy_software:.2%} ({data.y_test.size} images); "
                    f"saved to {out_dir}")
