"""``hilctl compare``: one-shot vs write-verify vs planned write-verify, against the oracle."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.table import Table

from hilctl.drivers.atomic_file import check_output_directory, write_atomic

from ..config import ProtocolConfig, assemble_config
from ..predictor.model import Predictor
from ..predictor.planner import NeuralPlanner
from ..registry import PLANNED, PROTOCOLS
from ..report import plots
from ..report.console import report_console
from ..run.compare import check_protocols, run_comparison
from ..run.sibling_predictor import TRAINING_PULSES, train_on_sibling_array
from ..targets import targets_for


def print_comparison(report: dict, console: Console) -> None:
    rows = [(name, entry, False) for name, entry in report["protocols"].items()]
    rows += [(name, entry, True) for name, entry in report["oracle"].items()]
    table = Table(title=f"{report['cells']} cells, tolerance {report['tolerance']:.3g}; "
                        "relative difference |G - G_target| / G_target")
    table.add_column("protocol", no_wrap=True)
    for column in ("planner", "1 pulse in tol", "1 pulse <=10%", "1 pulse <=50%",
                   "final in tol", "true final", "pulses mean", "median", "p95", "time ms",
                   "energy nJ", "x oracle pulses", "x oracle <=10%"):
        table.add_column(column, justify="right")
    for name, e, is_oracle in rows:
        ratio = e.get("ratio_to_oracle", {})
        table.add_row(
            name, "oracle" if is_oracle else ("neural" if name in PLANNED else "-"),
            f"{e['success_1pulse']:.1%}", f"{e['success_1pulse_10pct']:.1%}",
            f"{e['success_1pulse_50pct']:.1%}", f"{e['success_final']:.1%}",
            f"{e.get('true_success_final', float('nan')):.1%}", f"{e['pulses_mean']:.2f}",
            f"{e['pulses_median']:g}", f"{e['pulses_p95']:g}",
            f"{e['program_time_s'] * 1e3:.2f}", f"{e['energy_J'] * 1e9:.1f}",
            _times(ratio.get("pulses_mean")), _times(ratio.get("success_1pulse_10pct")))
    console.print(table)


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


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
def compare(protocols, oracle, tolerance, predictor_dir, training_pulses, rows, cols, seed,
            config_file, out_dir, as_json):
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
        print_comparison(report, report_console())
        report_console().print(f"compare.json and PNGs in {out}")
