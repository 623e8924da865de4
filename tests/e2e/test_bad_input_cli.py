"""Crafted input files end in one clear line and a non-zero exit, never a traceback, a hang, a
false "interrupted" or silently accepted garbage."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hilctl.weights.model_files import TrainedModel, save_model
from tests.e2e.cli import assert_one_line_error, hilctl_env, run_hilctl
from tests.simulated_backend.one_t_one_r_table import one_t_one_r_table

ONE_R = '[array]\nrows = 4\ncols = 4\npreset = "hfox-1r"\n'
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crosssim"


def _huge_npy_header() -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    return header.getvalue() + bytes(16)


def _program(cwd: Path, *args) -> subprocess.CompletedProcess:
    (cwd / "one_r.toml").write_text(ONE_R)
    return run_hilctl("program", "--config", "one_r.toml", "--out", "run", "--quiet", *args,
                      cwd=cwd)


def test_an_npy_header_promising_a_terabyte_is_refused_before_allocating(tmp_path):
    (tmp_path / "t.npy").write_bytes(_huge_npy_header())
    done = _program(tmp_path, "--targets", "t.npy")
    assert_one_line_error(done, "t.npy", "(1099511627776,)", "holds 144 bytes")


def test_an_npz_member_promising_a_terabyte_is_refused_before_allocating(tmp_path):
    with zipfile.ZipFile(tmp_path / "b.npz", "w") as archive:
        archive.writestr("lower_S.npy", _huge_npy_header())
        archive.writestr("upper_S.npy", _huge_npy_header())
    done = _program(tmp_path, "--bounds", "b.npz")
    assert_one_line_error(done, "b.npz:lower_S", "(1099511627776,)")


def test_complex_targets_are_refused_not_cut_to_their_real_part(tmp_path):
    np.save(tmp_path / "t.npy", np.full((4, 4), 20e-6 + 1e-6j))
    assert_one_line_error(_program(tmp_path, "--targets", "t.npy"), "real numbers", "complex")


def test_a_fifo_as_input_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "t.npy")
    done = _program(tmp_path, "--targets", "t.npy")
    assert_one_line_error(done, "t.npy", "not a regular file")
    os.mkfifo(tmp_path / "table.csv")
    done = run_hilctl("device", "fit", "--data", "table.csv", "--out", "fit.toml",
                      cwd=tmp_path, timeout=60)
    assert_one_line_error(done, "table.csv", "not a regular file")


def _model(cwd: Path, **meta_changes) -> Path:
    sizes = (4, 3, 2)
    weights = [np.full((a + 1, b), 0.1) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    path = save_model(TrainedModel("voltage", sizes, weights, [1.0, 1.0], "digits"),
                      cwd / "model")
    meta = json.loads((path / "model.json").read_text())
    (path / "model.json").write_text(json.dumps({**meta, **meta_changes}))
    return path


@pytest.mark.parametrize("change, words", [
    ({"layer_sizes": ["a", "b", "c"]}, "layer_sizes = ['a', 'b', 'c']"),
    ({"input_voltage_V": 50}, "input_voltage_V = 50"),
    ({"iv_v0_V": 0}, "iv_v0_V = 0"),
])
def test_a_model_file_with_impossible_settings_is_refused(tmp_path, change, words):
    _model(tmp_path, **change)
    (tmp_path / "c.toml").write_text('[array]\nrows = 8\ncols = 8\npreset = "hfox-1r"\n')
    done = run_hilctl("program", "--config", "c.toml", "--weights", "model", "--out", "run",
                      cwd=tmp_path)
    assert_one_line_error(done, "model.json", words)
    assert not (tmp_path / "run").exists()


def test_an_empty_weights_file_is_an_error_not_an_interruption(tmp_path):
    model = _model(tmp_path)
    meta = json.loads((model / "model.json").read_text())
    del meta["weights_sha256"]
    (model / "model.json").write_text(json.dumps(meta))
    (model / "weights.npz").write_bytes(b"")
    done = run_hilctl("program", "--weights", "model", "--out", "run", cwd=tmp_path)
    line = assert_one_line_error(done, "weights.npz")
    assert "interrupted" not in line and done.returncode != 130


def _idx(images: int) -> bytes:
    return (0x00000803).to_bytes(4, "big") + b"".join(
        n.to_bytes(4, "big") for n in (images, 28, 28)) + bytes(images * 28 * 28)


def _labels(items: int) -> bytes:
    return (0x00000801).to_bytes(4, "big") + items.to_bytes(4, "big") + bytes(items)


@pytest.mark.parametrize("images, words", [
    (lambda: b"\x1f\x8b\x08\x00garbage-that-is-no-deflate-stream", "corrupt or truncated"),
    (lambda: gzip.compress(_idx(10))[:40], "corrupt or truncated"),
    (lambda: gzip.compress(_idx(0)), "holds no items"),
])
def test_a_broken_idx_dataset_is_one_line(tmp_path, images, words):
    data = tmp_path / "mnist"
    data.mkdir()
    (data / "train-images-idx3-ubyte.gz").write_bytes(images())
    (data / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_labels(10)))
    done = run_hilctl("train", "--dataset", "mnist", "--out", "model", cwd=tmp_path)
    line = assert_one_line_error(done, "train-images-idx3-ubyte.gz", words)
    assert "interrupted" not in line


def test_read_currents_of_1e300_amperes_are_refused(tmp_path):
    lines = (FIXTURES / "set_sample.csv").read_text().splitlines()
    lines[3] = ",".join(["1e300"] * len(lines[3].split(",")))
    (tmp_path / "huge.csv").write_text("\n".join(lines) + "\n")
    done = run_hilctl("data", "import", "huge.csv", "--layout", "pulse-train", "--polarity",
                      "SET", "--measure", "current", "--measure-unit", "A", "--read-voltage",
                      "0.1V", "--amplitude", "1.2V", "--width", "100ns", "--out", "t.csv",
                      cwd=tmp_path)
    assert_one_line_error(done, "g_", "[1e-15, 1] S")
    assert not (tmp_path / "t.csv").exists()


def _patched(cwd: Path, patch: str, *args: str) -> subprocess.CompletedProcess:
    """hilctl in a subprocess with ``patch`` applied first (a full disk, a small machine)."""
    script = f"import sys\n{patch}\nfrom hilctl.cli import main\nmain(sys.argv[1:])\n"
    return subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, env=hilctl_env(),
                          text=True, capture_output=True, timeout=120)


def test_an_array_that_cannot_fit_in_memory_is_refused_up_front(tmp_path):
    done = _patched(tmp_path, "import hilctl.assemble as a\n"
                              "a.available_memory = lambda: 2**30",
                    "program", "--rows", "2048", "--cols", "2048", "--out", "run")
    assert_one_line_error(done, "4194304 cells", "2.5 GiB", "1.0 GiB available")
    assert not (tmp_path / "run").exists()


def test_a_run_whose_store_cannot_fit_on_the_disk_is_refused_up_front(tmp_path):
    done = _patched(tmp_path, "import shutil\n"
                              "shutil.disk_usage = lambda path: shutil._ntuple_diskusage("
                              "2**40, 2**40 - 2**20, 2**20)",
                    "program", "--rows", "256", "--cols", "256", "--out", "run")
    assert_one_line_error(done, "65536 cells", "GiB of disk", "B per cell, measured",
                          "0.0 GiB free")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("patch", [
    # a result file on a full disk
    "import errno, hilctl.run.runner as r\n"
    "def full(path, data):\n"
    "    raise OSError(errno.ENOSPC, 'No space left on device', str(path))\n"
    "r.write_atomic = full",
    # the run store on a full disk, and the rollback after it failing too
    "import sqlite3, hilctl.run.store as s\n"
    "def full(*args, **kwargs):\n"
    "    try:\n"
    "        raise sqlite3.OperationalError('database or disk is full')\n"
    "    except sqlite3.OperationalError:\n"
    "        raise sqlite3.OperationalError('cannot rollback - no transaction is active')\n"
    "s.RunStore.write = full",
])
def test_a_full_disk_is_one_line(tmp_path, patch):
    (tmp_path / "one_r.toml").write_text(ONE_R)
    done = _patched(tmp_path, patch, "program", "--config", "one_r.toml", "--out", "run",
                    "--quiet")
    assert_one_line_error(done, "no space left on the device")


@pytest.mark.slow
def test_ctrl_c_names_the_command_that_resumes(tmp_path):
    # Ctrl-C arrives while the third round is being stored
    done = _patched(tmp_path, "import hilctl.run.store as s\n"
                              "write, calls = s.RunStore.write, []\n"
                              "def stop(self, row):\n"
                              "    calls.append(row)\n"
                              "    if len(calls) == 3:\n"
                              "        raise KeyboardInterrupt\n"
                              "    write(self, row)\n"
                              "s.RunStore.write = stop",
                    "program", "--rows", "8", "--cols", "8", "--out", "run", "--quiet")
    line = assert_one_line_error(done, "interrupted; outputs are off",
                                 "hilctl program --resume run")
    assert done.returncode == 130, line
    resumed = run_hilctl("program", "--resume", "run", "--quiet", cwd=tmp_path)
    assert resumed.returncode in (0, 3), resumed.stderr


def test_an_input_ending_early_anywhere_is_not_taken_for_ctrl_c(tmp_path):
    done = _patched(tmp_path, "import hilctl.api.runs as p\n"
                              "def short(config):\n"
                              "    raise EOFError('No data left in file')\n"
                              "p.targets_for = short",
                    "program", "--rows", "4", "--cols", "4", "--out", "run")
    line = assert_one_line_error(done, "ended early")
    assert "interrupted" not in line and done.returncode == 3


@pytest.mark.parametrize("array, words", [
    ('backend = "torch"\ndevice = "cuda"\n', ("array.device", "CUDA")),
    ('backend = "torch"\nempirical_table = "t.csv"\n', ("numpy only",)),
    ('backend = "jax"\n', ("array.backend", "'numpy' or 'torch'")),
])
def test_an_array_backend_that_cannot_run_is_one_line_and_makes_nothing(tmp_path, array,
                                                                       words):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() and "cuda" in array:
        pytest.skip("this machine has a CUDA GPU")
    one_t_one_r_table(shape=(8, 8), cycles=2).write_csv(tmp_path / "t.csv")
    (tmp_path / "c.toml").write_text(f"[array]\nrows = 4\ncols = 4\n{array}")
    done = run_hilctl("program", "--config", "c.toml", "--out", "run", cwd=tmp_path)
    assert_one_line_error(done, *words)
    assert not (tmp_path / "run").exists()
