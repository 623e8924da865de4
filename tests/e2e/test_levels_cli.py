"""``hilctl program --levels FILE --level-map FILE``: 2 bits per cell, judged per band."""

import numpy as np

from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json

CONFIG = """
[array]
preset = "hfox-1t1r"
[protocol]
gate_V = 3.0
"""
LEVELS = """
[levels]
L0 = { lower = "200uS" }
L1 = { lower = "166.4uS", upper = "173.3uS" }
L2 = { lower = "107.4uS", upper = "117.5uS" }
L3 = { upper = "12.5uS" }
"""


def _files(tmp_path, levels=LEVELS, names=("L0", "L1", "L2", "L3")):
    (tmp_path / "run.toml").write_text(CONFIG)
    (tmp_path / "levels.toml").write_text(levels)
    np.save(tmp_path / "map.npy", np.array(names)[np.arange(8 * 8).reshape(8, 8) % len(names)])
    return ("--config", "run.toml", "--rows", 8, "--cols", 8, "--levels", "levels.toml",
            "--level-map", "map.npy")


def test_write_verify_wl_reports_every_level_in_its_own_band(tmp_path):
    summary = run_json("program", *_files(tmp_path), "--protocol", "write-verify-wl",
                       "--out", "run", cwd=tmp_path)
    assert set(summary["levels"]) == {"L0", "L1", "L2", "L3"}
    assert all(v["cells"] == 16 for v in summary["levels"].values())
    assert {"pulses_mean", "pulses_median", "pulses_p95", "success_rate"} <= set(
        summary["levels"]["L1"])
    assert summary["tolerance"].startswith("L0 [0.0002, ")  # closed at the device range
    assert "L3 [0, 1.25e-05] S" in summary["tolerance"]


def test_bad_levels_are_one_line_and_store_nothing(tmp_path):
    args = _files(tmp_path, levels=LEVELS.replace('"166.4uS"', '"160uS"').replace(
        '"173.3uS"', '"230uS"'))
    assert_one_line_error(run_hilctl("program", *args, "--out", "run", cwd=tmp_path),
                          "overlap")
    args = _files(tmp_path, names=("L0", "L7"))
    assert_one_line_error(run_hilctl("program", *args, "--out", "run", cwd=tmp_path), "L7")
    assert not (tmp_path / "run").exists()
