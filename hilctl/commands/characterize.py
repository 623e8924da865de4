"""``hilctl characterize``: random pulses over the embedded simulated array into a table."""

from __future__ import annotations

import json
import time

import click
import numpy as np

from drivers import SafetyLimits
from protocols.characterize import characterize as run_characterization
from simulated_backend import DEFAULT_PRESET, SimulatedCrossbar, preset


@click.command()
@click.option("--pulses", type=click.IntRange(1), default=50_000, show_default=True,
              help="Pulses to apply (rows of the table).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table to write (CSV).")
@click.option("--rows", type=click.IntRange(1), default=64, show_default=True,
              help="Rows of the simulated array.")
@click.option("--cols", type=click.IntRange(1), default=64, show_default=True,
              help="Columns of the simulated array.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the simulated array and of the random pulses.")
@click.option("--preset", "preset_name", default=DEFAULT_PRESET, show_default=True,
              help="Device preset of the simulated array.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def characterize(pulses, out, rows, cols, seed, preset_name, as_json) -> None:
    """Apply random pulses (polarity, amplitude, log-uniform width over the safe ranges)
    across the array, read before and after, and write the pulse-response table."""
    params = preset(preset_name)
    started = time.perf_counter()
    with SimulatedCrossbar((rows, cols), params, SafetyLimits(), seed=seed) as crossbar:
        table = run_characterization(crossbar, pulses, np.random.default_rng(seed))
    table.write_csv(out)
    summary = {
        "rows": len(table), "out": str(out), "array": [rows, cols], "preset": preset_name,
        "seed": seed, "set_rows": int((table.polarity > 0).sum()),
        "reset_rows": int((table.polarity < 0).sum()),
        "g_before_S": [float(table.g_before.min()), float(table.g_before.max())],
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"wrote {summary['rows']} pulses ({summary['set_rows']} SET, "
               f"{summary['reset_rows']} RESET) on a {rows}x{cols} {preset_name} array "
               f"(seed {seed}) to {out} in {summary['seconds']} s")
