"""``hilctl.train``: a network for a crossbar, saved for ``hilctl.program(weights=...)``.

    model = hilctl.train("model", dataset="digits", mode="voltage", hidden=8, epochs=10)
    run = hilctl.program("sim://?rows=32&cols=32", weights=model)

The ``hilctl train`` command is ``training_report``, the same work with its summary. torch is
imported only when a network trains.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..config import merge
from ..report.progress import epoch_progress
from .parameters import SettingError, configure

KINDS = ("mlp", "msnn")
MODES = ("voltage", "current")


def train(out: str | Path, dataset: str = "digits", mode: str = "voltage",
          hidden: int | None = None, epochs: int | None = None, seed: int = 0,
          iv_aware: bool = False, **options) -> Path:
    """Train a network (``mode`` ``"voltage"`` or ``"current"``) on ``dataset`` (digits,
    mnist5k, or a directory of MNIST idx files) and save it to ``out``; the path to pass as
    ``weights=`` to ``hilctl.program``. ``options``: those of ``training_report``."""
    return Path(training_report(out, dataset=dataset, mode=mode, hidden=hidden, epochs=epochs,
                                seed=seed, iv_aware=iv_aware, **options)["model"])


def training_report(out: str | Path, *, kind: str = "mlp", dataset: str = "digits",
                    mode: str = "voltage", hidden: int | None = None,
                    epochs: int | None = None, seed: int = 0, iv_aware: bool = False,
                    read_voltage: float = 0.2, iv_v0: float | None = None,
                    conductance_noise: float = 0.0, stuck_fraction: float = 0.0,
                    preset: str | None = None, steps: int = 40, encoding: str = "alpha-dc",
                    readout: str = "mean", progress: bool = False) -> dict:
    """Train and save a network; what ``hilctl train --json`` prints.

    ``kind``: ``"mlp"`` (clipped-ReLU) or ``"msnn"`` (memristive integrate-and-fire neurons,
    voltage-mode synapses; ``steps``, ``encoding``, ``readout``). ``read_voltage`` (V): the
    full-scale input. ``iv_v0`` (V): the device I-V's V0 [the default preset's].
    ``conductance_noise``, ``stuck_fraction``: train against that relative device error and
    share of stuck devices. ``preset``: the device whose write-verify window an mlp is trained
    for [the default preset]. ``hidden`` [32 for digits, 128 for mnist5k; 64 for msnn],
    ``epochs`` [60 for mlp, 10 for msnn].
    """
    from ..weights.datasets import load_dataset
    from ..weights.model_files import save_model

    _check_choice("kind", kind, KINDS)
    _check_choice("mode", mode, MODES)
    data = load_dataset(dataset)
    started = time.perf_counter()
    if kind == "msnn":
        if mode != "voltage" or iv_aware or conductance_noise or stuck_fraction:
            raise SettingError("kind", kind, "trains voltage-mode synapses only, with neither "
                               "I-V-aware, conductance-noise nor stuck-device training")
        with epoch_progress("training a spiking network", progress) as on_epoch:
            model = _train_msnn(data, steps, encoding, readout, hidden, epochs or 10, seed,
                                on_epoch)
    else:
        from ..assemble import Job
        from ..weights.job import window_of

        given = {"array": {"preset": preset}}
        g_lo, g_hi = window_of(Job(configure(merge({}, given), given, "hilctl.train()")))
        with epoch_progress(f"training a {mode}-mode network", progress) as on_epoch:
            model = _train_mlp(data, dataset, mode, iv_aware, read_voltage, iv_v0,
                               conductance_noise, stuck_fraction, hidden, epochs or 60, seed,
                               g_lo / g_hi, on_epoch)
    save_model(model, out)
    return {"model": str(out), "kind": model.kind, "dataset": model.dataset, "mode": mode,
            "layer_sizes": list(model.layer_sizes), "iv_aware": iv_aware,
            "input_voltage_V": read_voltage, "iv_v0_V": model.iv_v0_V,
            "accuracy_software": model.accuracy_software,
            "test_samples": int(data.y_test.size),
            "train_seconds": round(time.perf_counter() - started, 2)}


def _check_choice(parameter: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingError(parameter, value, f"expected {' or '.join(choices)}")


def _train_mlp(data, dataset, mode, iv_aware, read_voltage, iv_v0, conductance_noise,
               stuck_fraction, hidden, epochs, seed, g_ratio, on_epoch):
    from hilctl.simulated_backend import DEFAULT_PRESET, preset

    from ..weights.network import DEFAULT_HIDDEN, TrainConfig, train_model  # torch: import late

    config = TrainConfig(mode=mode, hidden=(hidden or DEFAULT_HIDDEN.get(dataset, 64),),
                         epochs=epochs, seed=seed, iv_aware=iv_aware,
                         conductance_noise=conductance_noise, stuck_fraction=stuck_fraction,
                         input_voltage_V=read_voltage, g_ratio=g_ratio,
                         iv_v0_V=preset(DEFAULT_PRESET).iv_v0_V if iv_v0 is None else iv_v0)
    return train_model(config, data, on_epoch)


def _train_msnn(data, steps, encoding, readout, hidden, epochs, seed, on_epoch):
    from ..weights.spiking import SpikingTrainConfig, train_spiking  # torch: import late
    from ..weights.spiking_spec import SpikingSpec

    config = SpikingTrainConfig(spec=SpikingSpec(steps=steps, encoding=encoding,
                                                 readout=readout),
                                hidden=(hidden or 64,), epochs=epochs, seed=seed)
    return train_spiking(config, data, progress=None if on_epoch is None else (
        lambda epoch, loss: on_epoch(epoch, epochs)))
