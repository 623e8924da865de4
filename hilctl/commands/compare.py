"""``hilctl compare``: one-shot vs write-verify vs planned write-verify, against the oracle."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli import no_plots_option, output_flags
from ..registry import DEFAULT_PROTOCOL, PLANNED, PROTOCOLS
from ..run.sibling_predictor import TRAINING_PULSES

if TYPE_CHECKING:
    from rich.console import Console

    from hilctl.drivers.pulse_table import PulseTable

    from ..predictor.model import Predictor


def print_comparison(report: dict, console: Console, wide: bool = False) -> None:
    from ..report.console import comparison_table, cost_caption

    console.print(comparison_table(report, PLANNED, wide))
    console.print(cost_caption(report))


def _predictor_and_table(config, predictor_dir, table_file, lookup: bool, pulses: int,
                         say) -> tuple[Predictor, PulseTable | None, dict]:
    """The neural planner's predictor and the lookup planner's table: given, or both made from
    one separate array of the same preset."""
    from hilctl.drivers.pulse_table import PulseTable

    from ..predictor.model import Predictor
    from ..run.sibling_predictor import sibling_table, train_for_array

    if predictor_dir:
        table = PulseTable.read_csv(table_file) if table_file and lookup else None
        return Predictor.load(predictor_dir), table, {"source": str(predictor_dir)}
    say("no --predictor given:", end=" ")
    table, info = sibling_table(config, pulses, say)
    predictor = train_for_array(table, info["training_array_seed"])
    return predictor, PulseTable.read_csv(table_file) if table_file else table, info


@click.command()
@click.option("--protocols", default=",".join((DEFAULT_PROTOCOL, *PLANNED)),
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

    from hilctl.drivers.atomic_file import check_output_directory, write_atomic

    from ..config import assemble_config
    from ..predictor.lookup import LookupPlanner, LookupTable
    from ..registry import neural_planner
    from ..report import plots
    from ..report.console import report_console
    from ..run.book_link import seeded_from_book
    from ..run.compare import check_protocols, run_comparison
    from ..targets import targets_for

    console = Console(stderr=True)
    names = [p.strip() for p in protocols.split(",") if p.strip()]
    check_protocols(names)
    config = assemble_config(config_file, {}, {
        "array": {"rows": rows, "cols": cols, "seed": seed},
        "protocol": {"tolerance": tolerance},
        "device_book": {"path": device_book and str(Path(device_book).resolve())},
        "output": output_flags(no_plots)})
    targets = targets_for(config)
    out = check_output_directory(out_dir or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}",
                                 None, "comparison", create=False)
    predictor_info, planner_for, baselines = None, None, {}
    if any(n in PLANNED for n in names):
        predictor, table, predictor_info = _predictor_and_table(
            config, predictor_dir, table_file, lookup, training_pulses, console.print)

        def planner_for(name, crossbar):
            return seeded_from_book(config, crossbar,
                                    neural_planner(config, crossbar, predictor))

        if lookup and table is not None:
            lookup_table = LookupTable(table)
            baselines["lookup"] = lambda name, crossbar: LookupPlanner(lookup_table)
        elif lookup:
            console.print("no lookup planner: give its pulse-response table with --table")

    comparison = run_comparison(config, names, targets, planner_for, oracle, console.print,
                                baselines)
    report = comparison.report()
    report["predictor"] = predictor_info
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "compare.json", json.dumps(report, indent=2) + "\n")
    labelled = {**comparison.results,
                **{f"{k} (oracle)": v for k, v in comparison.oracle_results.items()}}
    if config.output.plots:
        plots.compare_figures(labelled, out)
    if as_json:
        click.echo(json.dumps(report))
    else:
        shown = report_console(wide)
        print_comparison(report, shown, wide)
        shown.print(f"compare.json and PNGs in {out}")
