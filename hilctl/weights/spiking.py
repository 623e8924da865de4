"""Fully memristive spiking networks: MIF neurons behind crossbar synapses, trained by
backpropagation through time through the device equations (no surrogate gradient: the MIF
neuron's spikes are analog).

    spec = SpikingSpec(steps=40, encoding="alpha-dc", readout="mean")
    model = train_spiking(SpikingTrainConfig(spec=spec, hidden=(64,)), load_dataset("digits"))
    logits = spiking_logits(model.weights, model.gains, x, spec)     # numpy in, numpy out

Synapses are voltage-mode device pairs, w = s (G+ - G-). Each layer's rows are driven by
voltages: the input image as ``x * V_ref`` for the first layer, the presynaptic membrane
voltages after that, and the always-on bias row at V_ref; a column's current into its neuron is
``I_ref * sum_i (V_i / V_ref) w_ij``. Weights are trained as ``w_max * tanh(theta)``, so the layer
scale is fixed at w_max / (g_hi - g_lo) and every trained synapse maps straight onto a target
inside the programmable window. The readout's gain (a column amplifier) is the one other
trained number. Encodings: ``alpha-dc`` (the image re-driven every ``redrive`` steps into the
alpha filter) and ``poisson`` (Bernoulli spikes at a rate proportional to intensity, seeded).
Readouts: ``mean`` (time-mean of v), ``max`` (max over time) and ``per-step`` (cross-entropy at
every step, the prediction from the mean).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .datasets import Dataset
from .mif import MIFNeuron
from .model_files import TrainedModel
from .spiking_spec import SpikingSpec


def encode(x: torch.Tensor, spec: SpikingSpec, generator: torch.Generator) -> torch.Tensor:
    """Row drive (batch, T, features) in units of V_ref."""
    batch, features = x.shape
    if spec.encoding == "alpha-dc":
        drive = torch.zeros(batch, spec.steps, features, dtype=x.dtype)
        drive[:, ::spec.redrive] = x[:, None, :]
        return drive
    rate = x[:, None, :].expand(batch, spec.steps, features)
    return (torch.rand(rate.shape, generator=generator, dtype=x.dtype) < rate).to(x.dtype)


def network_trace(weights, spec: SpikingSpec, x: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
    """Output-layer membrane voltages (batch, T, n_out) in V."""
    neuron = MIFNeuron(spec.neuron_params)
    signal = encode(x, spec, generator)  # rows in units of V_ref
    for w in weights:
        ones = torch.ones(*signal.shape[:2], 1, dtype=signal.dtype)
        current = spec.i_ref_A * (torch.cat([signal, ones], dim=2) @ w)
        v = neuron.run(current)
        signal = v / spec.v_ref_V
    return v


def readout(v: torch.Tensor, gain, spec: SpikingSpec) -> torch.Tensor:
    """Logits (batch, n_out), or (batch, T, n_out) for the per-step readout."""
    centred = (v - spec.neuron_params.v_rest_V) / spec.v_ref_V
    if spec.readout == "max":
        return gain * centred.max(dim=1).values
    if spec.readout == "per-step":
        return gain * centred
    return gain * centred.mean(dim=1)


def spiking_logits(weights: list[np.ndarray], gains: list[float], x: np.ndarray,
                   spec: SpikingSpec, seed: int = 0, batch: int = 512) -> np.ndarray:
    """Logits of the network with ``weights`` (e.g. from measured conductances), in numpy."""
    generator = torch.Generator().manual_seed(seed)
    ws = [torch.as_tensor(w, dtype=torch.float32) for w in weights]
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            xb = torch.as_tensor(x[start:start + batch], dtype=torch.float32)
            logits = readout(network_trace(ws, spec, xb, generator), gains[-1], spec)
            out.append((logits.mean(dim=1) if logits.dim() == 3 else logits).numpy())
    return np.concatenate(out)


@dataclass(frozen=True)
class SpikingTrainConfig:
    spec: SpikingSpec = field(default_factory=SpikingSpec)
    hidden: tuple[int, ...] = (64,)
    epochs: int = 10
    seed: int = 0
    batch_size: int = 32
    learning_rate: float = 1e-2


class SpikingNet(torch.nn.Module):
    """Trainable synapses (w = w_max tanh(theta)) and a readout gain."""

    def __init__(self, sizes: tuple[int, ...], spec: SpikingSpec) -> None:
        super().__init__()
        self.spec = spec
        self.theta = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(a + 1, b) * (1.5 / (a + 1)) ** 0.5)
             for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
        self.log_gain = torch.nn.Parameter(torch.tensor(2.0))

    def weights(self) -> list[torch.Tensor]:
        return [self.spec.w_max * torch.tanh(t) for t in self.theta]

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        v = network_trace(self.weights(), self.spec, x, generator)
        return readout(v, torch.exp(self.log_gain), self.spec)


def train_epochs(net: SpikingNet, config: SpikingTrainConfig, data: Dataset, progress=None):
    """Adam over ``config.epochs``; ``progress(epoch, loss)`` after each one."""
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.epochs)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        total = 0.0
        for index in torch.randperm(len(y), generator=generator).split(config.batch_size):
            optimiser.zero_grad()
            logits = net(x[index], generator)
            if logits.dim() == 3:  # per-step readout: a loss at every step
                target = y[index, None].expand(-1, logits.shape[1])
                loss = loss_fn(logits.reshape(-1, logits.shape[2]), target.reshape(-1))
            else:
                loss = loss_fn(logits, y[index])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
        schedule.step()
        if progress is not None:
            progress(epoch + 1, total / len(y))


def train_spiking(config: SpikingTrainConfig, data: Dataset, progress=None) -> TrainedModel:
    """Train a spiking network on ``data`` (seeded, one CPU thread) and return it as a
    voltage-mode model whose synapses any protocol can program."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(config.seed)
        sizes = (data.n_features, *config.hidden, data.n_classes)
        net = SpikingNet(sizes, config.spec)
        train_epochs(net, config, data, progress)
    finally:
        torch.set_num_threads(threads)
    weights = [w.detach().double().numpy().copy() for w in net.weights()]
    gains = [1.0] * (len(weights) - 1) + [float(torch.exp(net.log_gain.detach()))]
    model = TrainedModel(
        mode="voltage", layer_sizes=sizes, weights=weights, gains=gains, dataset=data.name,
        input_voltage_V=config.spec.v_ref_V, spiking=asdict(config.spec),
        training={"epochs": config.epochs, "seed": config.seed, "batch_size": config.batch_size,
                  "learning_rate": config.learning_rate})
    logits = spiking_logits(weights, gains, data.x_test, config.spec)
    model.accuracy_software = float((logits.argmax(axis=1) == data.y_test).mean())
    return model
