"""Stopping ``hilctl program`` over a rig as a lab's scheduler or a closed terminal would
(SIGTERM, SIGHUP, SIGINT): the rig is left as Ctrl-C leaves it, SMU output off at 0 V and no
cell routed, and the run says so in one line with the signal's exit code."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from hilctl.commands.instruments import run_config_toml
from hilctl.simulated_backend import DEFAULT_PRESET, preset
from hilctl.simulated_backend.emulators import EmulatedRig
from tests.e2e.cli import assert_one_line_error, hilctl_command, hilctl_env

# The command each SMU answers during a programming round.
ROUND_COMMAND = {"2600": "hilctl_run(", "2400": ":MEAS:CURR?"}
EXIT_CODE = {signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGINT: 130}


def start_program(rig, tmp_path) -> subprocess.Popen:
    text = run_config_toml(rig, 3, DEFAULT_PRESET) + "\n[rig.timeouts]\nmargin_s = 0.5\n"
    (tmp_path / "rig.toml").write_text(text)
    return subprocess.Popen(hilctl_command("program", "--config", "rig.toml", "--out", "run",
                                           "--quiet"),
                            cwd=tmp_path, env=hilctl_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_rounds(rig, rounds: int, timeout_s: float = 60) -> None:
    """Until the rig has served ``rounds`` programming commands: the run is mid-round."""
    deadline = time.monotonic() + timeout_s
    while sum(ROUND_COMMAND[rig.model] in c for c in rig.smu.commands) < rounds:
        assert time.monotonic() < deadline, "the run never reached its rounds"
        time.sleep(0.02)


@pytest.mark.parametrize("smu, signum", [("2600", signal.SIGTERM), ("2400", signal.SIGTERM),
                                         ("2600", signal.SIGHUP), ("2400", signal.SIGINT)])
def test_a_signal_mid_run_leaves_the_rig_safe_and_exits_with_its_code(tmp_path, smu, signum):
    # a little latency per reply keeps the 4x4 run going long enough to be stopped mid-round
    with EmulatedRig((4, 4), seed=3, smu=smu, latency_s=0.01,
                     params=preset(DEFAULT_PRESET)) as rig:
        run = start_program(rig, tmp_path)
        try:
            wait_for_rounds(rig, 3)
            run.send_signal(signum)
            _, err = run.communicate(timeout=30)
        finally:
            run.kill()
        done = subprocess.CompletedProcess(run.args, run.returncode, "", err)
        line = assert_one_line_error(done, "outputs are off")
        assert run.returncode == EXIT_CODE[signum], line
        if signum != signal.SIGINT:
            assert signal.Signals(signum).name in line
        assert not rig.smu.output
        assert (rig.smu.levelv if smu == "2600" else rig.smu.level) == 0.0
        assert rig.array.selected is None and not rig.array.sequence
