"""A trained crossbar network on disk: ``weights.npz`` (arrays) + ``model.json`` (everything else).

Never pickled: the npz is read with ``allow_pickle=False`` and the JSON names the mode, the
layer sizes, the I-V settings and the format version, so a file from another mode or layout is
refused with one clear message instead of running the wrong network.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hilctl.drivers import DataError
from hilctl.drivers.atomic_file import check_output_directory, write_atomic
from hilctl.drivers.checksums import save_npz, verify
from hilctl.drivers.input_files import load_npz

from .modes import CurrentMode, VoltageMode, weight_mode
from .spiking_spec import SpikingSpec

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.npz"
META_FILE = "model.json"


# Settings a model file may hold, as (exclusive low, inclusive high): the read voltage stays
# within the read limit any config allows (1 V; above it inference would reprogram the
# devices), V0 is a positive voltage of the same order, g_ratio a fraction of the window.
MODEL_RANGES = {"input_voltage_V": (0.0, 1.0), "iv_v0_V": (0.0, 10.0), "g_ratio": (0.0, 1.0)}


@dataclass
class TrainedModel:
    """A trained MLP as the crossbar computes it.

    Parameters
    ----------
    mode : {"voltage", "current"}
    layer_sizes : tuple of int
        Inputs, hidden sizes, outputs, e.g. (64, 32, 10).
    weights : list of ndarray
        Per layer the augmented matrix (n_in + 1, n_out); the last row is the bias, driven by an
        always-on full-scale input row. In current mode every row obeys the divider's row bound.
    gains : list of float
        Per layer the gain of the column periphery (1 in voltage mode, where the scale lives in
        the weights; the learnt amplifier gain in current mode).
    dataset : str
    input_voltage_V : float
        Full-scale input (and read) voltage in V at which the array computes.
    iv_v0_V : float
        V0 of the device I-V I = G V0 sinh(V / V0), in V.
    iv_aware : bool
        Trained with the nonlinear I-V in its forward pass.
    g_ratio : float
        g_lo / g_hi of the conductance window the network was trained for (current mode).
    accuracy_software : float
        Test accuracy of this network in software (the same forward pass it was trained with).
    spiking : dict or None
        For a spiking network (MIF neurons, ``hilctl.weights.spiking``): its ``SpikingSpec``
        fields; None for an MLP.
    """

    mode: str
    layer_sizes: tuple[int, ...]
    weights: list[np.ndarray]
    gains: list[float]
    dataset: str
    input_voltage_V: float = 0.2
    iv_v0_V: float = 0.3
    iv_aware: bool = False
    g_ratio: float = 0.03
    accuracy_software: float = float("nan")
    training: dict = field(default_factory=dict)
    spiking: dict | None = None

    def __post_init__(self) -> None:
        self.layer_sizes = tuple(int(n) for n in self.layer_sizes)
        self.validate("model")

    def validate(self, where: str) -> None:
        """Raise ``DataError`` unless mode, shapes and values make one runnable network."""
        mode = weight_mode(self.mode, where)
        sizes = self.layer_sizes
        expected = [(a + 1, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        shapes = [tuple(np.shape(w)) for w in self.weights]
        if shapes != expected or len(self.gains) != len(expected):
            raise DataError(f"{where}: weight shapes {shapes} and {len(self.gains)} gains do not "
                            f"match layer sizes {self.layer_sizes} (expected {expected})")
        for k, w in enumerate(self.weights):
            if not np.isfinite(w).all():
                raise DataError(f"{where}: layer {k} holds {int((~np.isfinite(w)).sum())} "
                                "NaN or infinite weight(s)")
        if not all(math.isfinite(g) and g > 0 for g in self.gains):
            raise DataError(f"{where}: gains {self.gains} must be positive and finite")
        for name, (low, high) in MODEL_RANGES.items():
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and low < value <= high):
                raise DataError(f"{where}: {name} = {value!r}; expected a number in "
                                f"({low:g}, {high:g}]")
        mode.check_weights(self.weights, where)
        if self.spiking is not None:
            try:
                SpikingSpec(**self.spiking)
            except TypeError as exc:
                raise DataError(f"{where}: spiking settings are not a spiking spec "
                                f"({exc})") from None

    @property
    def kind(self) -> str:
        """"msnn" (fully memristive spiking network) or "mlp"."""
        return "mlp" if self.spiking is None else "msnn"

    @property
    def weight_mode(self) -> VoltageMode | CurrentMode:
        """The formulation the array computes this network in."""
        return weight_mode(self.mode)


def save_model(model: TrainedModel, directory: str | Path) -> Path:
    """Write ``weights.npz`` and ``model.json`` into ``directory`` (created if needed)."""
    out = check_output_directory(directory, META_FILE, "model")
    arrays = {f"layer{k}": np.asarray(w, dtype=np.float64) for k, w in enumerate(model.weights)}
    meta = {k: v for k, v in asdict(model).items() if k != "weights"}
    meta["layer_sizes"] = list(model.layer_sizes)
    meta["format_version"] = FORMAT_VERSION
    meta["weights_sha256"] = save_npz(out / WEIGHTS_FILE, arrays)
    write_atomic(out / META_FILE, json.dumps(meta, indent=2) + "\n")
    return out


def load_model(directory: str | Path, mode: str | None = None,
               layer_sizes: tuple[int, ...] | None = None) -> TrainedModel:
    """Read a model directory; ``mode``/``layer_sizes``, when given, must match the file."""
    path = Path(directory)
    meta = _read_meta(path)
    if (path / WEIGHTS_FILE).is_file():
        verify(path / WEIGHTS_FILE, meta.pop("weights_sha256", None), META_FILE)
    if not (path / WEIGHTS_FILE).exists():
        raise DataError(f"{path}: no {WEIGHTS_FILE}; is this a model directory?")
    names = [f"layer{k}" for k in range(len(meta["layer_sizes"]) - 1)]
    stored = load_npz(path / WEIGHTS_FILE, names, "model weights")
    weights = [stored[name] for name in names]
    try:
        model = TrainedModel(weights=weights, **{k: v for k, v in meta.items()
                                                 if k != "format_version"})
    except TypeError as exc:
        raise DataError(f"{path / META_FILE}: unexpected fields ({exc})") from None
    except DataError as exc:  # the values the file holds, named with the file
        raise DataError(f"{path / META_FILE}: {exc}") from None
    _expect(path, "mode", mode, model.mode)
    _expect(path, "layer sizes", layer_sizes and tuple(layer_sizes), model.layer_sizes)
    return model


# Widest layer a model file may name: far above any network an array holds, and small enough
# that the weight shapes it implies are checked before memory runs out.
MAX_LAYER_SIZE = 1_000_000


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads((path / META_FILE).read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no {META_FILE}; is this a model directory?") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path / META_FILE}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise DataError(f"{path / META_FILE}: format version {found!r}, "
                        f"expected {FORMAT_VERSION}")
    sizes = meta.get("layer_sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(type(n) is int and 0 < n <= MAX_LAYER_SIZE for n in sizes)):
        raise DataError(f"{path / META_FILE}: layer_sizes = {sizes!r}; expected a list of at "
                        f"least two whole numbers in 1..{MAX_LAYER_SIZE}")
    return meta


def _expect(path: Path, what: str, wanted, found) -> None:
    if wanted is not None and wanted != found:
        raise DataError(f"{path}: the model's {what} is {found!r}, expected {wanted!r}")
