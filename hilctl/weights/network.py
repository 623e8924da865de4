"""The MLP a crossbar computes, trained for the formulation it will run in.

Hidden units are clipped ReLUs, min(max(z, 0), 1): a hidden activation is the next layer's
input, a voltage (or current) between 0 and full scale, so it saturates like the periphery.
Every layer carries its bias as an always-on full-scale input row.

- Voltage mode trains the effective weights directly; with ``iv_aware`` each layer's input
  goes through the device I-V at the input voltage (``modes.iv_transfer``).
- Current mode trains the conductances themselves, G = g_lo + (g_hi - g_lo) sigmoid(theta) in
  units of g_hi, and the weights w = (G+ - G-)/S_i come out of the divider formula, so autograd
  applies the non-local rule dE/dG_ik = (dE/dw_ik - sum_j w_ij dE/dw_ij)/S_i. A learnt gain per
  layer stands for the column amplifier.
- Noise-aware training (``conductance_noise`` > 0, either mode): each training step perturbs
  every weight as a relative error of that size on the conductances the layout will program
  (``modes.voltage_mode_conductances``, or ``current_mode_conductances`` at
  ``common_mode``) would, so the network learns to tolerate one-shot programming.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from hilctl.drivers import ConfigError

from .datasets import Dataset
from .model_files import MODEL_RANGES, TrainedModel
from .modes import MODES, CurrentMode, VoltageMode, current_mode_weights

DEFAULT_HIDDEN = {"digits": 32, "mnist5k": 128}
# g_lo / g_hi of the default device (1-40 uS) with a 10 % margin on each side.
# Called with (epochs done, epochs in all) after every epoch.
EpochHook = Callable[[int, int], None]
DEFAULT_G_RATIO = 1.1 / 36.0


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Voltages in V; ``g_ratio`` = g_lo / g_hi of the usable window.

    ``conductance_noise`` (relative) and ``stuck_fraction`` make training noise-aware; in
    current mode the error is drawn for a layout with ``common_mode`` (program with the same
    ``[weights] common_mode``). It slows learning: give it about twice the epochs.
    """

    mode: str = "voltage"
    hidden: tuple[int, ...] = (32,)
    epochs: int = 60
    seed: int = 0
    batch_size: int = 64
    learning_rate: float = 5e-3
    iv_aware: bool = False
    input_voltage_V: float = 0.2
    iv_v0_V: float = 0.3
    g_ratio: float = DEFAULT_G_RATIO
    conductance_noise: float = 0.0
    stuck_fraction: float = 0.0
    common_mode: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"--mode {self.mode!r}: expected voltage or current")
        if self.iv_aware and self.weight_mode.input_transfer(1.0, 1.0) is None:
            raise ConfigError("--iv-aware applies to voltage mode only: a current divider splits "
                              "each row's current in proportion to G whatever the shared I-V")
        if self.epochs < 1 or self.batch_size < 1 or not self.hidden or min(self.hidden) < 1:
            raise ConfigError("epochs, batch size and hidden sizes must be at least 1")
        if not 0 < self.g_ratio < 1:
            raise ConfigError(f"g_ratio = {self.g_ratio!r}: expected 0 < g_lo/g_hi < 1")
        if not (0 <= self.conductance_noise < 1 and 0 <= self.stuck_fraction < 1
                and 0 <= self.common_mode <= 1):
            raise ConfigError("conductance noise and stuck fraction must be in [0, 1), the "
                              "common mode in [0, 1]")
        for name, flag in (("input_voltage_V", "--read-voltage"), ("iv_v0_V", "--iv-v0")):
            low, high = MODEL_RANGES[name]
            if not low < getattr(self, name) <= high:
                raise ConfigError(f"{flag} = {getattr(self, name):g} V: expected more than "
                                  f"{low:g} V and at most {high:g} V")

    @property
    def weight_mode(self) -> VoltageMode | CurrentMode:
        return MODES[self.mode]


class CrossbarMLP(nn.Module):
    """The network in the chosen mode; ``layer_weights`` gives the effective weights.

    A voltage-mode network learns its weights directly (the layer scale maps any of them to
    conductances); a current-mode one learns its conductances, squashed into the window, and a
    periphery gain per layer, because the divider couples the weights of a row.
    """

    def __init__(self, sizes: tuple[int, ...], config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self.mode = config.weight_mode
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        if not self.mode.learns_gain:
            self.w = nn.ParameterList(
                [nn.Parameter(_uniform((a + 1, b), a ** -0.5)) for a, b in pairs])
        else:
            self.theta_plus = nn.ParameterList(
                [nn.Parameter(-3.0 + 0.5 * torch.randn(a + 1, b)) for a, b in pairs])
            self.theta_minus = nn.ParameterList(
                [nn.Parameter(-3.0 + 0.5 * torch.randn(a + 1, b)) for a, b in pairs])
            self.log_gain = nn.Parameter(torch.zeros(len(pairs)))

    def conductances(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer k's (G+, G-) in units of g_hi (current mode)."""
        r = self.config.g_ratio
        return (r + (1 - r) * torch.sigmoid(self.theta_plus[k]),
                r + (1 - r) * torch.sigmoid(self.theta_minus[k]))

    def layer_weights(self) -> list[torch.Tensor]:
        if not self.mode.learns_gain:
            weights = list(self.w)
        else:
            weights = [current_mode_weights(*self.conductances(k))
                       for k in range(len(self.theta_plus))]
        if self.training and (self.config.conductance_noise or self.config.stuck_fraction):
            return [w + self._programming_error(w) for w in weights]
        return weights

    def _programming_error(self, w: torch.Tensor) -> torch.Tensor:
        """A draw of the weight error the programmed layout (window [g_ratio, 1], no ballast)
        would carry: a relative error ``conductance_noise`` on every device, and a fraction
        ``stuck_fraction`` of devices stuck, half at each end of the window."""
        c = self.config
        weights = w.detach().double().numpy()
        scale = self.mode.layer_scale(weights, c.g_ratio, 1.0)
        g_plus, g_minus, _ = self.mode.conductances(weights, c.g_ratio, 1.0, scale=scale,
                                                    common_mode=c.common_mode, rescale=True)
        g = torch.as_tensor(np.stack([g_plus, g_minus]), dtype=w.dtype)
        got = g * (1 + c.conductance_noise * torch.randn_like(g))
        if c.stuck_fraction:
            stuck = torch.rand_like(g) < c.stuck_fraction
            ends = torch.where(torch.rand_like(g) < 0.5, c.g_ratio, 1.0)
            got = torch.where(stuck, ends, got)
        return self.mode.weights(got[0], got[1], scale=scale) - w.detach()

    def gains(self) -> torch.Tensor:
        if not self.mode.learns_gain:
            return torch.ones(len(self.w))
        return torch.exp(self.log_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        transfer = self.mode.input_transfer(c.input_voltage_V, c.iv_v0_V) if c.iv_aware else None
        return forward_torch(self.layer_weights(), self.gains(), x, transfer)


def forward_torch(weights, gains, x: torch.Tensor, transfer=None) -> torch.Tensor:
    """Logits: per layer z = gain * ([f(a), 1] @ w), clipped ReLU between layers."""
    a = x
    for k, w in enumerate(weights):
        a_in = transfer(a) if transfer is not None else a
        ones = torch.ones(a.shape[0], 1, dtype=a.dtype)
        z = gains[k] * (torch.cat([a_in, ones], dim=1) @ w)
        a = z if k == len(weights) - 1 else torch.clamp(z, 0.0, 1.0)
    return a


def train_model(config: TrainConfig, data: Dataset,
                on_epoch: EpochHook | None = None) -> TrainedModel:
    """Train on ``data`` (seeded, CPU) and return the model with its software test accuracy.

    Runs on one thread: these small matrices gain nothing from more, and lose several-fold
    when the cores are shared. ``on_epoch(done, total)`` is called after every epoch (a
    progress bar).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(config, data, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _train(config: TrainConfig, data: Dataset, on_epoch: EpochHook | None) -> TrainedModel:
    torch.manual_seed(config.seed)
    sizes = (data.n_features, *config.hidden, data.n_classes)
    net = CrossbarMLP(sizes, config)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    if net.mode.learns_gain:
        _calibrate_gains(net, x[:512])
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.epochs)
    generator = torch.Generator().manual_seed(config.seed)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        for batch in torch.randperm(len(y), generator=generator).split(config.batch_size):
            optimiser.zero_grad()
            loss_fn(net(x[batch]), y[batch]).backward()
            optimiser.step()
        schedule.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, config.epochs)
    return _to_model(net, sizes, config, data)


def accuracy_torch(net: CrossbarMLP, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        logits = net(torch.as_tensor(x, dtype=torch.float32))
    return float((logits.argmax(1).numpy() == y).mean())


def _calibrate_gains(net: CrossbarMLP, x: torch.Tensor) -> None:
    """Start each current-mode gain so that the layer's pre-activations have unit spread."""
    net.eval()
    with torch.no_grad():
        a = x
        for k, w in enumerate(net.layer_weights()):
            z = torch.cat([a, torch.ones(a.shape[0], 1)], dim=1) @ w
            net.log_gain[k] = -torch.log(z.std() + 1e-12)
            a = torch.clamp(z * torch.exp(net.log_gain[k]), 0.0, 1.0)
    net.train()


def _to_model(net: CrossbarMLP, sizes, config: TrainConfig, data: Dataset) -> TrainedModel:
    net.eval()  # the weights as trained, without a draw of programming noise
    with torch.no_grad():
        weights = [w.detach().double().numpy().copy() for w in net.layer_weights()]
        gains = [float(g) for g in net.gains()]
    settings = asdict(config)
    return TrainedModel(
        mode=config.mode, layer_sizes=sizes, weights=weights, gains=gains, dataset=data.name,
        input_voltage_V=config.input_voltage_V, iv_v0_V=config.iv_v0_V,
        iv_aware=config.iv_aware, g_ratio=config.g_ratio,
        accuracy_software=accuracy_torch(net, data.x_test, data.y_test),
        training={k: settings[k] for k in ("epochs", "seed", "batch_size", "learning_rate",
                                           "conductance_noise", "stuck_fraction", "common_mode")},
    )


def _uniform(shape: tuple[int, int], bound: float) -> torch.Tensor:
    return (torch.rand(shape) * 2 - 1) * bound
