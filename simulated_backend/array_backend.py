"""Where the simulator's arithmetic runs: numpy arrays (the default) or torch tensors.

    [array]
    backend = "torch"     # default "numpy"
    device = "cpu"        # or "cuda" (a CUDA build of torch and a GPU)

or ``SimulatedCrossbar(shape, arrays=TorchArrays("cuda"))`` from Python.

The physics is written once: each function asks ``ops(...)`` for the library of its arguments
(numpy itself, or torch under numpy's names for the few element-wise operations the physics
uses), so a population held as tensors runs the same arithmetic on torch. The
crossbar keeps its devices' states and parameters in the backend's arrays and hands numpy
arrays in and out at its interface. The devices are drawn by numpy either way, so a seed gives
the same devices on both backends; the switching and read noise of a torch array comes from a
torch generator seeded from the array's seed, so it is reproducible by seed but draws other
numbers than numpy. Given the same draws both backends agree within float32 rounding
(``tests/simulated_backend/test_torch_backend.py``).

Parametric presets of both cells (1R, 1T1R) run on torch; a measured-table device model and
parameter drift run on numpy only and are refused on torch with one line.
"""

from __future__ import annotations

import functools
import json

import numpy as np

from hilctl.drivers import ConfigError, DataError

BACKENDS = ("numpy", "torch")


def generator_state(rng: np.random.Generator) -> np.ndarray:
    """A numpy generator's position as bytes (a snapshot keeps arrays only)."""
    return np.frombuffer(json.dumps(rng.bit_generator.state).encode(), dtype=np.uint8).copy()


def set_generator_state(rng: np.random.Generator, state: np.ndarray) -> None:
    rng.bit_generator.state = json.loads(bytes(state).decode())


class NumpyArrays:
    """The default: the arrays the crossbar is handed are the arrays it computes on."""

    name = "numpy"
    noise_key = "noise_rng"  # where a snapshot keeps the noise stream's position

    def asarray(self, array: np.ndarray) -> np.ndarray:
        return array

    def to_numpy(self, array: np.ndarray) -> np.ndarray:
        return array

    def population(self, population):
        return population

    def noise(self, rng: np.random.Generator) -> np.random.Generator:
        return rng

    def noise_state(self, rng: np.random.Generator) -> np.ndarray:
        return generator_state(rng)

    def restore_noise(self, rng: np.random.Generator, state: np.ndarray) -> None:
        set_generator_state(rng, state)

    def check(self, model) -> None:
        """Every device model runs on numpy."""


class TorchArrays:
    """Device states, parameters and noise as torch tensors on ``device``."""

    name = "torch"
    noise_key = "noise_torch"

    def __init__(self, device: str = "cpu") -> None:
        if device not in ("cpu", "cuda"):
            raise ConfigError(f"array.device = {device!r}: expected \"cpu\" or \"cuda\"")
        try:
            import torch
        except ImportError:
            raise ConfigError("array.backend = \"torch\": torch is not installed "
                              "(pip install torch, or use backend = \"numpy\")") from None
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("array.device = \"cuda\": this torch sees no CUDA GPU "
                              f"(torch {torch.__version__}); use device = \"cpu\"")
        self._torch = torch
        self.device = device

    def asarray(self, array: np.ndarray):
        return self._torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def to_numpy(self, tensor) -> np.ndarray:
        return tensor.cpu().numpy()

    def population(self, population):
        """A copy of ``population`` whose arrays are tensors (the numpy one stays what the
        oracle and the fits read)."""
        return None if population is None else population.converted(self.asarray)

    def noise(self, rng: np.random.Generator) -> TorchNoise:
        return TorchNoise(int(rng.integers(2 ** 63)), self.device)

    def noise_state(self, noise: TorchNoise) -> np.ndarray:
        return noise.state()

    def restore_noise(self, noise: TorchNoise, state: np.ndarray) -> None:
        noise.restore(state)

    def check(self, model) -> None:
        if model.population is None:
            raise ConfigError(f"array.backend = \"torch\": the {type(model).__name__} model "
                              "(a measured table) runs on numpy only; use backend = \"numpy\"")
        p = model.params
        if p.drift_per_cycle > 0 or p.drift_per_hour > 0:
            raise ConfigError("array.backend = \"torch\": parameter drift (device.drift_per_*) "
                              "runs on numpy only; use backend = \"numpy\"")


def arrays_for(backend: str, device: str = "cpu") -> NumpyArrays | TorchArrays:
    """The backend named in ``[array]``."""
    if backend == "numpy":
        if device != "cpu":
            raise ConfigError(f"array.device = {device!r}: the numpy backend runs on the CPU; "
                              "use backend = \"torch\" for a GPU")
        return NumpyArrays()
    if backend == "torch":
        return TorchArrays(device)
    raise ConfigError(f"array.backend = {backend!r}: expected one of {', '.join(BACKENDS)}")


class TorchNoise:
    """A torch generator in the role of the crossbar's numpy noise stream."""

    def __init__(self, seed: int, device: str) -> None:
        import torch
        self._torch = torch
        self.device = device
        self.generator = torch.Generator(device)
        self.generator.manual_seed(seed)

    def normals(self, count: int, n: int):
        return self._torch.randn((count, n), generator=self.generator,
                                 dtype=self._torch.float32, device=self.device)

    def state(self) -> np.ndarray:
        return self.generator.get_state().numpy().copy()

    def restore(self, state: np.ndarray) -> None:
        try:
            self.generator.set_state(self._torch.from_numpy(np.asarray(state, np.uint8)))
        except RuntimeError as exc:
            raise DataError(f"the snapshot's torch noise state does not fit this generator "
                            f"({exc})") from None


class _TorchOps:
    """torch under numpy's names, for the element-wise operations the physics uses."""

    def __init__(self) -> None:
        import torch
        self._torch = torch
        self.exp, self.expm1, self.abs = torch.exp, torch.expm1, torch.abs
        self.take, self.copy = torch.take, torch.clone

    def _pair(self, extreme, clamp, a, b):
        if isinstance(a, self._torch.Tensor) and isinstance(b, self._torch.Tensor):
            return extreme(a, b)
        return clamp(a, b) if isinstance(a, self._torch.Tensor) else clamp(b, a)

    def maximum(self, a, b):
        return self._pair(self._torch.maximum, self._torch.clamp_min, a, b)

    def minimum(self, a, b):
        return self._pair(self._torch.minimum, self._torch.clamp_max, a, b)

    def clip(self, a, low, high):
        return self._torch.clamp(a, low, high)

    def where(self, condition, a, b):
        return self._torch.where(condition, a, b)


@functools.cache
def _torch_ops() -> _TorchOps:
    return _TorchOps()


def ops(*arrays):
    """numpy, or torch under numpy's names if any of ``arrays`` is a torch tensor."""
    if any(type(a).__module__ == "torch" for a in arrays):
        return _torch_ops()
    return np
