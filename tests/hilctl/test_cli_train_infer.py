"""``hilctl train`` and ``hilctl infer`` as a user runs them: separate processes."""

import json

import numpy as np
import pytest

from hilctl.weights.datasets import load_dataset
from hilctl.weights.model_files import load_model
from hilctl.weights.network import TrainConfig, train_model
from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json
from tests.hilctl.test_inference import write_run


@pytest.fixture(scope="module")
def quick_model():
    return train_model(TrainConfig(epochs=3), load_dataset("digits"))


@pytest.mark.slow
def test_train_then_infer_a_run(tmp_path):
    trained = run_json("train", "--dataset", "digits", "--mode", "current", "--hidden", "16",
                       "--epochs", "5", "--out", "model", cwd=tmp_path)
    assert trained["mode"] == "current" and trained["layer_sizes"] == [64, 16, 10]
    model = load_model(tmp_path / "model")
    assert model.accuracy_software == trained["accuracy_software"]
    write_run(tmp_path / "run", model)
    report = run_json("infer", "--run", "run", "--dataset", "digits", "--defects", "0,0.1",
                      "--trials", "1", "--out", "plots", cwd=tmp_path)
    for key in ("accuracy_software", "accuracy_ideal", "accuracy_measured", "mode", "dataset",
                "test_samples", "layers"):
        assert key in report
    assert report["accuracy_ideal"] == report["accuracy_software"]
    assert [d["fraction"] for d in report["defects"]] == [0.0, 0.1]
    assert (tmp_path / "plots" / "defects.png").stat().st_size > 1000


def test_infer_prints_tables_and_a_defect_curve(quick_model, tmp_path):
    write_run(tmp_path / "run", quick_model)
    done = run_hilctl("infer", "--run", "run", "--defects", "0.05", "--trials", "1",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for word in ("software", "ideal", "measured", "weight error per layer", "5%"):
        assert word in done.stdout
    assert (tmp_path / "run" / "defects.png").is_file()


def test_bad_inputs_end_in_one_line_each(tmp_path):
    assert_one_line_error(run_hilctl("train", "--dataset", "cifar", "--out", "m", cwd=tmp_path),
                          "dataset 'cifar' is unknown")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_hilctl("infer", "--run", "empty", "--defects", "0,2",
                                     cwd=tmp_path), "--defects")
    assert_one_line_error(run_hilctl("infer", "--run", "empty", cwd=tmp_path),
                          "holds no weights")


def test_nan_weights_in_a_run_end_in_one_line(quick_model, tmp_path):
    path = write_run(tmp_path / "run", quick_model)
    weights = dict(np.load(path / "model" / "weights.npz"))
    weights["layer1"][0, 0] = np.nan
    np.savez(path / "model" / "weights.npz", **weights)
    assert_one_line_error(run_hilctl("infer", "--run", "run", cwd=tmp_path), "checksum")
    meta = json.loads((path / "model" / "model.json").read_text())
    del meta["weights_sha256"]  # a folder saved before checksums: its values are still checked
    (path / "model" / "model.json").write_text(json.dumps(meta))
    assert_one_line_error(run_hilctl("infer", "--run", "run", cwd=tmp_path), "NaN")


@pytest.mark.slow
def test_train_takes_the_device_v0_for_iv_aware_training(tmp_path):
    trained = run_json("train", "--iv-aware", "--read-voltage", "0.5V", "--iv-v0", "150mV",
                       "--hidden", "4", "--epochs", "1", "--out", "model", cwd=tmp_path)
    model = load_model(tmp_path / "model")
    assert trained["iv_v0_V"] == pytest.approx(0.15)
    assert model.iv_aware and model.iv_v0_V == pytest.approx(0.15)
    assert model.input_voltage_V == pytest.approx(0.5)


def test_noise_aware_training_out_of_range_ends_in_one_line(tmp_path):
    done = run_hilctl("train", "--conductance-noise", "1.5", "--out", "m", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--conductance-noise" in done.stderr
    assert not (tmp_path / "m").exists()
