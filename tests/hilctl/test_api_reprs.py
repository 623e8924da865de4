"""Every object the API hands out prints what a notebook user needs to tell it apart."""

from __future__ import annotations

import numpy as np

import hilctl
from hilctl.assemble import open_rig
from hilctl.drivers import SafetyLimits
from hilctl.rig_config import rig_config_from_table
from hilctl.simulated_backend.emulators import EmulatedRig

SIM = "sim://?rows=4&cols=5&seed=2&preset=hfox-1r"


def test_an_array_its_crossbar_a_run_and_a_table_print_their_sizes_and_state(tmp_path):
    array = hilctl.open_array(SIM)
    assert repr(array) == f"<hilctl.Array 4x5 simulated hfox-1r, seed 2 ({SIM})>"
    with array.open() as crossbar:
        assert repr(crossbar).startswith("<SimulatedCrossbar 4x5 ") and "0 pulses" in repr(crossbar)
    run = hilctl.program(array, np.full((4, 5), 20e-6), tolerance="10%", out=tmp_path / "r")
    s = run.summary()
    assert repr(run) == (f"<hilctl.Run {tmp_path / 'r'}: {s['protocol']} on 20 cells, "
                         f"{s['success_rate']:.1%} in band ({s['tolerance']}), "
                         f"{s['pulses_mean']:.2f} pulses per cell>")
    table = hilctl.characterize(array, pulses=60)
    sets = int((table.polarity > 0).sum())
    assert repr(table).startswith(f"<PulseTable 60 pulses ({sets} SET, {60 - sets} RESET) on ")


def test_a_rig_crossbar_prints_its_instruments_and_whether_it_is_open():
    with EmulatedRig((3, 3), seed=1, smu="2600") as rig:
        crossbar = open_rig(rig_config_from_table(rig.rig_table(SafetyLimits())))
        with crossbar:
            shown = repr(crossbar)
            assert shown.startswith("<InstrumentCrossbar 3x3 ") and shown.endswith("open>")
        assert repr(crossbar).endswith("closed>")
