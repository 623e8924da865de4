"""``hilctl characterize``: random or gridded pulses over an array into a pulse-response table.

The embedded simulated array by default; ``--config`` picks the preset, limits, a measured or
fitted device model, or a real rig (``[rig]``), exactly as for ``hilctl program``, and its
``[characterize]`` table says what pulses to draw (flags override it).
"""

from __future__ import annotations

import json
import time

import click
import numpy as np

from hilctl.protocols.characterize import PulseRanges
from hilctl.protocols.characterize import characterize as run_characterization
from hilctl.protocols.settings import ResetPulse

from ..assemble import device_params, open_crossbar
from ..config import RunConfig, assemble_config
from ..units import Quantity


def pulse_ranges(config: RunConfig) -> PulseRanges:
    """What ``[characterize]`` asks for. On a simulated 1T1R array every pulse needs a gate:
    a gate range left out is, for SETs, the SET gate limits and, for RESETs, the top of the
    RESET gate limits (gate fully on)."""
    c, limits = config.characterize, config.limits_in_force()
    set_gate, reset_gate = c.set_gate_V, c.reset_gate_V
    if _is_1t1r(config):
        set_gate = set_gate or (limits.gate_set_min_V, limits.gate_set_max_V)
        reset_gate = reset_gate or (limits.gate_reset_max_V, limits.gate_reset_max_V)
    defaults = PulseRanges()
    return PulseRanges(set_V=c.set_V or defaults.set_V, reset_V=c.reset_V or defaults.reset_V,
                       width_s=c.width_s or defaults.width_s, set_gate_V=set_gate,
                       reset_gate_V=reset_gate, sampling=c.sampling, grid_points=c.grid_points,
                       start=c.start, repeats=c.repeats,
                       hrs_reset=ResetPulse(c.reset.amplitude_V, c.reset.width_s, c.reset.gate_V))


def _is_1t1r(config: RunConfig) -> bool:
    return (config.rig is None and config.array.empirical_table is None
            and device_params(config).cell == "1T1R")


@click.command()
@click.option("--pulses", type=click.IntRange(1), default=50_000, show_default=True,
              help="Measured pulses to apply (an hrs start adds one RESET row before each).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Pulse-response table to write (CSV).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML configuration (array, device, limits, rig, [characterize]).")
@click.option("--rows", type=click.IntRange(1), help="Rows of the simulated array [64].")
@click.option("--cols", type=click.IntRange(1), help="Columns of the simulated array [64].")
@click.option("--seed", type=click.IntRange(0),
              help="Seed of the simulated array and of the random pulses [0].")
@click.option("--preset", "preset_name", help="Device preset (name or .toml) [hfox-1r].")
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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def characterize(pulses, out, config_file, rows, cols, seed, preset_name, sampling, grid_points,
                 start, repeats, set_amplitude, width, set_gate, reset_gate, as_json) -> None:
    """Apply pulses (polarity, amplitude, log-uniform width, gate over the safe ranges)
    across the array, read before and after, and write the pulse-response table."""
    config = assemble_config(config_file, {}, {
        "array": {"rows": rows, "cols": cols, "seed": seed, "preset": preset_name},
        "characterize": {"sampling": sampling, "grid_points": grid_points, "start": start,
                         "repeats": repeats, "set_V": set_amplitude or None,
                         "width_s": width or None, "set_gate_V": set_gate or None,
                         "reset_gate_V": reset_gate or None}})
    ranges = pulse_ranges(config)
    started = time.perf_counter()
    with open_crossbar(config) as crossbar:
        table = run_characterization(crossbar, pulses, np.random.default_rng(config.array.seed),
                                     ranges=ranges)
        shape = crossbar.shape
    table.write_csv(out)
    applied = pulses * (2 if ranges.start == "hrs" else 1)
    summary = {
        "rows": len(table), "pulses": applied, "pulses_dropped": applied - len(table),
        "out": str(out), "array": list(shape), "preset": config.array.preset,
        "seed": config.array.seed, "set_rows": int((table.polarity > 0).sum()),
        "reset_rows": int((table.polarity < 0).sum()),
        "g_before_S": [float(table.g_before.min()), float(table.g_before.max())],
        "gate_V": _span(table.gate), "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    dropped = (f"; {summary['pulses_dropped']} pulses left out (a read at or below 0 S)"
               if summary["pulses_dropped"] else "")
    gates = "" if summary["gate_V"] is None else " gate {:g}-{:g} V,".format(*summary["gate_V"])
    click.echo(f"wrote {summary['rows']} pulses ({summary['set_rows']} SET, "
               f"{summary['reset_rows']} RESET,{gates} {ranges.sampling}, {ranges.start} start) "
               f"on a {shape[0]}x{shape[1]} {config.array.preset} array (seed "
               f"{config.array.seed}) to {out} in {summary['seconds']} s{dropped}")


def _span(values: np.ndarray) -> list[float] | None:
    finite = values[np.isfinite(values)]
    return [float(finite.min()), float(finite.max())] if finite.size else None
