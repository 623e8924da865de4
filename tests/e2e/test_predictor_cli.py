"""``hilctl characterize`` and ``hilctl predictor train|eval`` as a user runs them."""

import json

import numpy as np
import pytest

from hilctl.drivers.pulse_table import PulseTable
from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json
from tests.hilctl.gate_sweep import gate_sweep_table


@pytest.mark.slow
def test_characterize_train_eval_journey(tmp_path):
    # 1R cells: random pulses, the width knob.
    summary = run_json("characterize", "--pulses", 4000, "--rows", 24, "--cols", 24,
                       "--preset", "hfox-1r", "--out", "t.csv", cwd=tmp_path)
    assert summary["rows"] == 4000 and summary["set_rows"] + summary["reset_rows"] == 4000
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "cell,g_before_S,polarity,amplitude_V,width_s,gate_V,g_after_S,read_V"
    assert len(lines) == 4001
    run_json("characterize", "--pulses", 1500, "--rows", 16, "--cols", 16, "--seed", 7,
             "--preset", "hfox-1r", "--out", "held.csv", cwd=tmp_path)
    run_json("predictor", "train", "--data", "t.csv", "--out", "pred", "--epochs", 40,
             "--fixed", "SET=1.1V", "--fixed", "RESET=1.5V", cwd=tmp_path)
    meta = json.loads((tmp_path / "pred" / "predictor.json").read_text())
    assert meta["knob"] == {"SET": "width", "RESET": "width"}
    assert meta["fixed"] == {"SET": {"amplitude_V": 1.1}, "RESET": {"amplitude_V": 1.5}}
    assert meta["training"]["source"] == "t.csv"

    report = run_json("predictor", "eval", "--data", "held.csv", "--predictor", "pred",
                      cwd=tmp_path)
    assert report["rows"] == 1500 and report["knob_error_unit"] == "decades"
    assert report["switched"]["g_rel_error_median"] < 0.25
    assert 0.6 < report["switched"]["interval_80_coverage"] < 0.95
    done = run_hilctl("predictor", "eval", "--data", "held.csv", "--predictor", "pred",
                      cwd=tmp_path)
    assert done.returncode == 0 and "knob_error_median" in done.stdout

    done = run_hilctl("predictor", "eval", "--data", "held.csv", "--predictor", "pred",
                      "--knob", "amplitude", cwd=tmp_path)
    assert_one_line_error(done, "width knob", "amplitude knob")
    assert done.returncode == 3
    (tmp_path / "pred" / "predictor.json").write_text(json.dumps({**meta, "format_version": 0}))
    done = run_hilctl("predictor", "eval", "--data", "held.csv", "--predictor", "pred",
                      cwd=tmp_path)
    assert_one_line_error(done, "format version 0", "retrain")


def _set_only_table(path, rows: int = 300) -> None:
    rng = np.random.default_rng(0)
    g0 = rng.uniform(1e-6, 30e-6, rows)
    width = np.exp(rng.uniform(np.log(1e-8), np.log(1e-4), rows))
    PulseTable(np.array([f"{i}:0" for i in range(rows)]), g0, np.ones(rows), np.full(rows, 1.2),
               width, np.full(rows, np.nan), g0 * (1 + width * 1e4)).write_csv(path)


@pytest.mark.slow
def test_a_single_polarity_table_is_refused_unless_asked_for(tmp_path):
    _set_only_table(tmp_path / "set.csv")
    done = run_hilctl("predictor", "train", "--data", "set.csv", "--out", "p", cwd=tmp_path)
    assert_one_line_error(done, "0 RESET rows", "polarities")
    summary = run_json("predictor", "train", "--data", "set.csv", "--out", "p", "--epochs", 2,
                       "--polarities", "SET", "--fixed", "1.2V", cwd=tmp_path)
    assert summary["fixed"] == {"SET": {"amplitude_V": 1.2}}


@pytest.mark.parametrize("content, words", [
    ("cell,g_before_S,polarity,width_s,g_after_S\n0:0,1e-6,SET,1e-6,2e-6\n",
     ("missing column", "amplitude_V")),
    ("cell,g_before_S,polarity,amplitude_V,width_s,gate_V,g_after_S\n"
     "0:0,-1e-6,SET,1.2,1e-6,,2e-6\n", ("row 1", "g_before_S must be in [1e-15, 1] S")),
    ("cell,g_before_S,polarity,amplitude_V,width_s,gate_V,g_after_S\n"
     + "0:0,1e-6,SET,1.2,1e-6,,2e-6\n" * 50, ("50 SET rows", "at least 100")),
])
def test_train_refuses_bad_tables_in_one_line(tmp_path, content, words):
    (tmp_path / "bad.csv").write_text(content)
    done = run_hilctl("predictor", "train", "--data", "bad.csv", "--out", "p", cwd=tmp_path)
    assert_one_line_error(done, *words)
    assert not (tmp_path / "p").exists()


def test_missing_files_are_one_line_errors(tmp_path):
    done = run_hilctl("predictor", "train", "--data", "missing.csv", "--out", "p", cwd=tmp_path)
    assert_one_line_error(done, "missing.csv")
    done = run_hilctl("predictor", "eval", "--data", "missing.csv", "--predictor", "nowhere",
                      cwd=tmp_path)
    assert_one_line_error(done, "nowhere", "not a predictor directory")


@pytest.mark.slow
def test_saving_never_overwrites_a_directory_of_another_kind(tmp_path):
    """A predictor written over a model directory (or the reverse) is refused, files intact."""
    model = tmp_path / "model"
    done = run_hilctl("train", "--epochs", "2", "--out", "model", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    table = tmp_path / "t.csv"
    done = run_hilctl("characterize", "--pulses", "3000", "--rows", "8", "--cols", "8",
                      "--out", table.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    refused = run_hilctl("predictor", "train", "--data", table.name, "--out", "model",
                         "--epochs", "1", cwd=tmp_path)
    assert_one_line_error(refused, "already holds other files")
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before


@pytest.mark.slow
def test_gate_knob_journey_train_eval_and_program_with_the_lookup_planner(tmp_path):
    gate_sweep_table(6000, 3000, seed=1).write_csv(tmp_path / "sweep.csv")
    gate_sweep_table(4000, 0, seed=2).write_csv(tmp_path / "held.csv")
    summary = run_json("predictor", "train", "--data", "sweep.csv", "--out", "g", "--epochs", 10,
                       "--knob", "set=gate,reset=amplitude", cwd=tmp_path)
    assert summary["knob"] == {"SET": "gate", "RESET": "amplitude"}
    report = run_json("predictor", "eval", "--data", "held.csv", "--predictor", "g",
                      "--targets", "30uS:210uS:7", cwd=tmp_path)
    assert report["one_shot"]["targets_S"][0] == pytest.approx(30e-6)
    assert {"neural", "lookup", "hindsight"} <= report["one_shot"].keys()
    shown = run_hilctl("predictor", "eval", "--data", "held.csv", "--predictor", "g",
                       cwd=tmp_path)
    assert shown.returncode == 0 and "hindsight" in shown.stdout and "unswitched" in shown.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # the training table named in the predictor is not there
    report = run_json("predictor", "eval", "--data", tmp_path / "held.csv", "--predictor",
                      tmp_path / "g", cwd=elsewhere)
    assert report["lookup_source"] is None and "lookup" not in report["one_shot"]
    done = run_hilctl("program", "--rows", 8, "--cols", 8, "--protocol", "one-shot",
                      "--planner", "lookup", "--predictor", "sweep.csv", "--out", "run",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args, words", [
    (("--knob", "gate"), ("no gate_V values", "gate sweep")),
    (("--knob", "set=gate"), ("no knob for RESET",)),
])
def test_gate_knob_refusals_are_one_line(tmp_path, args, words):
    table = gate_sweep_table(300, 300, seed=1)
    table.gate[:] = float("nan")
    table.write_csv(tmp_path / "t.csv")
    done = run_hilctl("predictor", "train", "--data", "t.csv", "--out", "p", *args,
                      cwd=tmp_path)
    assert_one_line_error(done, *words)
    assert done.returncode != 0 and not (tmp_path / "p").exists()
