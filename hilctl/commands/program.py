"""``hilctl program``: program a simulated or real array and store the run."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from hilctl.drivers import ConfigError

from ..assemble import device_params
from ..cli import say_after_interrupt
from ..config import RunConfig, assemble_config
from ..levels import levels_table
from ..registry import PLANNERS, PROTOCOLS, stop_rules
from ..report.console import report_console
from ..report.progress import round_progress
from ..run.runner import STORE_NAME, RunOutcome, load_run_config, new_run, resume_run
from ..targets import programmed_cells, targets_for
from ..units import parse_quantity
from ..weights.job import pair_compensation, weights_job


def parse_tolerance(text: str | None) -> dict:
    """``0.5uS`` is an absolute band in siemens; anything else (``5%``, ``0.05``) is relative
    and checked by the config."""
    if text is None:
        return {}
    text = text.strip()
    if text.endswith("S"):
        try:
            return {"tolerance_abs_S": parse_quantity(text, "S", "--tolerance")}
        except ConfigError:
            raise ConfigError(f"--tolerance = {text!r}: expected a fraction (0.05), a "
                              "percentage (5%) or an absolute band in siemens (0.5uS)") from None
    return {"tolerance": text}


def print_summary(summary: dict, console: Console) -> None:
    table = Table(title=f"{summary['protocol']} on {summary['cells']} cells "
                        f"(tolerance {summary['tolerance']})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key in ("protocol", "cells", "tolerance", "levels"):
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    console.print(table)
    if "levels" in summary:
        print_levels(summary["levels"], console)


def print_levels(levels: dict[str, dict], console: Console) -> None:
    """Per level: cells, share in its own band, pulses per cell (mean, median, p95)."""
    table = Table(title="per level")
    columns = ("cells", "success_rate", "pulses_mean", "pulses_median", "pulses_p95")
    for column in ("level", *columns):
        table.add_column(column, justify="right")
    for name, figures in levels.items():
        table.add_row(name, *(f"{figures[c]:.4g}" for c in columns))
    console.print(table)


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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def program(config_file, rows, cols, seed, pattern, targets_file, levels_file, level_map,
            bounds_file, protocol, planner,
            predictor_dir, weights_dir, rescale, tolerance, max_pulses, out_dir, resume_dir,
            as_json, quiet):
    """Program an array with write-verify and store every round in a run directory."""
    flags = {
        "array": {"rows": rows, "cols": cols, "seed": seed},
        "targets": {"pattern": pattern, "file": targets_file, "level_map": level_map,
                    "bounds_file": bounds_file},
        "levels": levels_file and levels_table(levels_file),
        "weights": {"model": weights_dir and str(Path(weights_dir).resolve()),
                    "rescale": rescale},
        "protocol": {"name": protocol, "max_pulses": max_pulses, "planner": planner,
                     "predictor": predictor_dir and str(Path(predictor_dir).resolve()),
                     **parse_tolerance(tolerance)},
    }
    console = Console(stderr=True) if as_json else report_console()
    if resume_dir:
        if out_dir:
            raise ConfigError("--out and --resume exclude each other: a resumed run stays in "
                              "its own directory")
        stored = load_run_config(Path(resume_dir)).model_dump(mode="json")
        config = assemble_config(config_file, stored, flags)
        with round_progress(f"resuming {resume_dir}", not quiet) as hook, \
                resume_hint(Path(resume_dir)):
            outcome = resume_run(Path(resume_dir), config, progress=hook)
    else:
        config = assemble_config(config_file, {}, flags)
        extra_files, layout, retarget = {}, None, None
        if config.weights.model:
            if config.targets.file:
                raise ConfigError("--weights and --targets exclude each other")
            targets, extra_files, layout = weights_job(config)
            retarget = pair_compensation(layout, targets)
        else:
            targets = targets_for(config)
        warn_if_band_below_read_noise(config, targets)
        run_dir = Path(out_dir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-"
                                  f"{config.protocol.name}")
        with round_progress(config.protocol.name, not quiet) as hook, resume_hint(run_dir):
            outcome = new_run(config, run_dir, targets, progress=hook, extra_files=extra_files,
                              retarget=retarget)
        if layout is not None:
            outcome.summary["layout"] = layout.describe()
            outcome.summary["arrays"] = layout.n_arrays
    report(outcome, as_json, console)


class BandBelowReadNoise(UserWarning):
    """A tolerance band narrower than the array's read noise."""


def warn_if_band_below_read_noise(config: RunConfig, targets: np.ndarray) -> None:
    """Warn when the median target's band is narrower than one sigma of the simulated read
    noise, sqrt((relative * G)^2 + floor^2): verify reads then land in the band by chance
    only, and a cell can spend its whole pulse budget bouncing around its target."""
    if config.rig is not None or config.array.empirical_table is not None:
        return  # the noise of a rig or a measured table is not known here
    params = device_params(config)
    g = targets.ravel()[programmed_cells(targets)]
    if g.size == 0:
        return
    half = float(np.median(stop_rules(config).tolerance.half_width(g)))
    g_mid = float(np.median(g))
    sigma = float(np.hypot(params.read_noise_relative * g_mid, params.read_noise_floor_S))
    if half < sigma:
        warnings.warn(f"the tolerance band (+-{half:.3g} S at the median target {g_mid:.3g} S) "
                      f"is narrower than the read noise (sigma {sigma:.3g} S): reads land in it "
                      f"by chance, and cells may use all {config.protocol.max_pulses} pulses",
                      BandBelowReadNoise, stacklevel=2)


@contextmanager
def resume_hint(run_dir: Path) -> Iterator[None]:
    """On Ctrl-C or a termination signal, name the command that goes on (the run is stored up
    to its last complete round) in the line the interrupted command ends with."""
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
