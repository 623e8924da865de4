"""Training for a crossbar, and the model files it leaves."""

import json

import numpy as np
import pytest
import torch

from hilctl.drivers import ConfigError, DataError
from hilctl.weights.datasets import load_dataset
from hilctl.weights.inference import forward, software_accuracy
from hilctl.weights.model_files import load_model, save_model
from hilctl.weights.network import TrainConfig, forward_torch, train_model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def models(digits):
    return {mode: train_model(TrainConfig(mode=mode, epochs=8), digits)
            for mode in ("voltage", "current")}


@pytest.mark.parametrize("mode", ["voltage", "current"])
def test_a_few_epochs_learn_digits_in_either_mode(models, mode):
    model = models[mode]
    assert model.layer_sizes == (64, 32, 10)
    assert model.accuracy_software > 0.85


def test_current_mode_weights_are_what_a_divider_can_hold(models):
    model = models["current"]
    bound = (1 - model.g_ratio) / (1 + model.g_ratio)
    for w in model.weights:
        assert np.abs(w).sum(axis=1).max() <= bound
    assert all(g > 1 for g in model.gains)  # the periphery amplifies the divided currents


def test_training_is_reproducible_from_its_seed(digits):
    a = train_model(TrainConfig(epochs=1, seed=3), digits)
    b = train_model(TrainConfig(epochs=1, seed=3), digits)
    c = train_model(TrainConfig(epochs=1, seed=4), digits)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_numpy_inference_computes_the_trained_network(models, digits):
    for model in models.values():
        x = digits.x_test[:50]
        expected = forward_torch([torch.as_tensor(w) for w in model.weights],
                                 torch.as_tensor(model.gains, dtype=torch.float64),
                                 torch.as_tensor(x, dtype=torch.float64))
        np.testing.assert_allclose(forward(model.weights, model.gains, x), expected.numpy(),
                                   rtol=1e-4, atol=1e-4)
        assert software_accuracy(model, digits) == pytest.approx(model.accuracy_software)


def test_iv_aware_training_records_its_voltage_and_uses_the_iv(digits):
    model = train_model(TrainConfig(epochs=3, iv_aware=True, input_voltage_V=0.5), digits)
    assert model.iv_aware and model.input_voltage_V == 0.5
    assert software_accuracy(model, digits) == pytest.approx(model.accuracy_software)


def test_iv_aware_current_mode_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="voltage mode only"):
        TrainConfig(mode="current", iv_aware=True)


def test_a_model_round_trips_through_npz_and_json(models, tmp_path):
    model = models["current"]
    save_model(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["mode"] == "current" and meta["format_version"] == 1
    loaded = load_model(tmp_path / "m", mode="current", layer_sizes=(64, 32, 10))
    for a, b in zip(loaded.weights, model.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.gains == model.gains and loaded.accuracy_software == model.accuracy_software


def test_a_model_of_another_mode_or_layout_is_refused(models, tmp_path):
    save_model(models["voltage"], tmp_path / "m")
    with pytest.raises(DataError, match="mode is 'voltage', expected 'current'"):
        load_model(tmp_path / "m", mode="current")
    with pytest.raises(DataError, match="layer sizes"):
        load_model(tmp_path / "m", layer_sizes=(784, 128, 10))


def replace_weights(path, **arrays):
    """Swap a model folder's weights as a folder saved before checksums (no weights_sha256),
    so the checks on the values themselves are what refuses them."""
    np.savez(path / "weights.npz", **arrays)
    meta = json.loads((path / "model.json").read_text())
    del meta["weights_sha256"]
    (path / "model.json").write_text(json.dumps(meta))


def test_weights_with_nan_are_refused(models, tmp_path):
    path = save_model(models["voltage"], tmp_path / "m")
    w0 = models["voltage"].weights[0].copy()
    w0[3, 4] = np.nan
    replace_weights(path, layer0=w0, layer1=models["voltage"].weights[1])
    with pytest.raises(DataError, match="layer 0 holds 1 NaN"):
        load_model(path)


def test_weights_that_do_not_match_the_declared_layers_are_refused(models, tmp_path):
    path = save_model(models["voltage"], tmp_path / "m")
    replace_weights(path, layer0=np.zeros((10, 3)), layer1=np.zeros((4, 10)))
    with pytest.raises(DataError, match="do not match layer sizes"):
        load_model(path)


def test_a_pickled_weights_file_is_never_unpickled(models, tmp_path):
    path = save_model(models["voltage"], tmp_path / "m")
    replace_weights(path, layer0=np.array([{"x": 1}], dtype=object),
                    layer1=models["voltage"].weights[1])
    with pytest.raises(DataError, match="unreadable .*weights.*allow_pickle=False"):
        load_model(path)


def test_a_directory_without_a_model_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="no model.json"):
        load_model(tmp_path)


def test_noise_aware_training_saves_the_clean_network(digits):
    config = TrainConfig(mode="current", epochs=20, conductance_noise=0.2, stuck_fraction=0.01)
    model = train_model(config, digits)
    assert model.training["conductance_noise"] == 0.2
    assert model.training["stuck_fraction"] == 0.01
    assert software_accuracy(model, digits) == pytest.approx(model.accuracy_software)
    assert model.accuracy_software > 0.8


def _expected_spread(mode, w, g_ratio, sigma):
    """Std of each weight when every device of its layout carries a relative error sigma."""
    from hilctl.weights.modes import current_mode_conductances, voltage_mode_conductances

    if mode == "voltage":
        g_plus, g_minus, scale = voltage_mode_conductances(w, g_ratio, 1.0)
        return sigma * scale * np.sqrt(g_plus**2 + g_minus**2)
    g_plus, g_minus, _ = current_mode_conductances(w, g_ratio, 1.0, common_mode=1.0)
    total = (g_plus + g_minus).sum(axis=1, keepdims=True)
    return sigma * np.sqrt(g_plus**2 + g_minus**2) / total


@pytest.mark.parametrize("mode", ["voltage", "current"])
def test_noise_aware_training_draws_the_device_error_of_the_programmed_layout(mode):
    from hilctl.weights.network import CrossbarMLP

    torch.manual_seed(0)
    sigma = 0.2
    net = CrossbarMLP((6, 4), TrainConfig(mode=mode, conductance_noise=sigma))
    net.eval()
    w = net.layer_weights()[0].detach()
    net.train()
    draws = torch.stack([net.layer_weights()[0].detach() - w for _ in range(2000)])
    expected = _expected_spread(mode, w.double().numpy(), net.config.g_ratio, sigma)
    np.testing.assert_allclose(draws.std(dim=0).numpy(), expected, rtol=0.15)
    np.testing.assert_allclose(draws.mean(dim=0).numpy(), 0.0, atol=0.2 * expected.max())
