"""The instrument path over the wire-level emulators: round trips and time per programming run.

1. Round trips per programming round (pulse every cell, then read every cell), by array size,
   for the 2600 path (one pulse-and-read script per batch) and the 2400 path (point reads).
2. A 32x32 write-verify (ISPP) over the emulated 2600 rig with an injected round-trip latency,
   against the time the instrument itself needs for the same pulses and reads (pulse widths
   plus, per point, the measurement aperture and the source settling). The emulators do not
   wait out that instrument time, so the projected rig time is instrument time + the measured
   wall time (latency, drivers, emulators and the array simulation all counted).

    python bench/bench_rig.py [--latency 2e-3] [--size 32] [--nplc 0.01]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from hilctl import protocols
from hilctl.drivers import Cells, PulseBatch, SafetyLimits
from hilctl.drivers.instrument_crossbar import open_instrument_crossbar
from hilctl.drivers.keithley2600 import STEP_OVERHEAD_S
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.simulated_backend.emulators import EmulatedRig

LIMITS = SafetyLimits()
LINE_FREQUENCY_HZ = 50.0


def open_rig(rig: EmulatedRig, aperture_s: float):
    return open_instrument_crossbar(smu_model=rig.model, smu_resource=rig.smu_resource,
                                    board_url=rig.board_url, limits=LIMITS, aperture_s=aperture_s)


def round_trips(model: str, size: int) -> dict:
    """Round trips of one round: apply to every cell, then read every cell."""
    with EmulatedRig((size, size), seed=0, smu=model) as rig:
        with open_rig(rig, 2e-4) as crossbar:
            cells = Cells.all((size, size))
            smu_before, board_before = crossbar.smu.io.round_trips, crossbar.board.io.round_trips
            started = time.perf_counter()
            crossbar.apply(PulseBatch(cells, 1, 1.2, 1e-7))
            crossbar.read(cells)
            wall = time.perf_counter() - started
            smu = crossbar.smu.io.round_trips - smu_before
            board = crossbar.board.io.round_trips - board_before
    return {"path": model, "cells": size * size, "smu": smu, "board": board,
            "per_cell": (smu + board) / size**2, "wall_ms": wall * 1e3}


class RoundClock:
    """Observer that counts what the instrument itself must do: pulse widths (s) and
    pulse-and-read points (each costs an aperture plus source settling)."""

    def __init__(self) -> None:
        self.widths_s = 0.0
        self.points = 0

    def __call__(self, record) -> None:
        self.points += len(record.index)
        if record.pulses is not None:
            self.widths_s += float(record.pulses.width.sum())

    def instrument_s(self, aperture_s: float) -> float:
        return self.widths_s + self.points * (aperture_s + STEP_OVERHEAD_S)


def write_verify(size: int, latency_s: float, aperture_s: float) -> list[dict]:
    """The in-process simulator, then the emulated 2600 rig without and with latency."""
    cells = Cells.all((size, size))
    targets = np.random.default_rng(0).uniform(5e-6, 30e-6, len(cells))
    rows = []
    reference = SimulatedCrossbar((size, size), limits=LIMITS, seed=0)
    started = time.perf_counter()
    result = protocols.program(protocols.IncrementalStep(), reference, cells, targets)
    rows.append({"backend": "in-process simulator", "latency_ms": 0.0,
                 "success": result.success.mean(), "rounds": result.rounds,
                 "round_trips": 0, "wall_s": time.perf_counter() - started})
    for latency in sorted({0.0, latency_s}):
        with EmulatedRig((size, size), seed=0, smu="2600", latency_s=latency) as rig:
            with open_rig(rig, aperture_s) as crossbar:
                clock = RoundClock()
                before = crossbar.smu.io.round_trips + crossbar.board.io.round_trips
                started = time.perf_counter()
                result = protocols.program(protocols.IncrementalStep(), crossbar, cells,
                                           targets, observer=clock)
                wall = time.perf_counter() - started
                trips = crossbar.smu.io.round_trips + crossbar.board.io.round_trips - before
        rows.append({"backend": "emulated 2600 rig", "latency_ms": latency * 1e3,
                     "success": result.success.mean(), "rounds": result.rounds,
                     "round_trips": trips, "wall_s": wall, "clock": clock})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=2e-3, help="round-trip latency, s")
    parser.add_argument("--size", type=int, default=32, help="array side for write-verify")
    parser.add_argument("--nplc", default="0.01,0.001",
                        help="SMU apertures in PLC at 50 Hz to compare against, comma-separated")
    args = parser.parse_args()
    apertures = [float(x) / LINE_FREQUENCY_HZ for x in args.nplc.split(",")]
    console = Console(width=150)

    table = Table("path", "cells", "SMU round trips", "board round trips", "per cell",
                  "wall ms", title="round trips per programming round (apply + read)")
    for model, sizes in (("2600", (4, 8, 16, 32)), ("2400", (4, 8, 16))):
        for size in sizes:
            r = round_trips(model, size)
            table.add_row(r["path"], str(r["cells"]), str(r["smu"]), str(r["board"]),
                          f"{r['per_cell']:.3f}", f"{r['wall_ms']:.1f}")
    console.print(table)

    rows = write_verify(args.size, args.latency, apertures[0])
    table = Table("backend", "latency ms", "success", "rounds", "round trips", "wall s",
                  title=f"{args.size}x{args.size} write-verify (ISPP)")
    for r in rows:
        table.add_row(r["backend"], f"{r['latency_ms']:.1f}", f"{r['success']:.1%}",
                      str(r["rounds"]), str(r["round_trips"]), f"{r['wall_s']:.2f}")
    console.print(table)

    table = Table("latency ms", "aperture us", "instrument s", "projected rig s",
                  "rig / instrument", title="projected rig time = instrument time (widths + "
                  f"points x (aperture + {STEP_OVERHEAD_S * 1e6:.0f} us settling)) + wall time")
    for r in rows[1:]:
        for aperture in apertures:
            instrument = r["clock"].instrument_s(aperture)
            projected = instrument + r["wall_s"]
            table.add_row(f"{r['latency_ms']:.1f}", f"{aperture * 1e6:.0f}", f"{instrument:.2f}",
                          f"{projected:.2f}", f"{projected / instrument:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
