"""``hilctl device fit`` and ``hilctl device compare``: a device model against a measured
pulse-response table.

Two models fit: the 1R model (``simulated_backend.fit``) and the 1T1R model, whose gate sets
the SET level (``simulated_backend.fit_1t1r``); ``--model auto`` takes 1T1R when the table's
gate column varies. Both reports end with the same per-setting table (measured vs simulated
median and p10-p90 of G after), which ``device compare`` prints for any preset.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..units import Quantity

if TYPE_CHECKING:
    from hilctl.drivers.pulse_table import PulseTable

_READ_HELP = ("Read voltage at which the table's conductances were measured [the table's "
              "read_V, from hilctl data import or characterize; else 0.2V].")
DEFAULT_READ_V = 0.2


def read_voltage_of(table: PulseTable, given: float | None, where: str) -> float:
    """The read voltage of ``table``'s conductances: the one it carries, or ``given``; both
    and different is a mistake (the fit would model another read)."""
    from hilctl.drivers import ConfigError

    if given is None:
        return table.read_V if table.read_V is not None else DEFAULT_READ_V
    if table.read_V is not None and not math.isclose(given, table.read_V, rel_tol=1e-9):
        raise ConfigError(f"--read-voltage {given:g} V, but {where} was read at "
                          f"{table.read_V:g} V; drop --read-voltage or import the data again")
    return given
_FORCE_HELP = "Overwrite the files to write if they exist."
_READ_HELP = "Read voltage at which the table's conductances were measured [0.2V]."


@click.group()
def device() -> None:
    """Device models against measured data: fit a preset, compare a preset."""


def chosen_model(model: str, table: PulseTable) -> str:
    """``auto``: 1T1R when the gate column holds more than one value, else 1R."""
    import numpy as np

    if model != "auto":
        return model
    gates = np.unique(table.gate[np.isfinite(table.gate)])
    return "1t1r" if gates.size > 1 else "1r"


def _fit_1r(table, base, read_V, seed, bins):
    """(params, notes, report lines, one-line grade) of the 1R fit."""
    from hilctl.simulated_backend.fit import fit_device, quality_lines, quality_summary

    result = fit_device(table, base, read_V=read_V, seed=seed, bins=bins)
    summary = quality_summary(result.quality)
    return result.params, result.notes, quality_lines(result.quality), (
        f"median KS {summary['median_ks']:.3f}, worst KS {summary['worst_ks']:.3f} over "
        f"{summary['bins']} bins")


def _fit_1t1r(table, base, read_V, seed, bins):
    """(params, notes, report lines, one-line grade) of the 1T1R fit."""
    from hilctl.simulated_backend.fit_1t1r import fit_1t1r

    params, notes = fit_1t1r(table, base, read_V=read_V, seed=seed)
    return params, notes, [], "per pulse setting, printed by the fit"


_FITS = {"1r": _fit_1r, "1t1r": _fit_1t1r}


@device.command()
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table (CSV, e.g. from hilctl data import).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Preset file to write (TOML, loads with --preset PATH).")
@click.option("--model", type=click.Choice(["auto", "1t1r", "1r"]), default="auto",
              show_default=True,
              help="Cell model to fit; auto: 1t1r when the table's gate column varies.")
@click.option("--base", help="Preset (name or .toml) whose values fill what the data cannot "
                             "decide [hfox-1r for 1r, hfox-1t1r for 1t1r].")
@click.option("--read-voltage", type=Quantity("V"), default=None, help=_READ_HELP)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@click.option("--bins", type=click.IntRange(1, 20), default=6, show_default=True,
              help="G_before bins per pulse setting in the 1R model's KS report.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), help="Also plot the fit (PNG).")
def fit(data_file, out, model, base, read_voltage, bins, seed, plot, force) -> None:
    """Fit a cell model's parameters to a measured table and report fit quality."""
    from hilctl.drivers import ConfigError
    from hilctl.drivers.atomic_file import check_output_file
    from hilctl.drivers.pulse_table import PulseTable
    from hilctl.simulated_backend.fit import plot_comparison, simulate_table
    from hilctl.simulated_backend.fit_quality import setting_lines, setting_quality
    from hilctl.simulated_backend.presets import ONE_R, ONE_T_ONE_R, load_preset, write_preset

    bases = {"1r": ONE_R, "1t1r": ONE_T_ONE_R}
    check_output_file(out, force)
    if plot:
        check_output_file(plot, force, "--plot")
    table = PulseTable.read_csv(data_file)
    read_voltage = read_voltage_of(table, read_voltage, data_file)
    model = chosen_model(model, table)
    base = base or bases[model]
    base_params = load_preset(base)
    if base_params.cell.lower() != model:
        raise ConfigError(f"--base {base} is a {base_params.cell} preset; the {model.upper()} "
                          f"fit needs a {model.upper()} one (e.g. {bases[model]})")
    params, notes, report, grade = _FITS[model](table, base_params, read_voltage, seed, bins)
    simulated = simulate_table(table, params, read_voltage, seed)
    settings = setting_lines(*setting_quality(table, simulated))
    for line in [f"note: {note}" for note in notes] + report + settings:
        click.echo(line)
    write_preset(params, out, comment=(
        f"fitted by hilctl device fit ({params.cell} model) to {Path(data_file).name} "
        f"({len(table)} rows, read at {read_voltage:g} V, base {base})\nfit quality: {grade}; "
        f"{settings[-1].split(' have ')[0]} meet the median 5 % / spread 20 % mark"))
    if plot:
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
    """Print and plot measured vs simulated G_after per pulse setting (and, for a 1R preset,
    per G_before bin)."""
    from hilctl.drivers.atomic_file import check_output_file
    from hilctl.drivers.pulse_table import PulseTable
    from hilctl.simulated_backend.fit import compare, plot_comparison, quality_lines, simulate_table
    from hilctl.simulated_backend.fit_quality import setting_lines, setting_quality
    from hilctl.simulated_backend.presets import load_preset

    data_path = Path(data_file)
    plot = plot or data_path.with_name(f"{data_path.stem}-vs-{Path(preset_name).stem}.png")
    check_output_file(plot, force, "--plot")
    table = PulseTable.read_csv(data_file)
    read_voltage = read_voltage_of(table, read_voltage, data_file)
    params = load_preset(preset_name)
    simulated = simulate_table(table, params, read_voltage, seed)
    if params.cell == "1R":  # the G_before-binned KS report of the 1R model
        for line in quality_lines(compare(table, params, read_voltage, bins, seed, simulated)):
            click.echo(line)
    for line in setting_lines(*setting_quality(table, simulated)):
        click.echo(line)
    plot_comparison(table, simulated, plot, f"{data_path.name} vs {preset_name}", bins=bins)
    click.echo(f"plotted {plot}")
