"""``hilctl export``: every pulse and read of a run as one table (CSV or HDF5)."""

from __future__ import annotations

import json
from pathlib import Path

import click

SUFFIXES = {"csv": ".csv", "hdf5": ".h5"}  # the formats hilctl.api.pulses writes


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(list(SUFFIXES)), default="csv",
              show_default=True, help="csv, or hdf5 (needs h5py: pip install 'hilctl[hdf5]').")
@click.option("--out", type=click.Path(dir_okay=False),
              help="File to write [RUN_DIR/pulses.csv or RUN_DIR/pulses.h5].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def export(run_dir, fmt, out, as_json) -> None:
    """One row per pulse (and per starting read): round, cell, polarity, amplitude, gate,
    width, the read after it and, on a simulator, the true conductance. A weights run adds
    the array and layer of each cell, and the map from weights to cells beside the pulses.
    Written round by round, so a large run never has to fit in memory."""
    from ..api.runs import load_run

    run = load_run(run_dir)
    written = run.export(Path(out or Path(run_dir) / f"pulses{SUFFIXES[fmt]}"), fmt)
    if as_json:
        click.echo(json.dumps({"run_dir": str(run_dir), "format": fmt,
                               "files": [str(path) for path in written]}))
    else:
        click.echo(f"wrote every pulse of {run_dir} to " + " and ".join(map(str, written)))
