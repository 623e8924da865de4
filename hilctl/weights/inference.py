"""Run a trained network with the conductances an array holds, and see what it costs.

Accuracy comes in three flavours side by side:

- software: the network as trained (its own forward pass);
- ideal: the conductance targets run through the array's physics (mode, device I-V at the
  model's input voltage) — mapping and I-V loss only;
- measured: the conductances the run read back, through the same physics.

Everything is vectorised numpy (float32): 10,000 MNIST-sized images take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers import DataError
from hilctl.drivers.input_files import load_npy

from .datasets import Dataset
from .interface_presets import ReadCostSettings, read_cost_settings
from .layout import Layout
from .model_files import TrainedModel, load_model
from .read_cost import ColumnReadout, read_path


def forward(weights: list[np.ndarray], gains: list[float], x: np.ndarray,
            transfer=None, product=None, inputs: list | None = None) -> np.ndarray:
    """Logits: per layer z = gain * ([f(a), 1] @ w), clipped ReLU between layers.

    ``product(k, a)``, when given, computes layer k's [f(a), 1] @ w its own way (the read
    path's converters, ``read_cost.ColumnReadout``); ``inputs`` collects each layer's input.
    """
    a = np.asarray(x, dtype=np.float32)
    for k, w in enumerate(weights):
        if inputs is not None:
            inputs.append(a)
        if product is None:
            a_in = transfer(a) if transfer is not None else a
            y = a_in @ w[:-1].astype(np.float32) + w[-1].astype(np.float32)
        else:
            y = product(k, a)
        z = gains[k] * y
        a = z if k == len(weights) - 1 else np.clip(z, 0.0, 1.0)
    return a


def array_transfer(model: TrainedModel):
    """The input nonlinearity the array imposes: the device I-V in voltage mode; none in
    current mode, where a row's current divides in proportion to G whatever the shared I-V."""
    if model.spiking is not None:  # membrane voltages drive the rows well inside the ohmic range
        return None
    transfer = model.weight_mode.input_transfer(model.input_voltage_V, model.iv_v0_V)
    return None if transfer is None else (lambda a: transfer(a).astype(np.float32))


def accuracy(model: TrainedModel, weights: list[np.ndarray], data: Dataset,
             transfer=None) -> float:
    """Test accuracy of ``model``'s gains with ``weights``."""
    if model.spiking is not None:  # torch only for spiking networks
        from .spiking import spiking_logits
        from .spiking_spec import SpikingSpec

        logits = spiking_logits(weights, model.gains, data.x_test, SpikingSpec(**model.spiking))
    else:
        logits = forward(weights, model.gains, data.x_test, transfer)
    return float((logits.argmax(axis=1) == data.y_test).mean())


def software_accuracy(model: TrainedModel, data: Dataset) -> float:
    """The network as trained: with the I-V only if it was trained I-V aware."""
    return accuracy(model, model.weights, data, array_transfer(model) if model.iv_aware else None)


def array_accuracy(model: TrainedModel, layout: Layout, conductance: np.ndarray,
                   data: Dataset) -> float:
    """The network computed by an array holding ``conductance`` (n_arrays, rows, cols) in S."""
    weights = layout.conductances_to_layers(conductance)
    return accuracy(model, weights, data, array_transfer(model))


def weight_errors(model: TrainedModel, layout: Layout, conductance: np.ndarray) -> list[dict]:
    """Per layer: RMS and largest weight error, and the RMS relative to the weights' RMS."""
    errors = []
    for k, (got, want) in enumerate(zip(layout.conductances_to_layers(conductance),
                                        model.weights, strict=True)):
        diff = got - want
        rms = float(np.sqrt(np.mean(diff**2)))
        errors.append({"layer": k, "shape": list(want.shape), "rms_error": rms,
                       "relative_rms_error": rms / float(np.sqrt(np.mean(want**2))),
                       "max_abs_error": float(np.abs(diff).max())})
    return errors


def inject_stuck(conductance: np.ndarray, used: np.ndarray, fraction: float,
                 stuck_range: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A copy with a further ``fraction`` of the ``used`` cells stuck, half at G_min, half at
    G_max (S), chosen by ``rng``."""
    if not 0.0 <= fraction <= 1.0:
        raise DataError(f"defect fraction {fraction!r}: expected a value in [0, 1]")
    out = np.array(conductance, dtype=np.float64)
    cells = np.flatnonzero(used.ravel())
    hit = rng.choice(cells, size=int(round(fraction * cells.size)), replace=False)
    half = hit.size // 2
    flat = out.reshape(-1)
    flat[hit[:half]] = stuck_range[0]
    flat[hit[half:]] = stuck_range[1]
    return out


def defect_sweep(model: TrainedModel, layout: Layout, conductance: np.ndarray, data: Dataset,
                 fractions: list[float], seed: int = 0, trials: int = 3) -> list[dict]:
    """Accuracy (mean, min, max over ``trials`` seeded draws) per stuck fraction."""
    used = layout.used_mask()
    rows = []
    for p in fractions:
        rng = np.random.default_rng([seed, int(round(p * 1e6))])
        accs = [array_accuracy(model, layout,
                               inject_stuck(conductance, used, p, layout.stuck_range_S, rng), data)
                for _ in range(trials if p > 0 else 1)]
        rows.append({"fraction": float(p), "accuracy": float(np.mean(accs)),
                     "accuracy_min": float(np.min(accs)), "accuracy_max": float(np.max(accs)),
                     "trials": len(accs)})
    return rows


@dataclass
class RunWeights:
    """What a weights run left behind: the model, its layout, the targets and the last reads."""

    model: TrainedModel
    layout: Layout
    targets: np.ndarray
    conductance: np.ndarray
    true_conductance: np.ndarray | None = None


def load_run(run_dir: str | Path) -> RunWeights:
    """Read ``layout.json``, ``targets.npy``, ``conductance.npy`` and ``model/`` from a run."""
    path = Path(run_dir)
    if not path.is_dir():
        raise DataError(f"run directory {path} does not exist")
    if not (path / "layout.json").is_file():
        raise DataError(f"run directory {path} holds no weights (no layout.json): program a "
                        "model with hilctl program --weights first")
    targets = _load_array(path / "targets.npy")
    layout = Layout.from_json((path / "layout.json").read_text(), targets)
    model = load_model(path / "model")
    layout.check_model(model)
    conductance = _load_array(path / "conductance.npy")
    layout.conductances_to_layers(conductance)  # shape and completeness check
    truth = None
    if (path / "true_conductance.npy").is_file():  # a simulated run also knows the truth
        truth = _load_array(path / "true_conductance.npy")
    return RunWeights(model, layout, targets, conductance, truth)


def evaluate(run: RunWeights, data: Dataset) -> dict:
    """The accuracy report of a run: software, ideal targets, measured; per-layer errors.

    A simulated run that stored ``true_conductance.npy`` also gets ``accuracy_true``: what the
    devices really hold, beside what the noisy verify reads said.
    """
    model = run.model
    if data.n_features != model.layer_sizes[0]:
        raise DataError(f"dataset {data.name} has {data.n_features} features; the model "
                        f"expects {model.layer_sizes[0]} (it was trained on {model.dataset})")
    report = {
        "dataset": data.name,
        "mode": model.mode,
        "model_kind": model.kind,
        "iv_aware": model.iv_aware,
        "input_voltage_V": model.input_voltage_V,
        "test_samples": int(data.y_test.size),
        "accuracy_software": software_accuracy(model, data),
        "accuracy_ideal": array_accuracy(model, run.layout, run.targets, data),
        "accuracy_measured": array_accuracy(model, run.layout, run.conductance, data),
        "layers": weight_errors(model, run.layout, run.conductance),
        "layout": {"description": run.layout.describe(), "n_arrays": run.layout.n_arrays,
                   "tiled_layers": run.layout.tiled_layers(),
                   "rescaled_rows": len(run.layout.rescaled_rows)},
    }
    if run.true_conductance is not None:
        report["accuracy_true"] = array_accuracy(model, run.layout, run.true_conductance, data)
    return report


def read_cost_report(run: RunWeights, data: Dataset, settings: ReadCostSettings) -> dict:
    """Accuracy and energy per inference of the measured network through the read path that
    ``settings`` describe (read level, converter bits, clipping), in the run's mode."""
    model = run.model
    if model.spiking is not None:
        raise DataError("the read-path cost model covers feed-forward networks; a spiking "
                        "network reads its arrays at every time step, which it does not model")
    readout = ColumnReadout(read_path(model.mode, settings, model), run.layout, run.conductance)
    inputs: list[np.ndarray] = []
    # the model's weights only give the layer count: the readout computes every product
    logits = forward(model.weights, model.gains, data.x_test, product=readout.product,
                     inputs=inputs)
    report = readout.cost(inputs)
    report["accuracy"] = float((logits.argmax(axis=1) == data.y_test).mean())
    return report


def read_cost_sweep(run: RunWeights, data: Dataset, settings: ReadCostSettings,
                    levels: list[float], bits: list[int]) -> list[dict]:
    """``read_cost_report`` over read levels (V in voltage mode, A of row current in current
    mode) and converter bits."""
    key = read_path(run.model.mode, settings, run.model).level_key
    table = settings.model_dump()
    return [read_cost_report(run, data, read_cost_settings({**table, key: lv, "adc_bits": b}))
            for lv in levels for b in bits]


def _load_array(path: Path) -> np.ndarray:
    return load_npy(path, "run file (a numpy array)")
