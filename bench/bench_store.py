"""What the run store costs: bytes per pulse+read operation, write time per round, resume time.

Prints a table. Each size runs in its own process (so peak RSS is that size's): an ISPP
write-verify run at 5 % (``[protocol] name = "write-verify"``) on the named preset, then a
resume of the finished run (it rebuilds the array and the state from the store, re-runs what
the store asks to re-run, and writes the outputs again). Store bytes count every file of the
store (``store.*``); operations are the pulses, each with its verify read.

Write time is measured inside the store's round encoder and write calls (on whichever thread
runs them): wall time and that thread's CPU time, per round. The machine is shared, so run
before/after on the same machine state and prefer the CPU columns.

    python bench/bench_store.py [--sizes 64,512,1024] [--preset hfox-1t1r]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hilctl.assemble import Job

_WRITES = ("write", "write_snapshot", "write_checkpoint")  # the store's write calls, any format


class WriteTimer:
    """Wraps the store's write calls and its round encoder (on whichever thread they run) and
    adds up their wall and thread CPU time."""

    def __init__(self, store_module, writer_module) -> None:
        self.wall = self.cpu = 0.0
        for name in _WRITES:
            if hasattr(store_module.RunStore, name):
                setattr(store_module.RunStore, name,
                        self._timed(getattr(store_module.RunStore, name)))
        writer_module.encode_round = self._timed(writer_module.encode_round)

    def _timed(self, write):
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return write(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - wall
                self.cpu += time.thread_time() - cpu
        return timed


def measure(size: int, preset: str, seed: int) -> dict:
    from hilctl.config import build_config
    from hilctl.run import store, store_writer
    from hilctl.run.runner import new_run, resume_run
    from hilctl.targets import targets_for

    timer = WriteTimer(store, store_writer)
    config = build_config({"array": {"rows": size, "cols": size, "seed": seed, "preset": preset},
                           "protocol": {"name": "write-verify", "tolerance": 0.05}})
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        started = time.perf_counter()
        result = new_run(Job(config), run_dir, targets_for(Job(config))).result
        wall = time.perf_counter() - started
        store_bytes = sum(p.stat().st_size for p in run_dir.glob("store*"))
        write_wall, write_cpu = timer.wall, timer.cpu
        started, cpu = time.perf_counter(), time.process_time()
        resumed = resume_run(run_dir).result
        resume_wall, resume_cpu = time.perf_counter() - started, time.process_time() - cpu
    ops = int(result.pulses.sum())
    assert (resumed.pulses == result.pulses).all() and resumed.rounds == result.rounds
    rounds = result.rounds + 1
    return {"size": size, "preset": preset, "ops": ops, "rounds": rounds, "wall": wall,
            "store_bytes": store_bytes, "bytes_per_op": store_bytes / ops,
            "write_ms": 1e3 * write_wall / rounds, "write_cpu_ms": 1e3 * write_cpu / rounds,
            "resume_s": resume_wall, "resume_cpu_s": resume_cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64,512,1024")
    parser.add_argument("--preset", default="hfox-1t1r")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size, in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.preset, args.seed)))
        return
    table = Table(title=f"run store, write-verify (ISPP) at 5 %, preset {args.preset}")
    for column in ("array", "rounds", "pulse+read ops", "run wall s", "store MB", "B/op",
                   "write ms/round", "write CPU ms/round", "resume wall s", "resume CPU s",
                   "peak RSS MB"):
        table.add_column(column, justify="right")
    for size in map(int, args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--preset",
                              args.preset, "--seed", str(args.seed)],
                             check=True, capture_output=True, text=True).stdout
        m = json.loads(out.strip().splitlines()[-1])
        table.add_row(f"{size}x{size}", str(m["rounds"]), f"{m['ops']:,}", f"{m['wall']:.1f}",
                      f"{m['store_bytes'] / 1e6:.1f}", f"{m['bytes_per_op']:.1f}",
                      f"{m['write_ms']:.1f}", f"{m['write_cpu_ms']:.1f}",
                      f"{m['resume_s']:.2f}", f"{m['resume_cpu_s']:.2f}",
                      f"{m['peak_rss_mb']:.0f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
