"""``hilctl demo``: the whole story on the embedded simulated array.

Train a network for the crossbar on digits, program its weights with classic write-verify (the
variant that suits the default preset: ISPP on the gate of its 1T1R cells), with planned
write-verify and with one-shot (both planned by a neural predictor trained on a separate array:
a gate sweep on 1T1R cells), run inference with the conductances each run measured, and print
what each way of programming cost and kept.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli import no_plots_option, output_flags
from ..registry import DEFAULT_PROTOCOL, PLANNED
from ..report.console import (
    COST_AXES,
    PROTOCOL_LEGEND,
    Column,
    compact,
    cost_caption,
    percent,
    ratios,
    report_console,
    report_table,
    scaled,
    short_protocol,
)

if TYPE_CHECKING:
    from rich.console import Console

# The default write-verify as the baseline, then every planned protocol.
PROTOCOLS = (DEFAULT_PROTOCOL, *PLANNED)
# One-shot leaves every device with a ~20 % error (one unverified pulse); a network trained
# against that error keeps most of its accuracy (digits, voltage mode: one-shot 92.6 % against
# 85.9 % for a conventionally trained one).
NOISE_AWARE = {"conductance_noise": 0.2, "stuck_fraction": 0.01}
NOISE_AWARE_EPOCHS = 120


def train_network(mode: str, kind: str, out: Path, iv_v0_V: float, say) -> tuple:
    from hilctl.drivers import ConfigError

    from ..weights.datasets import load_dataset
    from ..weights.model_files import save_model

    data = load_dataset("digits")
    if kind == "msnn":
        from ..weights.spiking import SpikingTrainConfig, train_spiking  # torch: when needed

        if mode != "voltage":
            raise ConfigError("--model msnn runs voltage-mode synapses; drop --mode current")
        say("training a 64-64-10 fully memristive spiking network (MIF neurons) on digits")
        model = train_spiking(SpikingTrainConfig(hidden=(64,)), data)
    else:
        from ..weights.network import TrainConfig, train_model  # torch: imported when needed

        say(f"training a 64-32-10 {mode}-mode network on digits, noise-aware (20 % device "
            "error, 1 % stuck devices)")
        model = train_model(TrainConfig(mode=mode, hidden=(32,), iv_v0_V=iv_v0_V,
                                        epochs=NOISE_AWARE_EPOCHS, **NOISE_AWARE), data)
    save_model(model, out / "model")
    return model, data


def program_and_infer(protocol: str, base: dict, out: Path, data, quiet: bool) -> dict:
    from ..config import build_config
    from ..report.progress import round_progress
    from ..run.runner import new_run
    from ..weights.inference import evaluate, load_run
    from ..weights.job import pair_compensation, weights_job

    config = build_config({**base, "protocol": {**base["protocol"], "name": protocol}})
    targets, files, layout = weights_job(config)
    with round_progress(protocol, not quiet) as hook:
        outcome = new_run(config, out / f"run-{protocol}", targets, progress=hook,
                          extra_files=files, retarget=pair_compensation(layout, targets))
    report = evaluate(load_run(out / f"run-{protocol}"), data)
    s = outcome.summary
    return {"protocol": protocol, "variant": s["protocol"], "arrays": layout.n_arrays,
            "cells": s["cells"],
            "success_rate": s["success_rate"], "pulses_mean": s["pulses_mean"],
            "program_time_s": s["program_time_s"], "time_terms_s": s["time_terms_s"],
            "energy_J": s["energy_J"], "energy_model": s["energy_model"],
            "cost_settings": s["cost_settings"],
            "accuracy_software": report["accuracy_software"],
            "accuracy_ideal": report["accuracy_ideal"],
            "accuracy_measured": report["accuracy_measured"], "run_dir": s["run_dir"]}


STORY_COLUMNS = [
    Column("cells", lambda r: str(r["cells"])),
    Column("in band %", percent("success_rate")),
    Column("pulses /cell", scaled("pulses_mean", 1.0)),
    Column("time ms", lambda r: compact(r["program_time_s"] * 1e3)),
    Column("energy nJ", lambda r: compact(r["energy_J"] * 1e9)),
    Column("x ISPP p/t/E", ratios("ratio_to_ispp"), min_width=14),
    Column("software %", percent("accuracy_software"), min_width=8),
    Column("ideal targets %", percent("accuracy_ideal"), min_width=7),
    Column("measured %", percent("accuracy_measured"), min_width=8),
]


def with_ratios_to_ispp(rows: list[dict]) -> list[dict]:
    """Each run's pulses, time and energy over the first run's (the classic write-verify)."""
    ispp = rows[0]
    return [{**r, "ratio_to_ispp": {axis: r[axis] / ispp[axis] if ispp[axis] else None
                                    for axis in COST_AXES}} for r in rows]


def print_story(rows: list[dict], network: str, preset: str, console: Console) -> None:
    title = (f"digits {network} on the simulated {preset} array: software vs programmed "
             f"({PROTOCOL_LEGEND}; p/t/E: pulses, modelled time, energy)")
    console.print(report_table(title, "programming", STORY_COLUMNS,
                               [(_ran(r), r) for r in rows]))
    console.print(cost_caption(rows[0]))


def _ran(row: dict) -> str:
    """The protocol's short name, and the variant it ran where the name picks one."""
    name = short_protocol(row["protocol"])
    if row["variant"] == row["protocol"]:
        return name
    return f"{name} ({short_protocol(row['variant'])})"


@click.command()
@click.option("--mode", type=click.Choice(["voltage", "current"]), default="voltage",
              show_default=True, help="Crossbar formulation of the network.")
@click.option("--model", "kind", type=click.Choice(["mlp", "msnn"]), default="mlp",
              show_default=True,
              help="mlp, or msnn: a fully memristive spiking network (MIF neurons).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the simulated array.")
@click.option("--tolerance", default="5%",
              show_default=True, help="Write-verify tolerance, relative (0.05 or 5%).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the model, predictor and runs [runs/demo-<time>].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@no_plots_option
def demo(mode, kind, seed, tolerance, out_dir, as_json, quiet, no_plots):
    """Train on digits, program three ways, infer with what each run measured."""
    from rich.console import Console

    from hilctl.drivers.atomic_file import check_output_directory

    from ..assemble import device_params
    from ..config import build_config, merge
    from ..run.sibling_predictor import train_on_sibling_array

    console = Console(stderr=True, quiet=quiet)
    build_config({"protocol": {"tolerance": tolerance}}, "--tolerance")  # refused before work
    out = check_output_directory(out_dir or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}",
                                 None, "demo")
    base = merge({}, {  # merge leaves out the flags not given
        "array": {"seed": seed},
        "weights": {"model": str((out / "model").resolve()), "rescale": True},
        "protocol": {"tolerance": tolerance, "predictor": str((out / "predictor").resolve())},
        "output": output_flags(no_plots)})
    config = build_config(base)
    iv_v0_V = device_params(config).iv_v0_V
    model, data = train_network(mode, kind, out, iv_v0_V, console.print)
    predictor, _ = train_on_sibling_array(config, say=console.print)
    predictor.save(out / "predictor")
    rows = with_ratios_to_ispp([program_and_infer(protocol, base, out, data, quiet)
                                for protocol in PROTOCOLS])
    if as_json:
        click.echo(json.dumps({"mode": mode, "model": kind, "dataset": "digits", "runs": rows}))
    else:
        sizes = "-".join(str(n) for n in model.layer_sizes)
        shown = report_console()
        print_story(rows, f"{sizes} {kind}", config.array.preset, shown)
        shown.print(f"model, predictor and runs in {out}")
