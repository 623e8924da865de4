"""Peak memory of ``hilctl export`` on a large run: the export reads the store round by round,
so its peak stays near one round plus the simulated array, far below the whole pulse table.

Programs an NxN simulated hfox-1r array with write-verify (N = 512 by default), then exports it
to CSV and to HDF5 (if h5py is installed), each in a fresh process, and prints per format:
rows, file size, seconds and the process's peak RSS, beside the size of the whole table held in
memory and the peak RSS of a process that only imports hilctl and loads the run.

    python bench/bench_export.py [N]
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hilctl

# Peak RSS from VmHWM (this process's own address space): ru_maxrss would carry over the
# parent's peak across fork and exec.
MEASURE = """
import re, sys, time
from pathlib import Path
import hilctl
run = hilctl.load_run(sys.argv[1])
start = time.perf_counter()
if sys.argv[3] != "none":
    run.export(sys.argv[2], format=sys.argv[3])
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)
print(hwm, time.perf_counter() - start)
"""
BYTES_PER_ROW = 4 + 2 * 8 + 1 + 3 * 8 + 2 * 8  # round, row/col, polarity, knobs, reads


def measure(run_dir: Path, dest: Path, fmt: str) -> tuple[float, float]:
    """Peak RSS (MiB) and seconds of one export in a fresh process."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(run_dir), str(dest), fmt],
                          capture_output=True, text=True, check=True)
    rss_kib, seconds = done.stdout.split()
    return int(rss_kib) / 2**10, float(seconds)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run = hilctl.program(f"sim://?rows={n}&cols={n}&seed=0&preset=hfox-1r", "random",
                             out=Path(tmp) / "run")
        summary = run.summary()
        rows = n * n + round(summary["pulses_mean"] * n * n)
        print(f"{n}x{n} write-verify: {summary['rounds']} rounds, {rows} rows (pulses and "
              f"starting reads), programmed in {time.perf_counter() - started:.0f} s; "
              f"store {(run.path / 'store.sqlite').stat().st_size / 2**20:.0f} MiB; the whole "
              f"table in memory: {rows * BYTES_PER_ROW / 2**20:.0f} MiB")
        print(f"{'format':9} {'file MiB':>9} {'seconds':>8} {'peak RSS MiB':>13}")
        for fmt, suffix in (("none", ""), ("csv", ".csv"), ("hdf5", ".h5")):
            dest = Path(tmp) / f"pulses{suffix}"
            try:
                rss, seconds = measure(run.path, dest, fmt)
            except subprocess.CalledProcessError as exc:
                print(f"{fmt:9} skipped: {exc.stderr.strip().splitlines()[-1]}")
                continue
            size = dest.stat().st_size / 2**20 if dest.is_file() else 0.0
            label = "load only" if fmt == "none" else fmt
            print(f"{label:9} {size:9.0f} {seconds:8.1f} {rss:13.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 512)
