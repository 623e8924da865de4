"""``hilctl compare``: one-shot vs write-verify vs planned write-verify, against the oracle."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from ..api import comparison
from ..api.backends import array_from
from ..api.parameters import spoken_as_flags
from ..cli import no_plots_option
from ..registry import PLANNED, PROTOCOLS
from ..report.console import comparison_table, cost_caption, report_console
from ..run.sibling_predictor import TRAINING_PULSES

if TYPE_CHECKING:
    from rich.console import Console


def print_comparison(report: dict, console: Console, wide: bool = False) -> None:
    console.print(comparison_table(report, PLANNED, wide))
    console.print(cost_caption(report))


@click.command()
@click.option("--protocols", default=",".join(comparison.DEFAULT_PROTOCOLS),
              show_default=True, help=f"Comma-separated, from: {', '.join(PROTOCOLS)}.")
@click.option("--oracle/--no-oracle", default=True, show_default=True,
              help="Also run the planned protocols with the oracle planner (the physical limit).")
@click.option("--lookup/--no-lookup", default=True, show_default=True,
              help="Also run the planned protocols with the lookup planner (the baseline).")
@click.option("--table", "table_file", type=click.Path(dir_okay=False),
              help="Pulse-response table of the lookup planner (with --predictor; without "
                   "--predictor the lookup uses the separate array's table).")
@click.option("--tolerance", default="5%",
              show_default=True, help="Relative tolerance band (0.05 or 5%).")
@click.option("--predictor", "predictor_dir", type=click.Path(file_okay=False),
              help="Trained predictor directory; without it one is trained on a separate array.")
@click.option("--training-pulses", type=click.IntRange(100), default=TRAINING_PULSES,
              show_default=True, help="Characterization pulses when training on the fly.")
@click.option("--rows", type=click.IntRange(1), default=64, show_default=True)
@click.option("--cols", type=click.IntRange(1), default=64, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML configuration (array, device, limits, protocol settings).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for compare.json and the PNGs [runs/compare-<time>].")
@click.option("--device-book", "device_book", type=click.Path(dir_okay=False),
              help="Device book every neural planner starts from (read only: the copies the "
                   "protocols program are not the array).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--wide", is_flag=True, help="Every column of the table, at full width.")
@no_plots_option
def compare(protocols, oracle, lookup, table_file, tolerance, predictor_dir, training_pulses,
            rows, cols, seed, config_file, out_dir, device_book, as_json, wide, no_plots):
    """Program identical copies of one simulated array with each protocol and the oracle."""
    from rich.console import Console

    console = Console(stderr=True)
    names = [p.strip() for p in protocols.split(",") if p.strip()]
    out = out_dir or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}"
    with spoken_as_flags({"predictor": "--predictor", "table": "--table"}):
        array = array_from(config_file, {"array": {"rows": rows, "cols": cols, "seed": seed}})
        report = comparison.compare(array, names, tolerance=tolerance, predictor=predictor_dir,
                                    oracle=oracle, lookup=lookup, table=table_file,
                                    training_pulses=training_pulses, device_book=device_book,
                                    out=out, plots=not no_plots, say=console.print)
    if as_json:
        click.echo(json.dumps(report))
    else:
        shown = report_console(wide)
        print_comparison(report, shown, wide)
        shown.print(f"compare.json{'' if no_plots else ' and PNGs'} in {out}")
