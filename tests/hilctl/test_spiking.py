"""Memristive integrate-and-fire neurons and the spiking networks built from them."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from hilctl.drivers import ConfigError, DataError
from hilctl.weights.datasets import load_dataset
from hilctl.weights.inference import array_accuracy, software_accuracy
from hilctl.weights.layout import plan_layout
from hilctl.weights.mif import MIFNeuron
from hilctl.weights.model_files import load_model, save_model
from hilctl.weights.spiking import (
    SpikingNet,
    SpikingTrainConfig,
    spiking_logits,
    train_spiking,
)
from hilctl.weights.spiking_spec import MIFParams, SpikingSpec

T = 400


def impulse(amplitude_A: float, every: int = T, steps: int = T) -> torch.Tensor:
    drive = torch.zeros(1, steps, 1, dtype=torch.float64)
    drive[:, ::every] = amplitude_A
    return drive


def switching_events(neuron: MIFNeuron, drive: torch.Tensor) -> int:
    """Times memristor 1 switched on (its state crossing 1/2 upwards): the spikes."""
    state = neuron.rest(1, 1, torch.float64)
    states = []
    for t in range(drive.shape[1]):
        state = neuron.step(state, drive[:, t])
        states.append(float(state.x1))
    x = np.array(states)
    return int(np.sum((x[1:] >= 0.5) & (x[:-1] < 0.5)))


def test_semi_implicit_step_stays_finite_where_the_explicit_step_blows_up():
    for gain in (1, 4, 8, 16):
        drive = impulse(4e-6 * gain, every=20)
        v = MIFNeuron(MIFParams()).run(drive)
        assert torch.isfinite(v).all() and v.abs().max() < 1.0
        with pytest.raises(DataError, match="explicit membrane step diverged"):
            MIFNeuron(MIFParams(step="explicit")).run(drive)


def test_explicit_step_diverges_sooner_the_harder_it_is_driven():
    steps = []
    for gain in (4, 8, 16):
        with pytest.raises(DataError) as error:
            MIFNeuron(MIFParams(step="explicit")).run(impulse(4e-6 * gain, every=20))
        steps.append(int(str(error.value).split("time step ")[1].split()[0]))
    assert steps[0] > steps[1] > steps[2]


def test_a_neuron_driven_above_threshold_switches_once_per_alpha_pulse():
    neuron = MIFNeuron(MIFParams())
    assert switching_events(neuron, impulse(2e-5)) == 0  # below threshold: a bump, no spike
    assert switching_events(neuron, impulse(2e-4)) == 1
    # Three pulses far enough apart for the memristor to reset: three spikes.
    assert switching_events(neuron, impulse(2e-4, every=1200, steps=3600)) == 3


def test_after_a_spike_the_membrane_undershoots_rest():
    v = MIFNeuron(MIFParams()).run(impulse(2e-4, steps=800))[0, :, 0]
    peak = int(v.argmax())
    assert v[peak] > 0.11 and v[peak:].min() < MIFParams().v_rest_V


@pytest.mark.parametrize("k", [10.0, 1000.0])
def test_impedance_scaling_gives_the_same_trace(k):
    drive = impulse(1e-4, every=50)
    reference = MIFNeuron(MIFParams()).run(drive)
    scaled = MIFNeuron(MIFParams().scaled(k)).run(drive / k)
    torch.testing.assert_close(scaled, reference, rtol=1e-9, atol=1e-12)


def test_gradients_reach_every_synapse_and_are_finite():
    spec = SpikingSpec(steps=12)
    net = SpikingNet((8, 6, 3), spec)
    x = torch.rand(5, 8)
    loss = net(x, torch.Generator().manual_seed(0)).pow(2).sum()
    loss.backward()
    for theta in net.theta:
        assert torch.isfinite(theta.grad).all() and theta.grad.abs().sum() > 0


def test_bad_settings_are_one_clear_error():
    with pytest.raises(ConfigError, match="encoding 'morse'"):
        SpikingSpec(encoding="morse")
    with pytest.raises(ConfigError, match="MIF step"):
        MIFParams(step="leapfrog")
    with pytest.raises(DataError, match="trained with steps = 40, not 20"):
        SpikingSpec().check_same_run(SpikingSpec(steps=20))


@pytest.mark.parametrize("encoding,readout", [("poisson", "max"), ("alpha-dc", "per-step")])
def test_every_encoding_and_readout_runs(encoding, readout):
    spec = SpikingSpec(steps=10, encoding=encoding, readout=readout)
    weights = [np.random.default_rng(0).uniform(-1, 1, (5, 3))]
    logits = spiking_logits(weights, [3.0], np.random.default_rng(1).random((4, 4)), spec)
    assert logits.shape == (4, 3) and np.isfinite(logits).all()


@pytest.fixture(scope="module")
def trained():
    data = load_dataset("digits")
    config = SpikingTrainConfig(spec=SpikingSpec(steps=20), hidden=(32,), epochs=3)
    return train_spiking(config, data), data


def test_a_small_spiking_network_learns_digits_and_survives_its_model_folder(trained, tmp_path):
    model, data = trained
    assert model.kind == "msnn" and model.accuracy_software > 0.85
    loaded = load_model(save_model(model, tmp_path / "model"))
    assert loaded.kind == "msnn"
    assert software_accuracy(loaded, data) == pytest.approx(model.accuracy_software)


def test_its_synapses_map_onto_conductances_and_back(trained):
    model, data = trained
    layout = plan_layout(model, (128, 128), 2e-6, 36e-6)
    ideal = array_accuracy(model, layout, layout.targets(), data)
    assert ideal == pytest.approx(model.accuracy_software, abs=0.01)
    noisy = layout.targets() * (1 + 0.05 * np.random.default_rng(0).standard_normal(
        layout.targets().shape))
    assert array_accuracy(model, layout, noisy, data) > model.accuracy_software - 0.1
    spoilt = replace(SpikingSpec(**model.spiking), steps=7)
    with pytest.raises(DataError, match="steps"):
        SpikingSpec(**model.spiking).check_same_run(spoilt)
