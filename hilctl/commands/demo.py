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
from typing import TYPE_CHECKING

import click

from ..cli import no_plots_option
from ..report.console import (
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

    from ..api.parameters import spoken_as_flags
    from ..api.story import story

    console = Console(stderr=True, quiet=quiet)
    with spoken_as_flags({"kind": "--model"}):
        told = story(out_dir or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}", mode, kind,
                     seed, tolerance, progress=not quiet, plots=not no_plots,
                     say=console.print)
    if as_json:
        click.echo(json.dumps({key: told[key] for key in ("mode", "model", "dataset", "runs")}))
    else:
        sizes = "-".join(str(n) for n in told["layer_sizes"])
        shown = report_console()
        print_story(told["runs"], f"{sizes} {kind}", told["preset"], shown)
        shown.print(f"model, predictor and runs in {told['out']}")
