"""Wrong units and silent no-ops are caught: an import far outside any known device warns with
the range it produced, a run's cells add up to in band / failed / out of budget, ``--relax`` on
an array that cannot relax says so, and a current-mode model programs without ``--rescale``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hilctl.assemble import Job
from tests.e2e.cli import run_hilctl, run_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crosssim"
ONE_R = '[array]\nrows = {n}\ncols = {n}\npreset = "hfox-1r"\n'


def _import(cwd: Path, unit: str):
    return run_hilctl("data", "import", FIXTURES / "set_sample.csv",
                      FIXTURES / "reset_sample.csv", "--layout", "pulse-train",
                      "--polarity", "SET", "--polarity", "RESET", "--measure", "current",
                      "--measure-unit", unit, "--read-voltage", "0.1V", "--amplitude",
                      "SET=1.2V", "--amplitude", "RESET=1.5V", "--width", "100ns",
                      "--out", f"{unit}.csv", cwd=cwd)


def test_currents_read_in_the_wrong_unit_warn_with_the_range_produced(tmp_path):
    right = _import(tmp_path, "A")
    assert right.returncode == 0 and "warning" not in right.stderr
    wrong = _import(tmp_path, "nA")
    assert wrong.returncode == 0, wrong.stderr
    assert "warning" in wrong.stderr and "far outside" in wrong.stderr
    assert "1.61e-12..2.46e-12 S" in wrong.stderr
    assert "--measure-unit" in wrong.stderr


def test_every_cell_is_in_band_failed_or_out_of_budget(tmp_path):
    (tmp_path / "one_r.toml").write_text(ONE_R.format(n=8))
    summary = run_json("program", "--config", "one_r.toml", "--max-pulses", 2, "--out", "run",
                       "--quiet", cwd=tmp_path)
    counts = [summary[k] for k in ("in_band_cells", "failed_cells", "out_of_budget_cells")]
    assert sum(counts) == summary["cells"] == 64
    assert summary["out_of_budget_cells"] > 0
    assert summary["in_band_cells"] == round(summary["success_rate"] * 64)


def test_a_model_is_trained_for_the_window_program_maps_it_into(tmp_path):
    run_json("train", "--mode", "current", "--hidden", 8, "--epochs", 1, "--preset", "hfox-1r",
             "--out", "model", cwd=tmp_path)
    from hilctl.config import build_config
    from hilctl.weights.job import window_of

    g_lo, g_hi = window_of(Job(build_config({"array": {"preset": "hfox-1r"}})))
    stored = json.loads((tmp_path / "model" / "model.json").read_text())
    assert stored["g_ratio"] == pytest.approx(g_lo / g_hi)


@pytest.mark.slow
def test_current_mode_train_programs_without_rescale_and_relax_says_when_it_cannot(tmp_path):
    (tmp_path / "one_r.toml").write_text(ONE_R.format(n=32))
    run_json("train", "--mode", "current", "--hidden", 16, "--epochs", 30, "--preset",
             "hfox-1r", "--out", "model", cwd=tmp_path)
    summary = run_json("program", "--config", "one_r.toml", "--weights", "model", "--out",
                       "run", "--quiet", cwd=tmp_path)
    assert summary["success_rate"] > 0.8
    done = run_hilctl("infer", "--run", "run", "--fresh-reads", "--relax", "1000s", "--json",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no relaxation" in done.stderr and "relaxation_sigma" in done.stderr


def test_a_band_narrower_than_the_read_noise_warns_before_the_run(tmp_path):
    (tmp_path / "one_r.toml").write_text(ONE_R.format(n=4))
    narrow = run_hilctl("program", "--config", "one_r.toml", "--tolerance", "0.2%",
                        "--max-pulses", 5, "--out", "narrow", "--quiet", cwd=tmp_path)
    assert narrow.returncode in (0, 3), narrow.stderr
    assert "narrower than the read noise" in narrow.stderr and "all 5 pulses" in narrow.stderr
    usual = run_hilctl("program", "--config", "one_r.toml", "--out", "usual", "--quiet",
                       cwd=tmp_path)
    assert "read noise" not in usual.stderr


def test_a_band_narrower_than_the_read_noise_ends_under_a_huge_budget(tmp_path):
    """The ramp restarts on every overshoot, so it never sits at its strongest setting and the
    stall rule alone never fires: overshooting the band again and again fails the cell."""
    (tmp_path / "one_r.toml").write_text(ONE_R.format(n=8))
    done = run_hilctl("program", "--config", "one_r.toml", "--tolerance", "0.02%",
                      "--max-pulses", 100000, "--out", "run", "--quiet", "--json",
                      cwd=tmp_path, timeout=120)
    assert done.returncode in (0, 3), done.stderr
    assert "narrower than the read noise" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["failed_cells"] > 0 and summary["out_of_budget_cells"] == 0
    assert summary["in_band_cells"] + summary["failed_cells"] == 64
    assert summary["rounds"] < 2000  # a cell is pulsed once a round: of the 100000 allowed
