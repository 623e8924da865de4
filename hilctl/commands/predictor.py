"""``hilctl predictor train|eval``: the neural pulse predictor from a pulse-response table."""

from __future__ import annotations

import json

import click

from hilctl.drivers import ConfigError
from hilctl.drivers.pulse_table import PulseTable

from ..predictor.model import KNOBS, Predictor
from ..predictor.training import train_predictor
from ..units import parse_quantity


def parse_fixed(values: tuple[str, ...], unit: str, flag: str) -> dict[str, float] | None:
    """``1.2V`` for both polarities, or ``SET=1.2V`` / ``RESET=1.5V``."""
    fixed: dict[str, float] = {}
    for text in values:
        name, sep, quantity = text.partition("=")
        names = [name.strip().upper()] if sep else ["SET", "RESET"]
        for polarity in names:
            if polarity not in ("SET", "RESET"):
                raise ConfigError(f"{flag} {text!r}: expected SET=<value> or RESET=<value>")
            fixed[polarity] = parse_quantity(quantity if sep else text, unit, flag)
    return fixed or None


@click.group()
def predictor() -> None:
    """Train and evaluate the neural pulse predictor."""


@predictor.command()
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table (CSV) to train on.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Predictor directory to write (weights.npz + predictor.json).")
@click.option("--knob", type=click.Choice(KNOBS), default="width", show_default=True,
              help="Plan the pulse width at a fixed amplitude, or the amplitude at a fixed width.")
@click.option("--epochs", type=click.IntRange(1), help="Passes over the data [about 1.5M "
              "samples seen].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--fixed", "fixed_values", multiple=True, metavar="[SET=|RESET=]VALUE",
              help="Fixed amplitude (width knob, e.g. SET=1.1V) or width (amplitude knob, "
                   "e.g. 1us) per polarity [chosen from the data].")
@click.option("--polarities", type=click.Choice(["both", "SET", "RESET"]), default="both",
              show_default=True, help="Train for one polarity only when the table has one.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def train(data_file, out, knob, epochs, seed, fixed_values, polarities, as_json) -> None:
    """Train a predictor on a pulse-response table and save it."""
    table = PulseTable.read_csv(data_file)
    fixed = parse_fixed(fixed_values, "V" if knob == "width" else "s", "--fixed")
    chosen = ("SET", "RESET") if polarities == "both" else (polarities,)
    trained = train_predictor(table, knob=knob, epochs=epochs, seed=seed, polarities=chosen,
                              fixed=fixed, source=str(data_file))
    trained.save(out)
    spec = trained.spec
    summary = {"out": str(out), "knob": knob, "fixed": spec.fixed,
               "knob_range": spec.knob_range, "g_range_S": spec.g_range_S, **spec.training}
    if as_json:
        click.echo(json.dumps(summary))
        return
    unit = "V" if knob == "width" else "s"
    settings = ", ".join(f"{name} {value:.4g} {unit}" for name, value in spec.fixed.items())
    click.echo(f"trained a {knob} predictor on {spec.training['rows']} rows "
               f"({spec.training['epochs']} epochs, {spec.training['seconds']} s); fixed "
               f"{'amplitude' if knob == 'width' else 'width'}: {settings}; saved to {out}")


@predictor.command("eval")
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False),
              help="Held-out pulse-response table (CSV).")
@click.option("--predictor", "predictor_dir", required=True, type=click.Path(file_okay=False),
              help="Predictor directory written by 'hilctl predictor train'.")
@click.option("--knob", type=click.Choice(KNOBS), help="Refuse a predictor of another knob.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def evaluate(data_file, predictor_dir, knob, as_json) -> None:
    """Knob error and predicted-vs-measured G on a held-out table."""
    loaded = Predictor.load(predictor_dir, knob=knob)
    report = loaded.evaluate(PulseTable.read_csv(data_file))
    if as_json:
        click.echo(json.dumps(report))
        return
    for key, value in report.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        click.echo(f"{key:>22}  {shown}")
