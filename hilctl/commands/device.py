"""``hilctl device fit`` and ``hilctl device compare``: the parametric device model against a
measured pulse-response table."""

from __future__ import annotations

import math
from pathlib import Path

import click

from hilctl.drivers import ConfigError
from hilctl.drivers.atomic_file import check_output_file
from hilctl.drivers.pulse_table import PulseTable
from hilctl.simulated_backend.fit import (
    compare,
    fit_device,
    plot_comparison,
    quality_lines,
    quality_summary,
    simulate_table,
)
from hilctl.simulated_backend.presets import DEFAULT_PRESET, load_preset, write_preset

from ..units import Quantity

_READ_HELP = ("Read voltage at which the table's conductances were measured [the table's "
              "read_V, from hilctl data import or characterize; else 0.2V].")
DEFAULT_READ_V = 0.2


def read_voltage_of(table: PulseTable, given: float | None, where: str) -> float:
    """The read voltage of ``table``'s conductances: the one it carries, or ``given``; both
    and different is a mistake (the fit would model another read)."""
    if given is None:
        return table.read_V if table.read_V is not None else DEFAULT_READ_V
    if table.read_V is not None and not math.isclose(given, table.read_V, rel_tol=1e-9):
        raise ConfigError(f"--read-voltage {given:g} V, but {where} was read at "
                          f"{table.read_V:g} V; drop --read-voltage or import the data again")
    return given
_FORCE_HELP = "Overwrite the files to write if they exist."


@click.group()
def device() -> None:
    """Device models against measured data: fit a preset, compare a preset."""


@device.command()
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table (CSV, e.g. from hilctl data import).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Preset file to write (TOML, loads with --preset PATH).")
@click.option("--base", default=DEFAULT_PRESET, show_default=True,
              help="Preset (name or .toml) whose values fill what the data cannot decide.")
@click.option("--read-voltage", type=Quantity("V"), default=None, help=_READ_HELP)
@click.option("--bins", type=click.IntRange(1, 20), default=6, show_default=True,
              help="G_before bins per pulse setting in the quality report.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), help="Also plot the fit (PNG).")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
def fit(data_file, out, base, read_voltage, bins, seed, plot, force) -> None:
    """Fit the parametric model's parameters to a measured table and report fit quality."""
    check_output_file(out, force)
    if plot:
        check_output_file(plot, force, "--plot")
    table = PulseTable.read_csv(data_file)
    read_voltage = read_voltage_of(table, read_voltage, data_file)
    result = fit_device(table, load_preset(base), read_V=read_voltage, seed=seed, bins=bins)
    for line in result.notes:
        click.echo(f"note: {line}")
    for line in quality_lines(result.quality):
        click.echo(line)
    summary = quality_summary(result.quality)
    write_preset(result.params, out, comment=(
        f"fitted by hilctl device fit to {Path(data_file).name} ({len(table)} rows, read at "
        f"{read_voltage:g} V, base {base})\nfit quality: median KS {summary['median_ks']:.3f}, "
        f"worst KS {summary['worst_ks']:.3f} over {summary['bins']} bins"))
    if plot:
        simulated = simulate_table(table, result.params, read_voltage, seed)
        plot_comparison(table, simulated, plot, f"{Path(data_file).name}: fitted preset")
        click.echo(f"plotted {plot}")
    click.echo(f"wrote {out}")


@device.command("compare")
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table (CSV).")
@click.option("--preset", "preset_name", required=True,
              help="Preset name or a .toml written by hilctl device fit.")
@click.option("--read-voltage", type=Quantity("V"), default=None, help=_READ_HELP)
@click.option("--bins", type=click.IntRange(1, 20), default=6, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False),
              help="PNG to write [<data>-vs-<preset>.png beside the data].")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
def compare_(data_file, preset_name, read_voltage, bins, seed, plot, force) -> None:
    """Print and plot measured vs simulated G_after per G_before bin and pulse setting."""
    data_path = Path(data_file)
    plot = plot or data_path.with_name(f"{data_path.stem}-vs-{Path(preset_name).stem}.png")
    check_output_file(plot, force, "--plot")
    table = PulseTable.read_csv(data_file)
    read_voltage = read_voltage_of(table, read_voltage, data_file)
    params = load_preset(preset_name)
    simulated = simulate_table(table, params, read_voltage, seed)
    for line in quality_lines(compare(table, params, read_voltage, bins, seed, simulated)):
        click.echo(line)
    plot_comparison(table, simulated, plot, f"{data_path.name} vs {preset_name}", bins=bins)
    click.echo(f"plotted {plot}")
