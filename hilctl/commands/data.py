"""``hilctl data import``: a lab's measured pulse responses into the pulse-response table."""

from __future__ import annotations

import click

from ..data.table_import import LAYOUTS, MEASURES, Mapping, import_table, load_mapping
from ..units import parse_quantity


def _per_polarity(values: tuple[str, ...], unit: str, flag: str) -> dict[int, float]:
    """``1.2V`` (both polarities) or ``SET=1.2V`` / ``RESET=1.5V``."""
    from hilctl.drivers import Polarity

    out: dict[int, float] = {}
    for text in values:
        name, sep, quantity = text.partition("=")
        targets = (Polarity.from_word(name, flag),) if sep else (1, -1)
        for polarity in targets:
            out[polarity] = parse_quantity(quantity if sep else text, unit, flag)
    return out


def _pulses(amplitudes: tuple[str, ...], widths: tuple[str, ...]) -> dict[int, tuple[float, float]]:
    from hilctl.drivers import ConfigError

    amplitude = _per_polarity(amplitudes, "V", "--amplitude")
    width = _per_polarity(widths, "s", "--width")
    if set(amplitude) != set(width):
        raise ConfigError("--amplitude and --width must be given for the same polarities")
    return {p: (amplitude[p], width[p]) for p in amplitude}


def _columns(pairs: tuple[str, ...]) -> dict[str, str]:
    from hilctl.drivers import ConfigError

    out = {}
    for text in pairs:
        role, sep, name = text.partition("=")
        if not sep or not name:
            raise ConfigError(f"--column {text!r}: expected ROLE=HEADER or ROLE=NUMBER, e.g. "
                              "before=R_pre or before=2")
        out[role.strip()] = name.strip()
    return out


@click.group()
def data() -> None:
    """Measured device data: import a lab's pulse responses."""


@data.command("import")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table to write (CSV).")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False),
              help="TOML mapping (layout, measure, read_voltage, [columns], [units], [pulse.SET]).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--layout", type=click.Choice(LAYOUTS), help="rows (one pulse per row), "
              "pulse-train (one column per train of identical pulses) or pulse-table (hilctl's "
              "own table, no mapping needed) [rows].")
@click.option("--no-header", is_flag=True, help="The file has no header row; map columns by "
              "number.")
@click.option("--column", "columns", multiple=True, metavar="ROLE=HEADER|N",
              help="Map a role (cell, before, after, amplitude, width, polarity, gate) to a "
                   "header or a 1-based column number.")
@click.option("--measure", type=click.Choice(list(MEASURES)),
              help="What the before/after columns hold.")
@click.option("--measure-unit", help="Unit of the measurement columns (e.g. kOhm, uS, A).")
@click.option("--width-unit", help="Unit of the width column (ns, us, s).")
@click.option("--gate-unit", help="Unit of the gate column [V].")
@click.option("--read-voltage", help="Read voltage of read-current columns (e.g. 0.1V).")
@click.option("--amplitude", "amplitudes", multiple=True, metavar="[SET=|RESET=]V",
              help="Stated pulse amplitude, per polarity, for files that do not record it.")
@click.option("--width", "widths", multiple=True, metavar="[SET=|RESET=]s",
              help="Stated pulse width, per polarity (e.g. SET=100ns).")
@click.option("--gate", help="Constant gate voltage of 1T1R cells (e.g. 1.5V).")
@click.option("--polarity", "polarities", multiple=True,
              help="pulse-train layout: SET or RESET for each input, in order.")
@click.option("--min-rows", type=click.IntRange(1), default=20, show_default=True,
              help="Fewest rows per polarity to accept.")
def import_(inputs, out, force, mapping_file, layout, no_header, columns, measure, measure_unit,
            width_unit, gate_unit, read_voltage, amplitudes, widths, gate, polarities,
            min_rows) -> None:
    """Read INPUTS into the pulse-response table at --out and report what was read."""
    from hilctl.drivers import ConfigError, Polarity
    from hilctl.drivers.atomic_file import check_output_file

    check_output_file(out, force)
    base = load_mapping(mapping_file) if mapping_file else Mapping()
    units = {k: v for k, v in (("measure", measure_unit), ("width", width_unit),
                               ("gate", gate_unit)) if v}
    mapping = base.merged(
        layout=layout, header=False if no_header else None, measure=measure,
        columns=_columns(columns), units=units,
        pulse=_pulses(amplitudes, widths),
        read_voltage_V=(parse_quantity(read_voltage, "V", "--read-voltage")
                        if read_voltage else None),
        gate_V=parse_quantity(gate, "V", "--gate") if gate else None)
    if polarities and len(polarities) != len(inputs):
        raise ConfigError(f"--polarity given {len(polarities)} times for {len(inputs)} inputs")
    signs = [Polarity.from_word(p, "--polarity") for p in polarities] or [None] * len(inputs)
    report = import_table(list(zip(inputs, signs, strict=True)), mapping, min_rows=min_rows)
    report.table.write_csv(out)
    for line in report.lines():
        click.echo(line)
    click.echo(f"wrote {out}")
