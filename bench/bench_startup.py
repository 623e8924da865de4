"""How long whole ``hilctl`` commands take from a shell, startup and plots included.

Prints a table: per command, the minimum and median wall time over ``--repeat`` runs of a fresh
subprocess (the minimum is the figure least disturbed by other work on a shared machine), the
CPU seconds the child used (user + system, from ``getrusage``; steadier than wall time) and
which heavy libraries the command imported. A second table says where ``hilctl program``'s
import time goes (``python -X importtime``, minimum over the runs): each top-level package
with what it pulled in, and hilctl's own modules summed.

Bytecode: an installed package runs from cached ``.pyc`` files; where the environment sets
``PYTHONDONTWRITEBYTECODE`` every start compiles hilctl's modules from source again. The
default ``--bytecode cached`` measures the former (caches under a temporary
``PYTHONPYCACHEPREFIX``, warmed by one run); ``--bytecode as-set`` keeps the environment.

    python bench/bench_startup.py [--repeat 5] [--size 64] [--top 10] [--bytecode as-set]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HEAVY = ("numpy", "scipy", "matplotlib", "torch", "sklearn", "pandas", "h5py", "pydantic")
# Runs the command line in-process, then names the heavy libraries it left in sys.modules.
PROBE = ("import sys\nfrom hilctl.cli import main\ntry:\n    main(sys.argv[1:])\n"
         "finally:\n    print('IMPORTED', *sorted(n for n in {heavy!r} if n in sys.modules),"
         " file=sys.stderr)\n")


def commands(size: int, out: Path) -> dict[str, list[str]]:
    program = ["program", "--rows", str(size), "--cols", str(size), "--quiet"]
    return {
        "python -c 'import hilctl'": ["-c", "import hilctl"],
        "python -c 'import hilctl.drivers'": ["-c", "import hilctl.drivers"],
        "hilctl --help": ["--help"],
        "hilctl program --help": ["program", "--help"],
        f"hilctl program {size}x{size}": [*program, "--out", str(out / "run")],
        f"hilctl program {size}x{size} --no-plots": [*program, "--no-plots", "--out",
                                                    str(out / "run")],
    }


ENV = dict(os.environ)


def use_cached_bytecode(prefix: Path) -> None:
    """Let the children write and reuse ``.pyc`` files under ``prefix`` (not the checkout)."""
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(prefix)


def run_once(args: list[str], out: Path) -> tuple[float, float]:
    """Wall and child CPU seconds of one fresh interpreter running ``args``."""
    for stale in out.glob("run*"):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True, env=ENV)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def imported(args: list[str], out: Path) -> str:
    """The heavy libraries a command imports (the python -c rows are probed as given)."""
    if args[0] == "-c":
        code = f"{args[1]}\nimport sys\nprint(*sorted(n for n in {HEAVY!r} if n in sys.modules))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=ENV)
        return done.stdout.strip() or "-"
    for stale in out.glob("run*"):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
                          capture_output=True, text=True, env=ENV)
    line = next((x for x in done.stderr.splitlines() if x.startswith("IMPORTED")), "IMPORTED ?")
    return line.removeprefix("IMPORTED").strip() or "-"


def import_times(args: list[str], out: Path, repeat: int) -> dict[str, float]:
    """Seconds per top-level package (cumulative, as first imported) and for hilctl's own
    modules (self times summed), each the minimum over ``repeat`` runs."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        for stale in out.glob("run*"):
            subprocess.run(["rm", "-rf", str(stale)], check=True)
        done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                              text=True, check=True, env=ENV)
        seconds: dict[str, float] = {"hilctl (own modules)": 0.0}
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line or "self" in line:
                continue
            own, cumulative, name = line.removeprefix("import time:").split("|")
            name = name.strip()
            if name.startswith("hilctl"):
                seconds["hilctl (own modules)"] += int(own) / 1e6
            elif "." not in name:
                seconds[name] = int(cumulative) / 1e6
        for name, value in seconds.items():
            best[name] = min(best.get(name, value), value)
    return best


def import_table(label: str, times: dict[str, float], top: int) -> Table:
    table = Table(title=f"import time of {label}: top {top} (min of runs)")
    table.add_column("package")
    table.add_column("ms", justify="right")
    for name, value in sorted(times.items(), key=lambda kv: -kv[1])[:top]:
        table.add_row(name, f"{1e3 * value:.0f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--bytecode", choices=("cached", "as-set"), default="cached")
    args = parser.parse_args()
    table = Table(title=f"whole commands, fresh interpreter each, {args.repeat} runs, "
                        f"bytecode {args.bytecode}")
    for column in ("command", "wall s min", "wall s median", "CPU s min", "heavy imports"):
        table.add_column(column, justify="left" if column in ("command", "heavy imports")
                         else "right")
    console = Console(width=140)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        program = commands(args.size, out)[f"hilctl program {args.size}x{args.size}"]
        if args.bytecode == "cached":
            use_cached_bytecode(out / "pycache")
            run_once(["-m", "hilctl", *program], out)  # writes the caches
        times = import_times(["-m", "hilctl", *program], out, args.repeat)
        for label, argv in commands(args.size, out).items():
            argv = argv if argv[0] == "-c" else ["-m", "hilctl", *argv]
            try:
                runs = [run_once(argv, out) for _ in range(args.repeat)]
            except subprocess.CalledProcessError as exc:
                table.add_row(label, "fails", f"exit {exc.returncode}", "", "")
                continue
            walls, cpus = zip(*runs, strict=True)
            table.add_row(label, f"{min(walls):.3f}", f"{statistics.median(walls):.3f}",
                          f"{min(cpus):.3f}", imported(argv[2:] if argv[0] == "-m" else argv,
                                                       out))
        console.print(table)
        console.print(import_table(f"hilctl program {args.size}x{args.size}", times, args.top))


if __name__ == "__main__":
    main()
