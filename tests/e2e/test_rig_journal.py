"""A run whose round is cut off by a lost reply, resumed against the same ``hilctl emulate``:
the rig applied the round's pulses, so the store must count them and resume must not send them
again. What the emulator reports it applied is compared with what the store holds."""

from __future__ import annotations

import json

import pytest

from hilctl.run.store import RunStore
from tests.e2e import test_rig_control as control
from tests.e2e.cli import run_hilctl

ROUND_COMMAND, SKIP, ask = control.ROUND_COMMAND, control.SKIP, control.ask
emulator = control.emulator  # the same fixture: ``hilctl emulate`` with a control channel

# One-shot on a 4x4 array: 16 block-RESET pulses, 16 reads, 16 pulses, 16 verify reads. A
# fault on the 4th verify read of the 2400 (one query per cell) or the one batch read of the
# 2600 falls after every planned pulse was sent.
ONE_SHOT_SKIP = {"2600": 1, "2400": 19}


def stored_pulses(run) -> int:
    with RunStore(run / "store.sqlite") as store:
        return sum(len(pulses.get("amplitude", ())) for pulses in store.pulse_rounds())


def stop_by_lost_reply(port: int, smu: str, skip: int, cwd, *args: str) -> int:
    """Run ``program`` until an armed lost reply stops it; the pulses the rig applied."""
    ask(port, {"op": "arm", "kind": "no_reply", "instrument": "smu",
               "match": ROUND_COMMAND[smu], "skip": skip})
    done = run_hilctl("program", "--config", "rig.toml", "--out", "run", "--quiet", *args,
                      cwd=cwd)
    assert done.returncode == 5 and "no reply to" in done.stderr, done.stderr
    state = ask(port, {"op": "state"})
    assert state["fired"], "the fault never fired"
    return state["pulses_applied"]


@pytest.mark.slow
def test_a_round_cut_off_by_a_lost_reply_is_stored_as_applied(emulator, tmp_path):
    smu, port = emulator
    stop_by_lost_reply(port, smu, SKIP[smu], tmp_path)
    resumed = run_hilctl("program", "--resume", "run", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert ask(port, {"op": "state"})["pulses_applied"] == stored_pulses(tmp_path / "run")


def test_a_resumed_one_shot_run_pulses_no_cell_twice(emulator, tmp_path):
    smu, port = emulator
    applied = stop_by_lost_reply(port, smu, ONE_SHOT_SKIP[smu], tmp_path, "--protocol",
                                 "one-shot", "--planner", "heuristic")
    resumed = run_hilctl("program", "--resume", "run", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert ask(port, {"op": "state"})["pulses_applied"] == applied  # nothing sent again
    summary = json.loads((tmp_path / "run" / "result.json").read_text())
    assert summary["pulses_mean"] == 1.0 and stored_pulses(tmp_path / "run") == 16


@pytest.mark.slow
def test_a_run_stopped_by_its_first_read_is_resumed_not_a_dead_end(emulator, tmp_path):
    smu, port = emulator
    stop_by_lost_reply(port, smu, 0, tmp_path)
    again = run_hilctl("program", "--config", "rig.toml", "--out", "run", "--quiet",
                       cwd=tmp_path)
    assert again.returncode != 0 and "--resume" in again.stderr  # both commands say: resume
    resumed = run_hilctl("program", "--resume", "run", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert ask(port, {"op": "state"})["pulses_applied"] == stored_pulses(tmp_path / "run")
