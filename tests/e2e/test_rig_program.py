"""``hilctl program`` over an emulated rig in another process, as a lab would run it against
``hilctl emulate``: same success as in-process, and a faulted run resumes once the fault is gone.
"""

from __future__ import annotations

import pytest

from hilctl.commands.instruments import run_config_toml
from hilctl.simulated_backend import DEFAULT_PRESET, preset
from hilctl.simulated_backend.emulators import EmulatedRig
from tests.e2e.cli import assert_one_line_error, emulator, run_hilctl, run_json

SHAPE = (8, 8)
SEED = 4
FAST_TIMEOUTS = "\n[rig.timeouts]\nmargin_s = 0.5\n"


@pytest.fixture
def rig():
    with EmulatedRig(SHAPE, seed=SEED, smu="2600", params=preset(DEFAULT_PRESET)) as rig:
        yield rig


def write_configs(rig, tmp_path):
    text = run_config_toml(rig, SEED, DEFAULT_PRESET) + FAST_TIMEOUTS
    (tmp_path / "rig.toml").write_text(text)
    (tmp_path / "sim.toml").write_text(text.split("[rig]")[0])


def test_program_over_the_emulated_rig_matches_in_process(rig, tmp_path):
    write_configs(rig, tmp_path)
    on_rig = run_json("program", "--config", "rig.toml", "--out", "rig_run", "--quiet",
                      cwd=tmp_path)
    in_process = run_json("program", "--config", "sim.toml", "--out", "sim_run", "--quiet",
                          cwd=tmp_path)
    scripts = sum(command.startswith("hilctl_run(") for command in rig.smu.commands)
    assert scripts == on_rig["rounds"] + 1  # the rig did the work: one script per round
    assert on_rig["success_rate"] >= 0.9
    assert abs(on_rig["success_rate"] - in_process["success_rate"]) <= 0.05
    assert not rig.smu.output


def test_a_faulted_run_resumes_once_the_fault_is_gone(rig, tmp_path):
    write_configs(rig, tmp_path)
    rig.smu.faults.arm("no_reply", "hilctl_run", skip=6)
    done = run_hilctl("program", "--config", "rig.toml", "--out", "run", "--quiet", cwd=tmp_path)
    line = assert_one_line_error(done, "Keithley 2600 at TCPIP0::127.0.0.1::",
                                 "no reply to 'hilctl_run(")
    assert done.returncode == 5, line
    assert not rig.smu.output and rig.smu.levelv == 0.0
    resumed = run_json("program", "--resume", "run", "--quiet", cwd=tmp_path)
    assert resumed["success_rate"] >= 0.9
    assert resumed["rounds"] > 5


def test_emulate_writes_a_config_that_check_identifies_and_stops_on_ctrl_c(tmp_path):
    with emulator(tmp_path, "--rows", "4", "--cols", "4", "--smu", "2400") as server:
        done = run_hilctl("instruments", "check", "--config", "rig.toml", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        words = " ".join(done.stdout.split())  # across the console's line breaks
        assert "MODEL 2400" in words and "XB-4x4-EMU" in words
        assert "no pulse was applied" in done.stdout
    assert "TCPIP0::127.0.0.1::" in server.output and "emulator stopped" in server.output
