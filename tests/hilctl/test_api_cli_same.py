"""A command is its API call: the same settings give the same figures from the command line and
from Python."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hilctl
from hilctl.drivers.pulse_table import PulseTable
from tests.e2e.cli import run_json

SIM = "sim://?rows=6&cols=6&seed=4&preset=hfox-1r"
ARRAY_FLAGS = ("--rows", 6, "--cols", 6, "--seed", 4, "--config", "one_r.toml")


@pytest.fixture
def lab(tmp_path):
    (tmp_path / "one_r.toml").write_text('[array]\npreset = "hfox-1r"\n')
    return tmp_path


def test_compare_reports_the_same_figures_both_ways(lab):
    shell = run_json("compare", *ARRAY_FLAGS, "--protocols", "write-verify,write-verify-adaptive",
                     "--tolerance", "10%", "--out", "cmp", cwd=lab)
    python = hilctl.compare(SIM, ("write-verify", "write-verify-adaptive"), tolerance="10%",
                            out=lab / "py")
    assert shell["protocols"] == python["protocols"]
    assert json.loads((lab / "cmp" / "compare.json").read_text())["oracle"] == python["oracle"]


def test_characterize_writes_the_same_table_both_ways(lab):
    run_json("characterize", *ARRAY_FLAGS, "--pulses", 300, "--sampling", "grid", "--out",
             "cli.csv", "--run-dir", "run", cwd=lab)
    table = hilctl.characterize(SIM, 300, lab / "py.csv", sampling="grid")
    shell = PulseTable.read_csv(lab / "cli.csv")
    np.testing.assert_array_equal(shell.g_after, table.g_after)
    assert repr(table).startswith("<PulseTable 300 pulses (") and "36 cells" in repr(table)
