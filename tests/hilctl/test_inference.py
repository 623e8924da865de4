"""Inference from conductances: software, ideal and measured accuracy, errors, defects."""

import shutil

import numpy as np
import pytest

from hilctl.drivers import DataError
from hilctl.drivers.atomic_file import write_atomic
from hilctl.run.runner import save_npy
from hilctl.weights.datasets import load_dataset
from hilctl.weights.inference import (
    array_accuracy,
    defect_sweep,
    evaluate,
    inject_stuck,
    load_run,
    software_accuracy,
    weight_errors,
)
from hilctl.weights.layout import plan_layout, usable_window
from hilctl.weights.model_files import save_model
from hilctl.weights.network import TrainConfig, train_model

G_LO, G_HI = usable_window()


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def models(digits):
    return {mode: train_model(TrainConfig(mode=mode, epochs=10), digits)
            for mode in ("voltage", "current")}


def write_run(path, model, noise=0.03, seed=1, shape=(64, 64)):
    """A run directory as ``hilctl program --weights`` leaves it: ideal targets plus noise."""
    layout = plan_layout(model, shape, G_LO, G_HI)
    targets = layout.targets()
    rng = np.random.default_rng(seed)
    measured = targets * (1 + noise * rng.standard_normal(targets.shape))
    path.mkdir(parents=True, exist_ok=True)
    save_npy(path / "targets.npy", targets)
    save_npy(path / "conductance.npy", measured)
    write_atomic(path / "layout.json", layout.to_json().encode())
    save_model(model, path / "model")
    return path


def test_current_mode_ideal_targets_reproduce_software_accuracy(models, digits):
    model = models["current"]
    layout = plan_layout(model, (64, 64), G_LO, G_HI)
    assert array_accuracy(model, layout, layout.targets(), digits) == pytest.approx(
        software_accuracy(model, digits))


def test_the_array_applies_the_device_iv_in_voltage_mode(digits):
    """A network trained for an ohmic array loses accuracy at a high input voltage; one trained
    through the I-V at that voltage does not see that loss on its ideal targets."""
    plain = train_model(TrainConfig(epochs=10, input_voltage_V=0.6), digits)
    aware = train_model(TrainConfig(epochs=10, input_voltage_V=0.6, iv_aware=True), digits)
    ideal = {}
    for name, model in (("plain", plain), ("aware", aware)):
        layout = plan_layout(model, (128, 128), G_LO, G_HI)
        ideal[name] = array_accuracy(model, layout, layout.targets(), digits)
    assert ideal["plain"] < plain.accuracy_software
    assert ideal["aware"] == pytest.approx(aware.accuracy_software)


def test_weight_error_grows_with_conductance_error(models):
    model = models["voltage"]
    layout = plan_layout(model, (64, 64), G_LO, G_HI)
    rng = np.random.default_rng(0)
    targets = layout.targets()
    small = weight_errors(model, layout, targets * (1 + 0.01 * rng.standard_normal(targets.shape)))
    large = weight_errors(model, layout, targets * (1 + 0.1 * rng.standard_normal(targets.shape)))
    assert [e["layer"] for e in small] == [0, 1]
    for a, b in zip(small, large, strict=True):
        assert 0 < a["relative_rms_error"] < b["relative_rms_error"]
    assert weight_errors(model, layout, targets)[0]["max_abs_error"] < 1e-9


def test_stuck_injection_hits_the_asked_fraction_half_low_half_high():
    g = np.full((2, 10, 10), 5e-6)
    used = np.zeros(g.shape, bool)
    used[:, :5] = True
    g[~used] = np.nan
    out = inject_stuck(g, used, 0.2, (1e-6, 40e-6), np.random.default_rng(0))
    assert (out == 1e-6).sum() == 10 and (out == 40e-6).sum() == 10
    assert np.isnan(out[~used]).all()
    again = inject_stuck(g, used, 0.2, (1e-6, 40e-6), np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)
    with pytest.raises(DataError, match="defect fraction"):
        inject_stuck(g, used, 1.5, (1e-6, 40e-6), np.random.default_rng(0))


def test_defects_cost_accuracy(models, digits):
    model = models["voltage"]
    layout = plan_layout(model, (64, 64), G_LO, G_HI)
    rows = defect_sweep(model, layout, layout.targets(), digits, [0.0, 0.2], trials=2)
    assert rows[0]["trials"] == 1 and rows[1]["trials"] == 2
    assert rows[1]["accuracy"] < rows[0]["accuracy"] - 0.1


def test_a_run_directory_evaluates_to_the_report_fields(models, digits, tmp_path):
    run = load_run(write_run(tmp_path / "run", models["voltage"]))
    report = evaluate(run, digits)
    assert report["mode"] == "voltage" and report["test_samples"] == digits.y_test.size
    assert abs(report["accuracy_measured"] - report["accuracy_software"]) < 0.05
    assert len(report["layers"]) == 2 and report["layout"]["tiled_layers"] == [0]


def test_a_run_without_weights_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="holds no weights"):
        load_run(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_run(tmp_path / "nope")


def test_a_run_whose_model_is_not_the_layout_is_refused(models, tmp_path):
    path = write_run(tmp_path / "run", models["voltage"])
    shutil.rmtree(path / "model")
    save_model(models["current"], path / "model")
    with pytest.raises(DataError, match="not the one the layout places"):
        load_run(path)


def test_a_run_with_missing_reads_is_refused(models, tmp_path):
    path = write_run(tmp_path / "run", models["voltage"])
    np.save(path / "conductance.npy", np.full((3, 64, 64), np.nan))
    with pytest.raises(DataError, match="conductance: .* used cell"):
        load_run(path)


def test_a_dataset_of_another_size_is_refused(models, tmp_path):
    run = load_run(write_run(tmp_path / "run", models["voltage"]))
    other = load_dataset("digits")
    other = type(other)("wide", np.zeros((4, 784), np.float32), np.zeros(4, np.int64),
                        np.zeros((4, 784), np.float32), np.zeros(4, np.int64))
    with pytest.raises(DataError, match="784 features; the model expects 64"):
        evaluate(run, other)


def test_a_simulated_run_also_reports_the_true_conductances(models, digits, tmp_path):
    path = write_run(tmp_path / "run", models["current"], noise=0.0)
    assert "accuracy_true" not in evaluate(load_run(path), digits)
    layout = load_run(path).layout
    truth = layout.targets() * 1.5  # a uniform scale leaves every divider ratio as it was
    np.save(path / "true_conductance.npy", truth)
    report = evaluate(load_run(path), digits)
    assert report["accuracy_true"] == report["accuracy_measured"] == report["accuracy_ideal"]
