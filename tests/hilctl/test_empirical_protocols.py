"""Every registered protocol on an empirical array built from a table measured on 1T1R cells;
a setting the table lacks is one clear error naming it."""

import json

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable
from hilctl.registry import PROTOCOLS
from hilctl.run.runner import new_run
from hilctl.targets import targets_for
from tests.simulated_backend.one_t_one_r_table import one_t_one_r_table

# Every setting below lies on the table's grids (one_t_one_r_table): SET 1.2/2 V, RESET
# 0.8-2 V, widths 200 ns and 1 us, SET gates 0.8-2 V, RESET gates 1.7 and 3 V.
PROTOCOL = {
    "gate_V": 1.7, "max_pulses": 12, "tolerance": 0.1, "planner": "lookup",
    "block_reset": {"amplitude_V": 2.0, "width_s": 1e-6, "gate_V": 3.0},
    "ispp": {"set_start_V": 1.2, "set_max_V": 2.0, "reset_start_V": 0.8, "reset_max_V": 2.0,
             "step_V": 0.2, "width_s": 1e-6},
    "adaptive": {"set_V": 2.0, "reset_V": 1.5, "start_width_s": 2e-7, "min_width_s": 2e-7,
                 "max_width_s": 1e-6},
    "wl": {"set_V": 2.0, "gate_start_V": 1.5, "gate_step_V": 0.04, "gate_max_V": 2.0,
           "width_s": 1e-6, "reset_gate_V": 3.0},
    "fppv": {"max_tries": 3},
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    full = one_t_one_r_table(shape=(32, 32), cycles=3)
    set_only = full.subset(np.flatnonzero(full.polarity == Polarity.SET))
    gateless = PulseTable(full.cell, full.g_before, full.polarity, full.amplitude, full.width,
                          np.full(len(full), np.nan), full.g_after)
    for name, table in (("full", full), ("set_only", set_only), ("gateless", gateless)):
        table.write_csv(folder / f"{name}.csv")
    return folder


def _run(tables, tmp_path, name: str, table: str = "full", **protocol):
    config = build_config({
        "array": {"rows": 4, "cols": 4, "empirical_table": str(tables / f"{table}.csv")},
        "limits": {"width_min_s": 2e-7, "width_max_s": 1e-6},
        "protocol": {**PROTOCOL, "predictor": str(tables / f"{table}.csv"), "name": name,
                     **protocol}})
    return new_run(Job(config), tmp_path / "run", targets_for(Job(config)))


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_every_protocol_runs_on_an_empirical_1t1r_array(tables, tmp_path, name):
    outcome = _run(tables, tmp_path, name)
    usage = json.loads((tmp_path / "run" / "result.json").read_text())["empirical"]
    assert usage == outcome.summary["empirical"]
    assert usage["pulses"] >= outcome.result.pulses.sum() > 0  # block RESETs come on top
    assert usage["clamped"] == usage["nearest_measured"] == 0
    assert usage["measured"] + usage["interpolated"] == usage["pulses"]
    full = PulseTable.read_csv(tables / "full.csv")
    measured = np.concatenate([full.g_before, full.g_after])
    low, high = measured.min(), measured.max()
    assert np.all((outcome.result.true_final >= low) & (outcome.result.true_final <= high))


def test_gate_protocols_program_the_empirical_array(tables, tmp_path):
    """The schemes labs use on 1T1R arrays work on the measured responses too."""
    outcome = _run(tables, tmp_path, "write-verify-wl", max_pulses=40)
    assert outcome.summary["success_rate"] >= 0.5


@pytest.mark.parametrize(("name", "table", "protocol", "missing"), [
    ("write-verify-wl", "set_only", {}, "no RESET rows"),
    ("write-verify", "full", {"gate_V": None}, "carries none: give the protocol a gate"),
    ("fppv", "gateless", {}, "RESET rows have no gate_V, but a RESET pulse carries gate 3 V"),
    ("write-verify-adaptive", "full", {"adaptive": {**PROTOCOL["adaptive"], "set_V": 1.6}},
     None),
])
def test_a_setting_the_table_lacks_is_one_clear_error(tables, tmp_path, name, table, protocol,
                                                      missing):
    if missing is None:  # between the measured 1.2 and 2 V: interpolated, not refused
        usage = _run(tables, tmp_path, name, table, **protocol).summary["empirical"]
        assert usage["interpolated"] > 0
        return
    with pytest.raises(DataError, match=missing) as raised:
        _run(tables, tmp_path, name, table, **protocol)
    assert "\n" not in str(raised.value)
