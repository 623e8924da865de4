"""Write-verify on the default preset: success rate and throughput with the run store on.

Prints a table. Throughput counts pulse+read cell operations (each pulsed cell and its verify
read) per second of wall time, run store included.

    python bench/bench_program.py [--sizes 64,512]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hilctl.config import build_config
from hilctl.run.runner import new_run
from hilctl.targets import targets_for


def measure(size: int, protocol: str, seed: int) -> dict:
    config = build_config({"array": {"rows": size, "cols": size, "seed": seed},
                           "protocol": {"name": protocol}})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        outcome = new_run(config, Path(tmp) / "run", targets_for(config))
        wall = time.perf_counter() - started
        store_mb = (Path(tmp) / "run" / "store.sqlite").stat().st_size / 1e6
    result = outcome.result
    operations = int(result.pulses.sum())
    healthy = result.success[result.failed == 0] if result.failed.any() else result.success
    return {"size": f"{size}x{size}", "protocol": protocol, "success": result.success.mean(),
            "success_true": result.true_success().mean(), "healthy": healthy.mean(),
            "pulses_mean": result.pulses.mean(), "rounds": result.rounds,
            "ops": operations, "wall": wall, "rate": operations / wall, "store_mb": store_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64,512")
    parser.add_argument("--protocols", default="write-verify,write-verify-adaptive")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = Table(title="write-verify, default preset (hfox-1r), random targets, tolerance 5%")
    for column in ("array", "protocol", "success (verify)", "success (true G)", "pulses/cell",
                   "rounds", "pulse+read ops", "wall s (store on)", "ops/s", "store MB"):
        table.add_column(column, justify="right")
    for size in map(int, args.sizes.split(",")):
        for protocol in args.protocols.split(","):
            m = measure(size, protocol, args.seed)
            table.add_row(m["size"], m["protocol"], f"{m['success']:.2%}",
                          f"{m['success_true']:.2%}", f"{m['pulses_mean']:.1f}",
                          str(m["rounds"]), f"{m['ops']:,}", f"{m['wall']:.2f}",
                          f"{m['rate'] / 1e6:.2f} M", f"{m['store_mb']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
