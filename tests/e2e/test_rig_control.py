"""``hilctl program`` against ``hilctl emulate`` in another process, faulted and stopped
through the emulator's control channel as a user would, then the rig's state read back from
it: SMU output off at 0 V, no cell routed, on both SMU families."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.cli import assert_one_line_error, hilctl_command, hilctl_env, run_hilctl

FAST = "\n[rig.timeouts]\nmargin_s = 0.5\n"
# The command each SMU answers during a programming round, and how many to let pass so the
# fault falls after the first pulses (the 2400 reads a 4x4 array one cell at a time).
ROUND_COMMAND = {"2600": "hilctl_run", "2400": ":MEAS:CURR?"}
SKIP = {"2600": 4, "2400": 40}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(port: int, request: dict) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as link:
        link.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(link.makefile().readline())


@contextlib.contextmanager
def running_emulator(cwd, smu: str, *args) -> Iterator[int]:
    """``hilctl emulate`` of a 4x4 array with ``smu`` in another process, its ``rig.toml`` in
    ``cwd`` (with short timeouts); yields the control port, stops it on exit."""
    port = free_port()
    # 1R cells: these runs are the amplitude ramp, with no block RESET before the first round.
    server = subprocess.Popen(hilctl_command("emulate", "--rows", "4", "--cols", "4", "--smu",
                                             smu, "--preset", "hfox-1r", "--latency", "5ms",
                                             "--control-port", port, "--write-config",
                                             "rig.toml", *args),
                              cwd=cwd, env=hilctl_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if (cwd / "rig.toml").exists():
                break
            time.sleep(0.05)
        with open(cwd / "rig.toml", "a") as config:
            config.write(FAST)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)


@pytest.fixture(params=["2600", "2400"])
def emulator(request, tmp_path):
    with running_emulator(tmp_path, request.param, "--wire-log", "wire.log") as port:
        yield request.param, port


def assert_safe(port: int) -> dict:
    state = ask(port, {"op": "state"})
    assert state["smu"]["output"] is False and state["smu"]["level_V"] == 0.0
    assert state["routed"] is None and state["sequence"] == 0
    return state


def test_a_fault_armed_from_outside_stops_the_run_with_the_rig_safe(emulator, tmp_path):
    smu, port = emulator
    assert ask(port, {"op": "arm", "kind": "no_reply", "instrument": "smu",
                      "match": ROUND_COMMAND[smu], "skip": SKIP[smu]}) == {"armed": True}
    done = run_hilctl("program", "--config", "rig.toml", "--out", "run", "--quiet",
                      cwd=tmp_path)
    assert_one_line_error(done, "no reply to")
    assert done.returncode == 5
    state = assert_safe(port)
    assert state["fired"][0][0] == "no_reply" and state["pulses_applied"] > 0
    wire = (tmp_path / "wire.log").read_text()
    assert f"smu <- {ROUND_COMMAND[smu]}" in wire and "smu -- (reply withheld: injected)" in wire
    assert "board <- OFF" in wire.split("(reply withheld: injected)")[1]  # made safe after


def test_sigterm_mid_run_leaves_the_rig_safe(emulator, tmp_path):
    smu, port = emulator
    run = subprocess.Popen(hilctl_command("program", "--config", "rig.toml", "--out", "run",
                                          "--quiet"),
                           cwd=tmp_path, env=hilctl_env(), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while ask(port, {"op": "state"})["pulses_applied"] == 0:
            assert time.monotonic() < deadline and run.poll() is None, "no pulse was applied"
            time.sleep(0.02)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 143, err
    assert "stopped by SIGTERM" in err
    assert_safe(port)


def test_a_bad_control_request_is_answered_not_fatal(emulator):
    _, port = emulator
    assert "unknown" in ask(port, {"op": "explode"})["error"]
    assert "known faults" in ask(port, {"op": "arm", "kind": "meteor"})["error"]
    assert_safe(port)
