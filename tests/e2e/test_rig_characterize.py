"""A characterization on ``hilctl emulate`` cut off by a lost reply, resumed: the round the rig
applied but the store never kept is read again, so no row starts from a stale read."""

from __future__ import annotations

import numpy as np
import pytest

from hilctl.drivers.pulse_table import PulseTable
from hilctl.run.store import RunStore
from tests.e2e import test_rig_control as control
from tests.e2e.cli import run_hilctl

PULSES = 160  # ten rounds of the 4x4 array


@pytest.fixture
def emulator(tmp_path):
    with control.running_emulator(tmp_path, "2600", "--preset", "hfox-1r") as port:
        yield port


def stored_rounds(run) -> list[dict]:
    with RunStore(run / "store.sqlite") as store:
        return list(store.pulse_rounds())


def test_a_lost_reply_mid_characterization_resumes_from_fresh_reads(emulator, tmp_path):
    control.ask(emulator, {"op": "arm", "kind": "no_reply", "instrument": "smu",
                           "match": control.ROUND_COMMAND["2600"], "skip": 4})
    args = ("--pulses", PULSES, "--out", "t.csv", "--quiet")
    done = run_hilctl("characterize", "--config", "rig.toml", "--run-dir", "run", *args,
                      cwd=tmp_path)
    assert done.returncode == 5 and "no reply to" in done.stderr, done.stderr
    resumed = run_hilctl("characterize", "--resume", "run", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr

    rounds = stored_rounds(tmp_path / "run")
    rereads = [i for i, r in enumerate(rounds[1:], 1) if "polarity" not in r]
    assert len(rereads) == 1  # the round the rig was sent when its reply was lost
    table = PulseTable.read_csv(tmp_path / "t.csv")
    assert len(table) == PULSES
    lost = rounds[rereads[0]]["index"].size
    assert control.ask(emulator, {"op": "state"})["pulses_applied"] == PULSES + lost
    # Each row starts from the read the store last holds for its cell, the re-read included.
    last = rounds[0]["reading"].copy()
    expected = []
    for stored in rounds[1:]:
        if "polarity" in stored:
            expected.append(last[stored["index"]].copy())
        last[stored["index"]] = stored["reading"]
    assert np.array_equal(table.g_before, np.concatenate(expected))
