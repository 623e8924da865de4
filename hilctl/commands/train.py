"""``hilctl train``: train an MLP for a voltage- or current-mode crossbar, or a fully memristive
spiking network (``--model msnn``: MIF neurons, voltage-mode synapses), and save it."""

from __future__ import annotations

import json
import time

import click

from ..units import Quantity


@click.command()
@click.option("--model", "kind", type=click.Choice(["mlp", "msnn"]), default="mlp",
              show_default=True,
              help="mlp: clipped-ReLU network; msnn: memristive integrate-and-fire neurons.")
@click.option("--steps", type=click.IntRange(1), default=40, show_default=True,
              help="msnn: time steps per sample.")
@click.option("--encoding", type=click.Choice(["alpha-dc", "poisson"]), default="alpha-dc",
              show_default=True, help="msnn: how an image drives the first layer.")
@click.option("--readout", type=click.Choice(["mean", "max", "per-step"]), default="mean",
              show_default=True, help="msnn: how output membrane voltages become logits.")
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
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Passes over the training set [60 for mlp, 10 for msnn].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--preset", "preset_name",
              help="Device preset (name or .toml) whose write-verify window the network is "
                   "trained for, as hilctl program --weights maps it [the default preset].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Model directory to write (weights.npz + model.json).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(kind, steps, encoding, readout, dataset, mode, iv_aware, read_voltage, iv_v0,
          conductance_noise, stuck_fraction, hidden, epochs, seed, preset_name, out_dir,
          as_json, quiet):
    """Train a network for a crossbar and save its weights with mode and I-V settings."""
    from rich.console import Console

    from hilctl.drivers import ConfigError

    from ..config import build_config
    from ..report.progress import epoch_progress
    from ..weights.datasets import load_dataset
    from ..weights.job import window_of
    from ..weights.model_files import save_model

    data = load_dataset(dataset)
    start = time.perf_counter()
    if kind == "msnn":
        if mode != "voltage" or iv_aware or conductance_noise or stuck_fraction:
            raise ConfigError("--model msnn trains voltage-mode synapses without --iv-aware, "
                              "--conductance-noise or --stuck-fraction")
        model = train_msnn(data, steps, encoding, readout, hidden, epochs or 10, seed, as_json)
    else:
        g_lo, g_hi = window_of(build_config({"array": {"preset": preset_name}} if preset_name
                                            else {}, "--preset"))
        with epoch_progress(f"training a {mode}-mode network", not quiet) as on_epoch:
            model = train_mlp(data, dataset, mode, iv_aware, read_voltage, iv_v0,
                              conductance_noise, stuck_fraction, hidden, epochs or 60, seed,
                              g_lo / g_hi, on_epoch)
    save_model(model, out_dir)
    summary = {"model": str(out_dir), "kind": model.kind, "dataset": model.dataset, "mode": mode,
               "layer_sizes": list(model.layer_sizes), "iv_aware": iv_aware,
               "input_voltage_V": read_voltage, "iv_v0_V": model.iv_v0_V,
               "accuracy_software": model.accuracy_software,
               "test_samples": int(data.y_test.size),
               "train_seconds": round(time.perf_counter() - start, 2)}
    if as_json:
        click.echo(json.dumps(summary))
        return
    sizes = "-".join(str(n) for n in model.layer_sizes)
    Console().print(f"{mode}-mode {model.kind} {sizes} on {model.dataset}: software test accuracy "
                    f"{model.accuracy_software:.2%} ({data.y_test.size} images); "
                    f"saved to {out_dir}")


def train_mlp(data, dataset, mode, iv_aware, read_voltage, iv_v0, conductance_noise,
              stuck_fraction, hidden, epochs, seed, g_ratio, on_epoch):
    from hilctl.simulated_backend import DEFAULT_PRESET, preset

    from ..weights.network import DEFAULT_HIDDEN, TrainConfig, train_model  # torch: import late

    config = TrainConfig(mode=mode, hidden=(hidden or DEFAULT_HIDDEN.get(dataset, 64),),
                         epochs=epochs, seed=seed, iv_aware=iv_aware,
                         conductance_noise=conductance_noise, stuck_fraction=stuck_fraction,
                         input_voltage_V=read_voltage, g_ratio=g_ratio,
                         iv_v0_V=preset(DEFAULT_PRESET).iv_v0_V if iv_v0 is None else iv_v0)
    return train_model(config, data, on_epoch)


def train_msnn(data, steps, encoding, readout, hidden, epochs, seed, quiet):
    from rich.console import Console

    from ..weights.spiking import SpikingTrainConfig, train_spiking  # torch: import late
    from ..weights.spiking_spec import SpikingSpec

    config = SpikingTrainConfig(spec=SpikingSpec(steps=steps, encoding=encoding,
                                                 readout=readout),
                                hidden=(hidden or 64,), epochs=epochs, seed=seed)
    console = Console(stderr=True, quiet=quiet)
    return train_spiking(config, data, progress=lambda epoch, loss: console.print(
        f"epoch {epoch}/{epochs}: training loss {loss:.3f}"))
