"""``hilctl predictor train|eval``: the neural pulse predictor from a pulse-response table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..predictor.knobs import KNOBS
from ..units import parse_quantity

if TYPE_CHECKING:
    import numpy as np

    from ..predictor.model import Predictor

_KNOB_HELP = (f"What to plan: one of {', '.join(KNOBS)} for both polarities, or one per "
              "polarity, e.g. set=gate,reset=amplitude.")


def parse_fixed(values: tuple[str, ...]) -> dict[str, str] | str | None:
    """``1.2V`` for both polarities, or ``SET=1.2V`` / ``RESET=1.5V`` (unit per polarity)."""
    from hilctl.drivers import ConfigError

    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    fixed = {}
    for text in values:
        name, sep, quantity = text.partition("=")
        if not sep:
            raise ConfigError(f"--fixed {text!r}: expected SET=<value> or RESET=<value>")
        fixed[name.strip().upper()] = quantity
    return fixed or None


@click.group()
def predictor() -> None:
    """Train and evaluate the neural pulse predictor."""


@predictor.command()
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table (CSV) to train on.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Predictor directory to write (weights.npz + predictor.json).")
@click.option("--knob", help=_KNOB_HELP + " [the gate for SET and the source-line amplitude "
              "for RESET on a gate sweep, else width]")
@click.option("--epochs", type=click.IntRange(1), help="Passes over the data [about 1.5M "
              "samples seen].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--fixed", "fixed_values", multiple=True, metavar="[SET=|RESET=]VALUE",
              help="Fixed amplitude (width knob, e.g. SET=1.1V) or width (amplitude and gate "
                   "knobs, e.g. 1us) per polarity [chosen from the data].")
@click.option("--polarities", type=click.Choice(["both", "SET", "RESET"]), default="both",
              show_default=True, help="Train for one polarity only when the table has one.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(data_file, out, knob, epochs, seed, fixed_values, polarities, as_json,
          quiet) -> None:
    """Train a predictor on a pulse-response table and save it."""
    from ..api.characterization import fit_predictor
    from ..api.parameters import spoken_as_flags

    chosen = ("SET", "RESET") if polarities == "both" else (polarities,)
    with spoken_as_flags():
        trained = fit_predictor(data_file, out, knob=knob, epochs=epochs, seed=seed,
                                fixed=parse_fixed(fixed_values), polarities=chosen,
                                progress=not quiet)
    spec = trained.spec
    summary = {"out": str(out), "knob": spec.knob, "fixed": spec.fixed,
               "knob_range": spec.knob_range, "g_range_S": spec.g_range_S, **spec.training}
    if as_json:
        click.echo(json.dumps(summary))
        return
    settings = "; ".join(f"{name} {spec.knob[name]} at " + ", ".join(
        f"{s} {v:.4g}" for s, v in spec.fixed[name].items()) for name in spec.polarities)
    click.echo(f"trained a {trained.knob} predictor on {spec.training['rows']} rows "
               f"({spec.training['epochs']} epochs, {spec.training['seconds']} s); "
               f"{settings}; saved to {out}")


@predictor.command("eval")
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False),
              help="Held-out pulse-response table (CSV).")
@click.option("--predictor", "predictor_dir", required=True, type=click.Path(file_okay=False),
              help="Predictor directory written by 'hilctl predictor train'.")
@click.option("--lookup-data", "lookup_file", type=click.Path(dir_okay=False),
              help="Table the lookup baseline is built from [the predictor's training table].")
@click.option("--targets", "targets_text", metavar="LOW:HIGH:COUNT",
              help="Target grid for the one-shot figures, log-spaced, e.g. 30uS:210uS:7 "
                   "[10th-90th percentile of where switched pulses landed].")
@click.option("--switch-threshold", type=click.FloatRange(0, min_open=True), default=0.05,
              show_default=True, help="|ln(G after/G before)| beyond which a row switched "
                                      "(above the read noise).")
@click.option("--knob", help="Refuse a predictor of another knob.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def evaluate_command(data_file, predictor_dir, lookup_file, targets_text, switch_threshold,
                     knob, as_json) -> None:
    """Fit on switched and unswitched rows, and implied one-shot success of the neural
    planner beside the lookup baseline and the hindsight ceiling."""
    from hilctl.drivers.pulse_table import PulseTable

    from ..predictor.evaluation import evaluate
    from ..predictor.lookup import LookupTable
    from ..predictor.model import Predictor

    loaded = Predictor.load(predictor_dir, knob=knob)
    targets = _targets(targets_text) if targets_text else None
    source = _lookup_source(loaded, lookup_file)
    lookup = None if source is None else LookupTable(PulseTable.read_csv(source))
    report = evaluate(loaded, PulseTable.read_csv(data_file), lookup, targets,
                      switch_threshold)
    report["lookup_source"] = source
    if as_json:
        click.echo(json.dumps(report))
        return
    _print_report(report)


def _lookup_source(loaded: Predictor, lookup_file: str | None) -> str | None:
    """The table the lookup baseline is built from: the one given, else the predictor's
    training table if it is still there (None: the report leaves the lookup out)."""
    if lookup_file:
        return lookup_file
    source = loaded.spec.training.get("source", "")
    return source if source and Path(source).is_file() else None


def _targets(text: str) -> np.ndarray:
    import numpy as np

    from hilctl.drivers import ConfigError

    parts = text.split(":")
    if len(parts) != 3 or not parts[2].strip().isdigit() or int(parts[2]) < 1:
        raise ConfigError(f"--targets {text!r}: expected LOW:HIGH:COUNT, e.g. 30uS:210uS:7")
    low, high = (parse_quantity(p, "S", "--targets") for p in parts[:2])
    if not 0 < low <= high:
        raise ConfigError(f"--targets {text!r}: expected 0 < LOW <= HIGH")
    return np.geomspace(low, high, int(parts[2]))


def _print_report(report: dict) -> None:
    from ..predictor.evaluation import TOLERANCES

    click.echo(f"{report['rows']} rows, knob {report['knob']}; switched: "
               f"|ln(G after/G before)| > {report['switch_threshold']:g}")
    keys = [k for k in report["all"] if k != "rows"]
    click.echo(f"{'':>22}" + "".join(f"{g:>12}" for g in ("all", "switched", "unswitched")))
    for key in ["rows", *keys]:
        cells = [report[g][key] for g in ("all", "switched", "unswitched")]
        click.echo(f"{key:>22}" + "".join(f"{_shown(c):>12}" for c in cells))
    click.echo(f"knob errors in {report['knob_error_unit']}")
    shot = report["one_shot"]
    planners = [p for p in ("neural", "lookup", "hindsight") if p in shot]
    click.echo("implied one-shot success (share of held-out pulses landing in band)")
    if report["lookup_source"] is None:
        click.echo("note: no lookup baseline: the training table is not here; pass "
                   "--lookup-data TABLE.csv")
    click.echo(f"{'target uS':>10} {'tol':>5}" + "".join(f"{p:>11}" for p in planners))
    for tol in TOLERANCES:
        key = f"within_{int(tol * 100)}pct"
        for j, target in enumerate(shot["targets_S"]):
            click.echo(f"{target * 1e6:>10.1f} {tol:>5.0%}" + "".join(
                f"{shot[p][key][j]:>11.3f}" for p in planners))
        click.echo(f"{'mean':>10} {tol:>5.0%}" + "".join(
            f"{shot[p]['mean_' + key]:>11.3f}" for p in planners))


def _shown(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
