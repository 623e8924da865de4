"""``hilctl infer``: run a programmed network with the conductances its run measured."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..cli import no_plots_option
from ..units import Quantity

if TYPE_CHECKING:
    from rich.console import Console


def parse_list(text: str | None, flag: str, kind=float) -> list:
    """``a,b,c`` into numbers of ``kind`` (units as SI numbers: 0.1,0.2 or 1e-6)."""
    from hilctl.drivers import ConfigError

    try:
        return [kind(v) for v in (text or "").split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated numbers") from None


@click.command()
@click.option("--run", "run_dir", type=click.Path(file_okay=False), required=True,
              help="Run directory written by hilctl program --weights.")
@click.option("--dataset", default=None, help="Dataset [the one the model was trained on].")
@click.option("--defects", help="Stuck fractions to add, e.g. 0,0.05,0.1,0.2.")
@click.option("--trials", type=click.IntRange(1), default=3, show_default=True,
              help="Seeded defect draws per fraction.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the defect curve PNG [the run directory].")
@click.option("--fresh-reads", is_flag=True,
              help="Read every programmed cell again now instead of using the run's last "
                   "verify reads.")
@click.option("--device-book", "device_book", type=click.Path(dir_okay=False),
              help="With --fresh-reads: keep in this device book when each device was last "
                   "read and what it read (its learned shifts stay as they are).")
@click.option("--relax", type=Quantity("s"), default=None,
              help="Simulated array only: let states relax this long before the fresh reads "
                   "(e.g. 1000s; the preset's relaxation_sigma sets how much).")
@click.option("--cost", is_flag=True,
              help="Energy and latency per inference of the read path, with the accuracy the "
                   "same converters give, beside what programming cost.")
@click.option("--cost-config", type=click.Path(dir_okay=False),
              help="TOML file whose [read_cost] table sets converter, levels and block "
                   "parameters.")
@click.option("--adc", help="Converter preset: isaac, neurosim-sar or survey [isaac].")
@click.option("--adc-bits", type=int, help="Converter bits [8].")
@click.option("--cost-sweep", "sweep_levels",
              help="Accuracy vs energy over read levels: volts in voltage mode (0.05,0.1,0.2), "
                   "full-scale row amperes in current mode (1e-6,1e-5).")
@click.option("--sweep-bits", default="4,6,8", show_default=True,
              help="Converter bits of the sweep.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@no_plots_option
def infer(run_dir, dataset, defects, trials, seed, out_dir, fresh_reads, device_book, relax,
          cost, cost_config, adc, adc_bits, sweep_levels, sweep_bits, as_json, no_plots):
    """Accuracy in software, with ideal targets and with the measured conductances."""
    from ..api.inference import infer as infer_run
    from ..api.parameters import spoken_as_flags
    from ..report.console import report_console

    levels = parse_list(sweep_levels, "--cost-sweep")
    with spoken_as_flags({"cost_sweep": "--cost-sweep", "sweep_bits": "--sweep-bits",
                          "device_book": "--device-book"}):
        report = infer_run(run_dir, dataset, defects=parse_list(defects, "--defects"),
                           trials=trials, seed=seed, out=out_dir, fresh_reads=fresh_reads,
                           relax=relax, device_book=device_book, plots=not no_plots,
                           cost=cost, cost_config=cost_config, adc=adc,
                           adc_bits=adc_bits, cost_sweep=levels,
                           sweep_bits=parse_list(sweep_bits, "--sweep-bits", int) if levels
                           else ())
    if as_json:
        click.echo(json.dumps(report))
    else:
        print_report(report, report_console())


def print_report(report: dict, console: Console) -> None:
    from rich.table import Table

    kind = "spiking network (MIF neurons)" if report["model_kind"] == "msnn" else "network"
    table = Table(title=f"{report['mode']}-mode {kind} on {report['dataset']} "
                        f"({report['test_samples']} test images)")
    table.add_column("accuracy")
    table.add_column("value", justify="right")
    for key in ("software", "ideal", "measured", "true"):
        if f"accuracy_{key}" in report:
            table.add_row(key, f"{report[f'accuracy_{key}']:.2%}")
    console.print(table)
    layers = Table(title="weight error per layer")
    for col in ("layer", "shape", "RMS error", "relative RMS", "max |error|"):
        layers.add_column(col, justify="right")
    for e in report["layers"]:
        layers.add_row(str(e["layer"]), "x".join(map(str, e["shape"])), f"{e['rms_error']:.3g}",
                       f"{e['relative_rms_error']:.2%}", f"{e['max_abs_error']:.3g}")
    console.print(layers)
    if "read_cost" in report:
        print_cost(report, console)
    if "defects" in report:
        sweep = Table(title="accuracy with further stuck devices (half at G_min, half at G_max)")
        for col in ("stuck", "accuracy", "min", "max", "draws"):
            sweep.add_column(col, justify="right")
        for r in report["defects"]:
            sweep.add_row(f"{r['fraction']:.0%}", f"{r['accuracy']:.2%}",
                          f"{r['accuracy_min']:.2%}", f"{r['accuracy_max']:.2%}", str(r["trials"]))
        console.print(sweep)
        console.print(f"curve: {report['defect_plot']}")


def print_cost(report: dict, console: Console) -> None:
    """Per block energy of one inference, the total per inference and per MAC, the sweep and
    the programming ledger."""
    from rich.table import Table

    cost = report["read_cost"]
    level = ", ".join(f"{k} = {v:.3g}" for k, v in cost.items() if k in
                      ("read_voltage_V", "input_current_A"))
    table = Table(title=f"read path per inference ({cost['mode']} mode, {level}, "
                        f"{cost['converter']} {cost['adc_bits']} bits)")
    table.add_column("block")
    table.add_column("energy (pJ)", justify="right")
    table.add_column("share", justify="right")
    for name, value in cost["blocks_J"].items():
        table.add_row(name, f"{value * 1e12:.3f}", f"{value / cost['energy_J']:.1%}")
    table.add_row("total", f"{cost['energy_J'] * 1e12:.3f}", "100%")
    console.print(table)
    console.print(f"per MAC {cost['energy_per_mac_J'] * 1e15:.2f} fJ over {cost['macs']} MACs; "
                  f"latency {cost['latency_s'] * 1e9:.1f} ns in {cost['phases']} phases; "
                  f"accuracy {cost['accuracy']:.2%}; dominant: {cost['dominant_block']}")
    ledger = report["programming"]
    if ledger["recorded"]:
        console.print(f"programming ({ledger['protocol']}): {ledger['energy_J'] * 1e6:.3f} uJ, "
                      f"{ledger['program_time_s']:.3g} s for {ledger['cells']} cells")
    if "cost_sweep" in report:
        sweep = Table(title="accuracy vs energy per inference")
        for col in ("level", "bits", "accuracy", "energy (pJ)", "dominant"):
            sweep.add_column(col, justify="right")
        key = next(k for k in ("read_voltage_V", "input_current_A") if k in cost)
        for r in report["cost_sweep"]:
            sweep.add_row(f"{r[key]:.3g}", str(r["adc_bits"]), f"{r['accuracy']:.2%}",
                          f"{r['energy_J'] * 1e12:.2f}", r["dominant_block"])
        console.print(sweep)
        console.print(f"plot: {report['cost_plot']}")
