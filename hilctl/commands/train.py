"""``hilctl train``: train an MLP for a voltage- or current-mode crossbar, or a fully memristive
spiking network (``--model msnn``: MIF neurons, voltage-mode synapses), and save it."""

from __future__ import annotations

import json

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

    from ..api.networks import training_report
    from ..api.parameters import spoken_as_flags

    with spoken_as_flags({"kind": "--model", "iv_v0": "--iv-v0"}):
        summary = training_report(
            out_dir, kind=kind, dataset=dataset, mode=mode, hidden=hidden, epochs=epochs,
            seed=seed, iv_aware=iv_aware, read_voltage=read_voltage, iv_v0=iv_v0,
            conductance_noise=conductance_noise, stuck_fraction=stuck_fraction,
            preset=preset_name, steps=steps, encoding=encoding, readout=readout,
            progress=not quiet)
    if as_json:
        click.echo(json.dumps(summary))
        return
    sizes = "-".join(str(n) for n in summary["layer_sizes"])
    Console().print(f"{mode}-mode {summary['kind']} {sizes} on {summary['dataset']}: software "
                    f"test accuracy {summary['accuracy_software']:.2%} "
                    f"({summary['test_samples']} images); saved to {out_dir}")
