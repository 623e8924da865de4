"""``hilctl characterize``: random or gridded pulses over an array into a pulse-response table.

The embedded simulated array by default; ``--config`` picks the preset, limits, a measured or
fitted device model, or a real rig (``[rig]``), exactly as for ``hilctl program``, and its
``[characterize]`` table says what pulses to draw (flags override it). The run is
stored in a run directory (``--run-dir``) like a programming run, so a killed characterization
continues with ``--resume DIR`` and gives the table an uninterrupted one would have.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..units import Quantity

# The flags of the API's parameters that are spelled otherwise.
FLAGS = {"set_V": "--set-amplitude", "width_s": "--width", "set_gate_V": "--set-gate",
         "reset_gate_V": "--reset-gate", "run_dir": "--run-dir"}
# The flags of what is drawn, in the order of the [characterize] keys they set.
_DRAW_FLAGS = ("--sampling", "--grid-points", "--start", "--repeats", "--set-amplitude",
               "--width", "--set-gate", "--reset-gate")


@click.command()
@click.option("--pulses", type=click.IntRange(1), default=50_000, show_default=True,
              help="Measured pulses to apply (an hrs start adds one RESET row before each).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Pulse-response table to write (CSV); with --resume, the one named at the "
                   "start by default.")
@click.option("--run-dir", "run_dir", type=click.Path(file_okay=False),
              help="Run directory that stores the run [runs/<time>-characterize[-n]].")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the stopped characterization stored in this run directory.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML configuration (array, device, limits, rig, [characterize]).")
@click.option("--rows", type=click.IntRange(1), help="Rows of the simulated array [64].")
@click.option("--cols", type=click.IntRange(1), help="Columns of the simulated array [64].")
@click.option("--seed", type=click.IntRange(0),
              help="Seed of the simulated array and of the random pulses [0].")
@click.option("--preset", "preset_name", help="Device preset (name or .toml) [hfox-1t1r].")
@click.option("--sampling", type=click.Choice(["random", "grid"]),
              help="Pulse settings drawn at random or walked on a grid [random].")
@click.option("--grid-points", type=click.IntRange(1), help="Grid values per axis [5].")
@click.option("--start", type=click.Choice(["random", "hrs"]),
              help="SET and RESET from the states cells are in, or every pulse a SET after a "
                   "full RESET (hrs) [random].")
@click.option("--repeats", type=click.IntRange(1),
              help="Pulses each cell gets of each setting it is given [1].")
@click.option("--set-amplitude", nargs=2, type=Quantity("V"), metavar="LOW HIGH",
              help="SET (bit-line) amplitude range [0.8V and the SET limit].")
@click.option("--width", nargs=2, type=Quantity("s"), metavar="LOW HIGH",
              help="Pulse width range, e.g. 1us 1us [the width limits].")
@click.option("--set-gate", nargs=2, type=Quantity("V"), metavar="LOW HIGH",
              help="SET gate (word-line) range, e.g. 1.5V 3V [the SET gate limits on 1T1R].")
@click.option("--reset-gate", nargs=2, type=Quantity("V"), metavar="LOW HIGH",
              help="RESET gate range [the top of the RESET gate limits on 1T1R].")
@click.option("--device-book", "device_book", type=click.Path(dir_okay=False),
              help="Fill this device book instead: --pulses-per-cell pulses per device "
                   "towards random targets, planned and learned by the neural planner.")
@click.option("--pulses-per-cell", type=click.IntRange(1),
              help="Pulses per device with --device-book.")
@click.option("--predictor", "predictor_dir", type=click.Path(file_okay=False),
              help="Trained predictor that plans the --device-book pulses.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def characterize(pulses, out, force, run_dir, resume_dir, config_file, rows, cols, seed,
                 preset_name, sampling, grid_points, start, repeats, set_amplitude, width, set_gate,
                 reset_gate, device_book, pulses_per_cell, predictor_dir, quiet,
                 as_json) -> None:
    """Apply pulses (polarity, amplitude, log-uniform width, gate over the safe ranges)
    across the array, read before and after, and write the pulse-response table."""
    from hilctl.drivers import ConfigError
    from hilctl.drivers.atomic_file import check_output_file

    from ..api.backends import array_from
    from ..api.characterization import characterization, fill_device_book
    from ..api.parameters import spoken_as_flags
    from ..report.progress import round_progress
    from ..run.characterization import resume_characterization

    drawn = {"sampling": sampling, "grid_points": grid_points, "start": start,
             "repeats": repeats, "set_V": set_amplitude or None, "width_s": width or None,
             "set_gate_V": set_gate or None, "reset_gate_V": reset_gate or None}
    if resume_dir:
        given = [name for name, value in (("--run-dir", run_dir), ("--config", config_file),
                                          ("--rows", rows), ("--cols", cols), ("--seed", seed),
                                          ("--preset", preset_name),
                                          *zip(_DRAW_FLAGS, drawn.values(), strict=True))
                 if value is not None]
        if given:
            raise ConfigError(f"--resume continues a run as it was made: {', '.join(given)} "
                              "cannot change it")
        with round_progress(f"resuming {resume_dir}", not quiet) as progress:
            outcome = resume_characterization(Path(resume_dir), out and Path(out), progress)
    else:
        if out is None:
            raise ConfigError("--out TABLE.csv is needed (the pulse-response table to write)")
        check_output_file(out, force)
        if (device_book is None) != (pulses_per_cell is None):
            raise ConfigError("--device-book and --pulses-per-cell go together")
        with spoken_as_flags(FLAGS):
            array = array_from(config_file, {
                "array": {"rows": rows, "cols": cols, "seed": seed, "preset": preset_name},
                "characterize": drawn})
            if device_book:
                _print_book(fill_device_book(array, device_book, pulses_per_cell, Path(out),
                                             predictor_dir), as_json)
                return
            outcome = characterization(array, pulses, Path(out),
                                       run_dir=run_dir or _unused_run_dir(), progress=not quiet)
    summary = outcome.summary
    if as_json:
        click.echo(json.dumps(summary))
        return
    dropped = (f"; {summary['pulses_dropped']} pulses left out (a read at or below 0 S)"
               if summary["pulses_dropped"] else "")
    shape = summary["array"]
    gates = "" if summary["gate_V"] is None else " gate {:g}-{:g} V,".format(*summary["gate_V"])
    click.echo(f"wrote {summary['rows']} pulses ({summary['set_rows']} SET, "
               f"{summary['reset_rows']} RESET,{gates} {summary['sampling']}, "
               f"{summary['start']} start) on a {shape[0]}x{shape[1]} "
               f"{summary['preset']} array (seed {summary['seed']}) to {summary['out']} in "
               f"{summary['seconds']} s{dropped}; run stored in {summary['run_dir']}")


def _unused_run_dir() -> Path:
    """``runs/<time>-characterize``, numbered when a run of the same second holds it."""
    base = Path(f"runs/{time.strftime('%Y%m%d-%H%M%S')}-characterize")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _print_book(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary))
        return
    shape = summary["array"]
    click.echo(f"wrote {summary['rows']} pulses on a {shape[0]}x{shape[1]} {summary['preset']} "
               f"array to {summary['out']} in {summary['seconds']} s; device book "
               f"{summary['device_book']}: "
               f"{'updated' if summary['device_book_updated'] else 'unchanged'}")
