"""Write-verify throughput: success rate and ops/s with the run store on, and a scale table.

Throughput counts pulse+read cell operations (each pulsed cell and its verify read) per second
of the programming loop's wall time.

    python bench/bench_program.py [--sizes 64,512]
    python bench/bench_program.py --scale 512,1024,2048 [--presets hfox-1t1r,hfox-1r]
                                  [--backends numpy,torch]

``--scale`` runs each size and preset as its own process under ``/usr/bin/time -v`` (peak RSS
is a process's): ``hilctl program`` (store on), and the same engine, protocol and array
without any subscriber (store off). Wall time is noisy on a shared machine; ``cpu s`` (user +
system of the process) is the steadier figure, and so is ``loop ops/cpu-s`` (store off: the
loop's operations per second of ``time.process_time``); ``--repeat`` keeps the fastest of
several runs.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.run.runner import new_run
from hilctl.targets import targets_for


def measure(size: int, protocol: str, seed: int) -> dict:
    config = build_config({"array": {"rows": size, "cols": size, "seed": seed},
                           "protocol": {"name": protocol}})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        outcome = new_run(Job(config), Path(tmp) / "run", targets_for(Job(config)))
        wall = time.perf_counter() - started
        store_mb = (Path(tmp) / "run" / "store.sqlite").stat().st_size / 1e6
    result = outcome.result
    operations = int(result.pulses.sum())
    healthy = result.success[result.failed == 0] if result.failed.any() else result.success
    return {"size": f"{size}x{size}", "protocol": protocol, "success": result.success.mean(),
            "success_true": result.true_success().mean(), "healthy": healthy.mean(),
            "pulses_mean": result.pulses.mean(), "rounds": result.rounds,
            "ops": operations, "wall": wall, "rate": operations / wall, "store_mb": store_mb}


def protocol_table(sizes: str, protocols: str, seed: int) -> Table:
    table = Table(title="write-verify, default preset (hfox-1t1r), random targets, tolerance 5%")
    for column in ("array", "protocol", "success (verify)", "success (true G)", "pulses/cell",
                   "rounds", "pulse+read ops", "wall s (store on)", "ops/s", "store MB"):
        table.add_column(column, justify="right")
    for size in map(int, sizes.split(",")):
        for protocol in protocols.split(","):
            m = measure(size, protocol, seed)
            table.add_row(m["size"], m["protocol"], f"{m['success']:.2%}",
                          f"{m['success_true']:.2%}", f"{m['pulses_mean']:.1f}",
                          str(m["rounds"]), f"{m['ops']:,}", f"{m['wall']:.2f}",
                          f"{m['rate'] / 1e6:.2f} M", f"{m['store_mb']:.0f}")
    return table


def engine_only(size: int, preset: str, seed: int, backend: str) -> dict:
    """The programming loop of ``hilctl program`` on a fresh array, with no subscriber."""
    from hilctl.drivers import Cells
    from hilctl.protocols import Engine
    from hilctl.registry import build_protocol
    from hilctl.targets import programmed_cells

    job = Job(build_config({"array": {"rows": size, "cols": size, "seed": seed,
                                      "preset": preset, "backend": backend}}))
    targets = targets_for(job)
    crossbar = job.open_crossbar()
    flat = programmed_cells(targets)
    cells = Cells.from_flat(flat, crossbar.shape)
    with crossbar:
        protocol = build_protocol(job, crossbar)
        started, cpu = time.perf_counter(), time.process_time()
        result = Engine(crossbar).program(protocol, cells, targets.ravel()[flat],
                                          job.stop_rules, job.cost_model(crossbar))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"pulses_mean": float(result.pulses.mean()), "cells": len(cells),
            "success_rate": float(result.success.mean()), "wall_s": wall, "loop_cpu_s": cpu}


def run_measured(command: list[str]) -> tuple[dict, float, float, int]:
    """(the command's JSON line, process wall s, process cpu s, peak RSS in bytes)."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                          check=True)
    wall = time.perf_counter() - started
    report = done.stderr

    def field(name: str) -> float:
        return float(re.search(rf"{name}: ([\d.]+)", report).group(1))

    cpu = field(r"User time \(seconds\)") + field(r"System time \(seconds\)")
    rss = int(field(r"Maximum resident set size \(kbytes\)")) * 1024
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, cpu, rss


def scale_row(size: int, preset: str, backend: str, seed: int, store: bool,
              repeat: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        if store:
            config = Path(tmp) / "config.toml"
            config.write_text(f'[array]\npreset = "{preset}"\nbackend = "{backend}"\n')
            hilctl = str(Path(sys.executable).parent / "hilctl")
            command = [hilctl, "program", "--config", str(config),
                       "--rows", str(size), "--cols", str(size), "--seed", str(seed),
                       "--quiet", "--json", "--out", str(Path(tmp) / "run")]
        else:
            command = [sys.executable, __file__, "--engine-only",
                       f"{size},{preset},{seed},{backend}"]
        runs = []
        for _ in range(repeat):
            runs.append(run_measured(command))
            shutil.rmtree(Path(tmp) / "run", ignore_errors=True)
    summary, wall, cpu, rss = min(runs, key=lambda run: run[1])
    ops = summary["pulses_mean"] * summary["cells"]
    cells = size * size
    loop_cpu = summary.get("loop_cpu_s")
    per_cpu = "" if loop_cpu is None else f"{ops / loop_cpu / 1e6:.2f} M"
    return [f"{size}x{size}", preset, backend, "on" if store else "off", f"{wall:.1f}",
            f"{cpu:.1f}",
            f"{summary['wall_s']:.2f}", f"{ops / summary['wall_s'] / 1e6:.2f} M", per_cpu,
            f"{summary['pulses_mean']:.1f}", f"{summary['success_rate']:.2%}",
            f"{rss / 2**20:.0f} MiB", f"{rss / cells:.0f}"]


def scale_table(sizes: str, presets: str, backends: str, seed: int, repeat: int,
                stores: str) -> Table:
    table = Table(title="hilctl program, write-verify (ISPP), random targets, tolerance 5%")
    for column in ("array", "preset", "backend", "store", "wall s", "cpu s", "loop s", "loop ops/s",
                   "loop ops/cpu-s", "pulses/cell", "success", "peak RSS", "bytes/cell"):
        table.add_column(column, justify="right")
    for size in map(int, sizes.split(",")):
        for preset in presets.split(","):
            for backend in backends.split(","):
                for store in stores.split(","):
                    table.add_row(*scale_row(size, preset, backend, seed, store == "on",
                                             repeat))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64,512")
    parser.add_argument("--protocols", default="write-verify,write-verify-adaptive")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", help="sizes of the scale table, e.g. 512,1024,2048")
    parser.add_argument("--presets", default="hfox-1t1r,hfox-1r")
    parser.add_argument("--backends", default="numpy", help="numpy, torch or numpy,torch")
    parser.add_argument("--store", default="on,off", help="on, off or on,off")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--engine-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_only:
        size, preset, seed, backend = args.engine_only.split(",")
        print(json.dumps(engine_only(int(size), preset, int(seed), backend)))
    elif args.scale:
        Console(width=200).print(scale_table(args.scale, args.presets, args.backends,
                                             args.seed, args.repeat, args.store))
    else:
        Console().print(protocol_table(args.sizes, args.protocols, args.seed))


if __name__ == "__main__":
    main()
