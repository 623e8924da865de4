"""``hilctl program``: program a simulated or real array and store the run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli import no_plots_option, output_flags, say_after_interrupt
from ..registry import PLANNERS, PROTOCOLS

if TYPE_CHECKING:
    from rich.console import Console

    from ..run.runner import RunOutcome

# The run's own modules (numpy, pydantic, the simulator) are imported when it runs, so that
# ``hilctl program --help`` starts in a blink.


def print_summary(summary: dict, console: Console) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['protocol']} on {summary['cells']} cells "
                        f"(tolerance {summary['tolerance']})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key in ("protocol", "cells", "tolerance", "levels", "empirical"):
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    console.print(table)
    if "levels" in summary:
        print_levels(summary["levels"], console)
    if "empirical" in summary:
        from hilctl.simulated_backend.empirical import usage_line  # scipy: only for a table

        console.print(usage_line(summary["empirical"]))


def print_levels(levels: dict[str, dict], console: Console) -> None:
    """Per level: cells, share in its own band, pulses per cell (mean, median, p95)."""
    from rich.table import Table

    table = Table(title="per level")
    columns = ("cells", "success_rate", "pulses_mean", "pulses_median", "pulses_p95")
    for column in ("level", *columns):
        table.add_column(column, justify="right")
    for name, figures in levels.items():
        table.add_row(name, *(f"{figures[c]:.4g}" for c in columns))
    console.print(table)


# The flags of the API's parameters that are spelled otherwise.
FLAGS = {"targets": "--pattern"}


@click.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML configuration (array, device, limits, protocol, targets, rig).")
@click.option("--rows", type=click.IntRange(1), help="Rows of the simulated array [64].")
@click.option("--cols", type=click.IntRange(1), help="Columns of the simulated array [64].")
@click.option("--seed", type=click.IntRange(0), help="Seed of the simulated array [0].")
@click.option("--pattern", type=click.Choice(["random", "checkerboard", "gradient"]),
              help="Built-in target pattern [random].")
@click.option("--targets", "targets_file", type=click.Path(dir_okay=False),
              help="Target map in siemens (.npy or .csv), shaped like the array.")
@click.option("--levels", "levels_file", type=click.Path(dir_okay=False),
              help="TOML file whose [levels] table names each level's lower/upper bound.")
@click.option("--level-map", type=click.Path(dir_okay=False),
              help="Each cell's level (.npy of level indices or names), with --levels.")
@click.option("--bounds", "bounds_file", type=click.Path(dir_okay=False),
              help="Per-cell bands: .npz of lower_S and upper_S (NaN: open side).")
@click.option("--protocol", help=f"One of: {', '.join(PROTOCOLS)} [write-verify].")
@click.option("--planner", type=click.Choice(PLANNERS),
              help="Planner of one-shot and write-verify-planned [neural].")
@click.option("--predictor", "predictor_dir", type=click.Path(),
              help="Trained predictor directory (neural planner), or a pulse-response table "
                   "(lookup planner).")
@click.option("--objective", help="What the planner minimises per cell: pulses, time or "
              "energy [time].")
@click.option("--weights", "weights_dir", type=click.Path(file_okay=False),
              help="Trained model directory (hilctl train): its layers become the targets.")
@click.option("--rescale", is_flag=True, default=None,
              help="Current mode: scale rows beyond the divider's bound into range.")
@click.option("--tolerance", help="Band: relative (0.05 or 5%) or absolute (0.5uS) [5%].")
@click.option("--max-pulses", type=click.IntRange(1), help="Pulse budget per cell [100].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Run directory to create [runs/<time>-<protocol>].")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the run in this directory from its last stored round.")
@click.option("--device-book", "device_book", type=click.Path(dir_okay=False),
              help="Device book (SQLite) the planner starts from and the run updates.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@no_plots_option
def program(config_file, rows, cols, seed, pattern, targets_file, levels_file, level_map,
            bounds_file, protocol, planner, objective,
            predictor_dir, weights_dir, rescale, tolerance, max_pulses, out_dir, resume_dir,
            device_book, as_json, quiet, no_plots):
    """Program an array with write-verify and store every round in a run directory."""
    from rich.console import Console

    from hilctl.drivers import ConfigError

    from ..api.backends import array_from
    from ..api.parameters import spoken_as_flags
    from ..api.runs import start_run, tolerance_settings
    from ..assemble import Job
    from ..levels import levels_table
    from ..report.console import report_console
    from ..report.progress import round_progress
    from ..run.runner import load_run_config, resume_run
    from ..weights.job import compensation_for_run

    if resume_dir and out_dir:
        raise ConfigError("--out and --resume exclude each other: a resumed run stays in "
                          "its own directory")
    with spoken_as_flags(FLAGS):
        flags = {
            "array": {"rows": rows, "cols": cols, "seed": seed},
            "targets": {"pattern": pattern, "file": targets_file, "level_map": level_map,
                        "bounds_file": bounds_file},
            "levels": levels_file and levels_table(levels_file),
            "weights": {"model": weights_dir and str(Path(weights_dir).resolve()),
                        "rescale": rescale},
            "protocol": {"name": protocol, "max_pulses": max_pulses, "planner": planner,
                         "objective": objective,
                         "predictor": predictor_dir and str(Path(predictor_dir).resolve()),
                         **tolerance_settings(tolerance)},
            "device_book": {"path": device_book and str(Path(device_book).resolve())},
            "output": output_flags(no_plots),
        }
        stored = load_run_config(Path(resume_dir)).model_dump(mode="json") if resume_dir else {}
        config = array_from(config_file, flags, stored).config
    console = Console(stderr=True) if as_json else report_console()
    if resume_dir:
        with round_progress(f"resuming {resume_dir}", not quiet) as hook, \
                resume_hint(Path(resume_dir)):
            outcome = resume_run(Path(resume_dir), config, progress=hook,
                                 retarget=compensation_for_run(Path(resume_dir)))
    else:
        if config.weights.model and config.targets.file:
            raise ConfigError("--weights and --targets exclude each other")
        run_dir = Path(out_dir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-"
                                  f"{config.protocol.name}")
        with round_progress(config.protocol.name, not quiet) as hook, resume_hint(run_dir):
            outcome = start_run(Job(config), run_dir, progress=hook)
    report(outcome, as_json, console)


@contextmanager
def resume_hint(run_dir: Path) -> Iterator[None]:
    """On Ctrl-C or a termination signal, name the command that goes on (the run is stored up
    to its last complete round) in the line the interrupted command ends with."""
    from ..run.runner import STORE_NAME

    try:
        yield
    except KeyboardInterrupt:
        if (run_dir / STORE_NAME).exists():
            say_after_interrupt(f"continue with hilctl program --resume {run_dir}")
        raise


def report(outcome: RunOutcome, as_json: bool, console: Console) -> None:
    if as_json:
        click.echo(json.dumps(outcome.summary))
    else:
        print_summary(outcome.summary, console)
        console.print(f"run stored in {outcome.summary['run_dir']}")
