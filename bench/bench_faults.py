"""A fault campaign over ``hilctl program`` against ``hilctl emulate``, both in their own
processes as in a lab: random faults at random moments on both SMU families (armed through
the emulator's control channel), random kills (SIGKILL, SIGTERM, SIGINT), then two
concurrent ``--resume``s of the stopped run. The scoreboard says how often the rig was left
safe, how often a run resumed with contiguous rounds, and how many pulses the emulator
applied against how many the run store holds (a gap is pulses sent but never recorded).

    python bench/bench_faults.py [--trials 8] [--seed 0] [--size 4]

SIGKILL cannot be caught: no process can switch the rig off then, so those trials are
counted apart (the rig is then whatever the kill left it).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hilctl.drivers import ResumeError
from hilctl.run.store import RunStore

ROUND_COMMAND = {"2600": "hilctl_run", "2400": ":MEAS:CURR?"}
# How many of those commands a fault may let pass: a 4x4 run takes a few rounds, and the 2400
# reads every cell with its own command.
SKIP = {"2600": (1, 6), "2400": (16, 80)}
FAULTS = ("no_reply", "garbage", "drop", "error")
KILLS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
TRIAL_TIMEOUT_S = 60


def hilctl(*args) -> list[str]:
    return [sys.executable, "-m", "hilctl", *map(str, args)]


def ask(port: int, request: dict) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as link:
        link.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(link.makefile().readline())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_emulator(where: Path, smu: str, size: int, port: int) -> subprocess.Popen:
    server = subprocess.Popen(hilctl("emulate", "--rows", size, "--cols", size, "--smu", smu,
                                     "--latency", "2ms", "--control-port", port,
                                     "--write-config", "rig.toml"),
                              cwd=where, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (where / "rig.toml").exists():
        if time.monotonic() > deadline:
            raise SystemExit("hilctl emulate did not start")
        time.sleep(0.05)
    with open(where / "rig.toml", "a") as config:
        config.write("\n[rig.timeouts]\nmargin_s = 0.5\n")
    return server


def stop_one_run(rng: random.Random, where: Path, smu: str, port: int) -> str:
    """Start a run and stop it by a random fault or kill; returns what stopped it."""
    if rng.random() < 0.5:
        kind = rng.choice(FAULTS)
        ask(port, {"op": "arm", "kind": kind, "instrument": rng.choice(["smu", "board"]),
                   "match": "" if kind == "error" else ROUND_COMMAND[smu],
                   "skip": rng.randrange(*SKIP[smu])})
        subprocess.run(hilctl("program", "--config", "rig.toml", "--out", "run", "--quiet"),
                       cwd=where, capture_output=True, timeout=TRIAL_TIMEOUT_S)
        return f"fault {kind}"
    kill = rng.choice(KILLS)
    run = subprocess.Popen(hilctl("program", "--config", "rig.toml", "--out", "run",
                                  "--quiet"), cwd=where, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TRIAL_TIMEOUT_S
    while ask(port, {"op": "state"})["pulses_applied"] == 0 and run.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    run.send_signal(kill)
    run.wait(timeout=TRIAL_TIMEOUT_S)
    return f"kill {kill.name}"


def is_safe(state: dict) -> bool:
    return (not state["smu"]["output"] and state["smu"]["level_V"] == 0.0
            and state["routed"] is None and state["sequence"] == 0)


def stored(run: Path) -> tuple[int, bool]:
    """(pulses the store holds, whether its rounds are 0..n-1 without a gap)."""
    if not (run / "store.sqlite").is_file():
        return 0, False
    with RunStore(run / "store.sqlite") as store:
        try:
            pulses = sum(p.get("amplitude", np.empty(0)).size for p in store.pulse_rounds())
        except ResumeError:  # a gap in the rounds
            return 0, False
    return pulses, True


def trial(rng: random.Random, size: int) -> dict:
    smu = rng.choice(["2600", "2400"])
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        server = start_emulator(where, smu, size, port)
        try:
            how = stop_one_run(rng, where, smu, port)
            state = ask(port, {"op": "state"})
            resumes = [subprocess.Popen(hilctl("program", "--resume", "run", "--quiet"),
                                        cwd=where, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL) for _ in range(2)]
            codes = [r.wait(timeout=TRIAL_TIMEOUT_S) for r in resumes]
            applied = ask(port, {"op": "state"})["pulses_applied"]
            in_store, contiguous = stored(where / "run")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    return {"smu": smu, "how": how, "fired": bool(state["fired"]), "safe": is_safe(state),
            "resumed": 0 in codes, "contiguous": contiguous, "applied": applied,
            "stored": in_store}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=4, help="array rows = cols")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = [trial(rng, args.size) for _ in range(args.trials)]
    table = Table(title=f"fault campaign: {args.trials} trials, {args.size}x{args.size}")
    for column in ("SMU", "stopped by", "fault fired", "rig safe", "resumed", "contiguous",
                   "pulses applied", "pulses stored"):
        table.add_column(column)
    for r in results:
        table.add_row(r["smu"], r["how"], _mark(r["fired"] if "fault" in r["how"] else None),
                      _mark(r["safe"]), _mark(r["resumed"]), _mark(r["contiguous"]),
                      str(r["applied"]), str(r["stored"]))
    console = Console(width=120)
    console.print(table)
    catchable = [r for r in results if r["how"] != "kill SIGKILL"]
    totals = Counter(safe=sum(r["safe"] for r in catchable),
                     resumed=sum(r["resumed"] and r["contiguous"] for r in results),
                     unstored=sum(max(r["applied"] - r["stored"], 0) for r in results),
                     unapplied=sum(max(r["stored"] - r["applied"], 0) for r in results))
    console.print(f"rig left safe: {totals['safe']}/{len(catchable)} (SIGKILL trials apart); "
                  f"resumed with contiguous rounds: {totals['resumed']}/{len(results)}; "
                  f"pulses applied but not stored: {totals['unstored']}; "
                  f"stored but not applied: {totals['unapplied']}")


def _mark(value) -> str:
    return "-" if value is None else ("yes" if value else "NO")


if __name__ == "__main__":
    main()
