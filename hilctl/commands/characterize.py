"""``hilctl characterize``: random pulses over an array into a pulse-response table.

The embedded simulated array by default; ``--config`` picks the preset, limits, a measured or
fitted device model, or a real rig (``[rig]``), exactly as for ``hilctl program``.
"""

from __future__ import annotations

import json
import time

import click
import numpy as np

from hilctl.drivers.atomic_file import check_output_file
from hilctl.protocols.characterize import characterize as run_characterization

from ..assemble import open_crossbar
from ..config import assemble_config


@click.command()
@click.option("--pulses", type=click.IntRange(1), default=50_000, show_default=True,
              help="Pulses to apply (rows of the table).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table to write (CSV).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML configuration (array, device, limits, rig) as for hilctl program.")
@click.option("--rows", type=click.IntRange(1), help="Rows of the simulated array [64].")
@click.option("--cols", type=click.IntRange(1), help="Columns of the simulated array [64].")
@click.option("--seed", type=click.IntRange(0),
              help="Seed of the simulated array and of the random pulses [0].")
@click.option("--preset", "preset_name", help="Device preset (name or .toml) [hfox-1r].")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def characterize(pulses, out, force, config_file, rows, cols, seed, preset_name, as_json) -> None:
    """Apply random pulses (polarity, amplitude, log-uniform width over the safe ranges)
    across the array, read before and after, and write the pulse-response table."""
    check_output_file(out, force)
    config = assemble_config(config_file, {}, {
        "array": {"rows": rows, "cols": cols, "seed": seed, "preset": preset_name}})
    started = time.perf_counter()
    with open_crossbar(config) as crossbar:
        table = run_characterization(crossbar, pulses, np.random.default_rng(config.array.seed))
        table.read_V = crossbar.limits.read_V
        shape = crossbar.shape
    table.write_csv(out)
    summary = {
        "rows": len(table), "pulses": pulses, "pulses_dropped": pulses - len(table),
        "out": str(out), "array": list(shape), "preset": config.array.preset,
        "seed": config.array.seed, "set_rows": int((table.polarity > 0).sum()),
        "reset_rows": int((table.polarity < 0).sum()),
        "g_before_S": [float(table.g_before.min()), float(table.g_before.max())],
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    dropped = (f"; {summary['pulses_dropped']} pulses left out (a read at or below 0 S)"
               if summary["pulses_dropped"] else "")
    click.echo(f"wrote {summary['rows']} pulses ({summary['set_rows']} SET, "
               f"{summary['reset_rows']} RESET) on a {shape[0]}x{shape[1]} "
               f"{config.array.preset} array (seed {config.array.seed}) to {out} in "
               f"{summary['seconds']} s{dropped}")
