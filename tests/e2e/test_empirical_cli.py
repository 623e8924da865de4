"""``hilctl program`` on an empirical array built from a 1T1R table: the run reports how the
table answered, and a table that lacks a setting the protocol needs is one clear line."""

import json

import numpy as np
import pytest

from hilctl.drivers import Polarity
from tests.e2e.cli import assert_one_line_error, run_hilctl
from tests.simulated_backend.one_t_one_r_table import one_t_one_r_table

CONFIG = """[array]
rows = 4
cols = 4
empirical_table = '{table}'
[limits]
width_min_s = 2e-7
width_max_s = 1e-6
[protocol]
name = 'write-verify-wl'
gate_V = 3.0
max_pulses = 20
tolerance = 0.1
[protocol.block_reset]
amplitude_V = 2.0
width_s = 1e-6
[protocol.wl]
set_V = 2.0
gate_start_V = 1.5
gate_step_V = 0.04
reset_gate_V = 3.0
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    here = tmp_path_factory.mktemp("empirical")
    table = one_t_one_r_table(shape=(24, 24), cycles=3)
    table.write_csv(here / "full.csv")
    table.subset(np.flatnonzero(table.polarity == Polarity.SET)).write_csv(here / "set.csv")
    for name in ("full", "set"):
        (here / f"{name}.toml").write_text(CONFIG.format(table=f"{name}.csv"))
    return here


def test_the_run_reports_how_the_table_answered(folder):
    done = run_hilctl("program", "--config", "full.toml", "--out", "run", cwd=folder)
    assert done.returncode == 0, done.stderr
    usage = json.loads((folder / "run" / "result.json").read_text())["empirical"]
    assert usage["pulses"] > 0
    line = (f"empirical table: {usage['pulses']} pulses, {usage['measured']} at measured "
            f"settings, {usage['interpolated']} interpolated, {usage['clamped']} clamped")
    assert line in " ".join(done.stdout.split())


def test_a_table_without_the_reset_the_protocol_needs_is_one_line(folder):
    done = run_hilctl("program", "--config", "set.toml", "--out", "set-run", cwd=folder)
    assert_one_line_error(done, "no RESET rows", "RESET pulse")
