"""``hilctl compare``: one-shot vs write-verify vs planned write-verify, against the oracle."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console

from hilctl.drivers.atomic_file import check_output_directory, write_atomic

from ..config import ProtocolConfig, assemble_config
from ..predictor.model import Predictor
from ..predictor.planner import NeuralPlanner
from ..registry import PLANNED, PROTOCOLS
from ..report import plots
from ..report.console import comparison_table, report_console
from ..run.compare import check_protocols, run_comparison
from ..run.sibling_predictor import TRAINING_PULSES, train_on_sibling_array
from ..targets import targets_for


def print_comparison(report: dict, console: Console, wide: bool = False) -> None:
    console.print(comparison_table(report, PLANNED, wide))


@click.command()
@click.option("--protocols", default=",".join((ProtocolConfig().name, *PLANNED)),
              show_default=True, help=f"Comma-separated, from: {', '.join(PROTOCOLS)}.")
@click.option("--oracle/--no-oracle", default=True, show_default=True,
              help="Also run the planned protocols with the oracle planner (the physical limit).")
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--wide", is_flag=True, help="Every column of the table, at full width.")
def compare(protocols, oracle, tolerance, predictor_dir, training_pulses, rows, cols, seed,
            config_file, out_dir, as_json, wide):
    """Program identical copies of one simulated array with each protocol and the oracle."""
    console = Console(stderr=True)
    names = [p.strip() for p in protocols.split(",") if p.strip()]
    check_protocols(names)
    config = assemble_config(config_file, {}, {
        "array": {"rows": rows, "cols": cols, "seed": seed},
        "protocol": {"tolerance": tolerance}})
    targets = targets_for(config)
    out = check_output_directory(out_dir or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}",
                                 None, "comparison", create=False)
    predictor_info = None
    planner_for = None
    if any(n in PLANNED for n in names):
        if predictor_dir:
            predictor = Predictor.load(predictor_dir)
            predictor_info = {"source": str(predictor_dir)}
        else:
            console.print("no --predictor given:", end=" ")
            predictor, predictor_info = train_on_sibling_array(config, training_pulses,
                                                               console.print)

        def planner_for(name, crossbar):
            return NeuralPlanner(predictor, crossbar.shape)

    comparison = run_comparison(config, names, targets, planner_for, oracle, console.print)
    report = comparison.report()
    report["predictor"] = predictor_info
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "compare.json", json.dumps(report, indent=2) + "\n")
    labelled = {**comparison.results,
                **{f"{k} (oracle)": v for k, v in comparison.oracle_results.items()}}
    plots.compare_figures(labelled, out)
    if as_json:
        click.echo(json.dumps(report))
    else:
        print_comparison(report, report_console(wide), wide)
        report_console(wide).print(f"compare.json and PNGs in {out}")
