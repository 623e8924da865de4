"""Train, program the weights, infer with what the array measured: the whole loop as a user runs
it, and the demo that tells it in one command."""

import json

import numpy as np
import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json


@pytest.fixture(scope="module")
def programmed(tmp_path_factory):
    where = tmp_path_factory.mktemp("weights")
    trained = run_json("train", "--dataset", "digits", "--mode", "voltage", "--hidden", 16,
                       "--epochs", 15, "--out", "model", cwd=where)
    summary = run_json("program", "--weights", "model", "--rows", 32, "--cols", 32,
                       "--out", "run", "--quiet", cwd=where)
    return where, trained, summary


def test_weights_are_tiled_and_every_target_cell_is_programmed(programmed):
    where, _, summary = programmed
    run = where / "run"
    targets = np.load(run / "targets.npy")
    conductance = np.load(run / "conductance.npy")
    # 65 inputs (64 + bias) x 16 outputs, two devices per weight: more than one 32x32 array
    assert summary["arrays"] == targets.shape[0] > 1 and "tiled" in summary["layout"]
    assert targets.shape[1:] == (32, 32)
    used = np.isfinite(targets)
    assert np.array_equal(np.isfinite(conductance), used)
    assert used.sum() == summary["cells"]
    layout = json.loads((run / "layout.json").read_text())
    assert layout["n_arrays"] == summary["arrays"]
    assert (run / "model" / "weights.npz").is_file()


def test_infer_reports_software_ideal_and_measured_accuracy(programmed):
    where, trained, summary = programmed
    report = run_json("infer", "--run", "run", "--dataset", "digits", cwd=where)
    for key in ("accuracy_software", "accuracy_ideal", "accuracy_measured", "mode", "dataset",
                "test_samples", "layers"):
        assert key in report
    assert report["accuracy_software"] == pytest.approx(trained["accuracy_software"])
    assert report["accuracy_measured"] > 0.8
    assert report["accuracy_ideal"] >= report["accuracy_measured"] - 0.05
    assert len(report["layers"]) == 2


def test_resuming_a_weights_run_keeps_its_arrays(programmed):
    where, _, summary = programmed
    resumed = run_json("program", "--resume", "run", "--quiet", cwd=where)
    assert resumed["cells"] == summary["cells"]
    assert resumed["success_rate"] == summary["success_rate"]


def test_bad_weights_and_runs_get_one_line(programmed, tmp_path):
    where, _, _ = programmed
    assert_one_line_error(run_hilctl("program", "--weights", "nowhere", "--out", "r",
                                     cwd=where), "nowhere")
    (tmp_path / "plain").mkdir()
    run_json("program", "--rows", 4, "--cols", 4, "--out", "plain/run", "--quiet",
             cwd=tmp_path)
    assert_one_line_error(run_hilctl("infer", "--run", "plain/run", "--dataset", "digits",
                                     cwd=tmp_path), "holds no weights")
    assert_one_line_error(run_hilctl("infer", "--run", str(where / "run"), "--dataset",
                                     "fashion", cwd=tmp_path), "fashion")


@pytest.mark.slow
def test_demo_tells_the_whole_story(tmp_path):
    report = run_json("demo", "--out", "demo", "--quiet", cwd=tmp_path)
    runs = {r["protocol"]: r for r in report["runs"]}
    assert set(runs) == {"write-verify", "write-verify-planned", "one-shot"}
    # The default preset is 1T1R: write-verify is the gate ramp there.
    assert runs["write-verify"]["variant"] == "write-verify-wl"
    assert runs["one-shot"]["pulses_mean"] <= 1.0 < runs["write-verify"]["pulses_mean"]
    for run in runs.values():
        assert run["accuracy_software"] > 0.9
        assert run["accuracy_measured"] > 0.5
    for name in ("write-verify", "write-verify-planned"):
        assert runs[name]["success_rate"] > 0.9
        assert runs[name]["accuracy_measured"] >= runs["one-shot"]["accuracy_measured"]
    assert runs["write-verify-planned"]["pulses_mean"] < runs["write-verify"]["pulses_mean"]
    # every run's three cost axes against the classic write-verify, and the model they used
    for run in runs.values():
        assert run["ratio_to_ispp"]["energy_J"] == pytest.approx(
            run["energy_J"] / runs["write-verify"]["energy_J"])
        assert run["energy_model"].startswith("sinh I-V") and "time_terms_s" in run


@pytest.mark.slow
def test_fresh_reads_read_the_array_again_and_see_relaxation(programmed):
    where, _, _ = programmed
    stored = run_json("infer", "--run", "run", cwd=where)
    fresh = run_json("infer", "--run", "run", "--fresh-reads", cwd=where)
    assert stored["conductance_source"] == "last verify reads"
    assert fresh["conductance_source"] == "fresh reads"
    assert abs(fresh["accuracy_measured"] - stored["accuracy_measured"]) < 0.03
    (where / "drift.toml").write_text("[array]\nrows = 32\ncols = 32\n"
                                      "[device]\nrelaxation_sigma = 0.08\n")
    run_json("program", "--weights", "model", "--config", "drift.toml", "--out", "drift",
             "--quiet", cwd=where)
    settled = run_json("infer", "--run", "drift", "--fresh-reads", cwd=where)
    drifted = run_json("infer", "--run", "drift", "--fresh-reads", "--relax", "1e6s",
                       cwd=where)
    assert drifted["conductance_source"] == "fresh reads after 1e+06 s"
    assert drifted["layers"][0]["rms_error"] > 1.5 * settled["layers"][0]["rms_error"]
