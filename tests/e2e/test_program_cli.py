"""Whole ``hilctl program`` journeys, run as subprocesses."""

import hashlib
import json
import signal
import sqlite3
import subprocess
import time

import numpy as np
import pytest

from tests.e2e.cli import assert_one_line_error, hilctl_command, hilctl_env, run_hilctl, run_json

SUMMARY_KEYS = {"protocol", "cells", "success_rate", "pulses_mean", "pulses_median",
                "pulses_p95", "rounds", "program_time_s", "energy_J", "wall_s", "run_dir"}


ONE_R = '[array]\npreset = "hfox-1r"\n'  # tests of the 1R cells' protocols name their preset


def one_r_config(tmp_path) -> str:
    (tmp_path / "1r.toml").write_text(ONE_R)
    return "1r.toml"


def snapshot(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


def test_program_writes_a_complete_run_directory(tmp_path):
    summary = run_json("program", "--rows", 16, "--cols", 16, "--seed", 3, "--out", "run",
                       cwd=tmp_path)
    assert SUMMARY_KEYS <= summary.keys()
    # On the default (1T1R) preset, write-verify is the gate ramp, and the result says so.
    assert summary["protocol"] == "write-verify-wl" and summary["cells"] == 256
    assert summary["success_rate"] >= 0.95 and summary["energy_J"] > 0
    run = tmp_path / "run"
    for name in ("config.toml", "store.sqlite", "targets.npy", "conductance.npy",
                 "true_conductance.npy", "result.json", "error_map.png"):
        assert (run / name).is_file(), name
    stored = json.loads((run / "result.json").read_text())
    assert stored == summary
    conductance = np.load(run / "conductance.npy")
    targets = np.load(run / "targets.npy")
    assert conductance.shape == targets.shape == (16, 16)
    in_band = np.abs(conductance - targets) <= 0.05 * targets
    assert in_band.mean() == pytest.approx(summary["success_rate"])
    with sqlite3.connect(run / "store.sqlite") as db:
        rounds = [r[0] for r in db.execute("SELECT round FROM rounds ORDER BY round")]
    assert rounds == list(range(summary["rounds"] + 1))


@pytest.mark.parametrize("protocol", ["write-verify", "write-verify-adaptive"])
@pytest.mark.parametrize("pattern", ["checkerboard", "gradient"])
def test_patterns_and_protocols(tmp_path, protocol, pattern):
    summary = run_json("program", "--config", one_r_config(tmp_path), "--rows", 12, "--cols",
                       12, "--pattern", pattern,
                       "--protocol", protocol, "--tolerance", "5%", "--out", "run", cwd=tmp_path)
    assert summary["protocol"] == protocol and summary["success_rate"] >= 0.9
    targets = np.load(tmp_path / "run" / "targets.npy")
    assert len(np.unique(targets)) == (2 if pattern == "checkerboard" else 12)


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_targets_from_a_file_and_an_absolute_tolerance(tmp_path, suffix):
    targets = np.random.default_rng(0).uniform(8e-6, 30e-6, (8, 10))
    path = tmp_path / f"targets{suffix}"
    if suffix == ".npy":
        np.save(path, targets)
    else:
        np.savetxt(path, targets, delimiter=",")
    summary = run_json("program", "--config", one_r_config(tmp_path), "--rows", 8, "--cols",
                       10, "--targets", path.name,
                       "--tolerance", "0.5uS", "--out", "run", cwd=tmp_path)
    assert np.allclose(np.load(tmp_path / "run" / "targets.npy"), targets)
    assert "absolute" in summary["tolerance"] and summary["success_rate"] >= 0.9


def test_config_file_sets_protocol_and_device(tmp_path):
    (tmp_path / "run.toml").write_text(
        "[array]\nrows = 8\ncols = 8\n[device]\nstuck_fraction = 0.0\n"
        "[protocol]\nname = 'write-verify-adaptive'\ntolerance = 0.03\n")
    summary = run_json("program", "--config", "run.toml", "--out", "run", cwd=tmp_path)
    assert summary["protocol"] == "write-verify-adaptive"
    assert summary["tolerance"].startswith("0.03")
    assert "stuck_fraction = 0.0" in (tmp_path / "run" / "config.toml").read_text()


def write_bad_targets(tmp_path, kind):
    path = tmp_path / ("targets.csv" if kind == "text" else "targets.npy")
    good = np.full((8, 8), 10e-6)
    if kind == "nan":
        good[2, 3] = np.nan
        np.save(path, good)
    elif kind == "shape":
        np.save(path, np.full((4, 8), 10e-6))
    elif kind == "truncated":
        np.save(path, good)
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "range":
        good[1, 1] = 1e-3
        np.save(path, good)
    elif kind == "text":
        path.write_text("1e-5,abc\n")
    return path.name


@pytest.mark.parametrize("kind, words", [
    ("nan", ["NaN or infinite", "(2, 3)"]),
    ("shape", ["shape (4, 8)", "8x8"]),
    ("truncated", ["truncated"]),
    ("range", ["outside the reachable range", "(1, 1)"]),
    ("text", ["targets.csv"]),
])
def test_bad_targets_get_one_clear_line(tmp_path, kind, words):
    name = write_bad_targets(tmp_path, kind)
    done = run_hilctl("program", "--config", one_r_config(tmp_path), "--rows", 8, "--cols", 8,
                      "--targets", name, "--out", "run", cwd=tmp_path)
    assert_one_line_error(done, name, *words)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("toml, words", [
    ("[protocol]\ntolerence = 0.05\n", ["protocol.tolerence", "unknown key"]),
    ("[protocol]\ntolerance = -0.1\n", ["protocol.tolerance", "greater than 0"]),
    ("[device]\nset_rate = 1.0\n", ["device.set_rate", "unknown device parameter"]),
    ("[array\nrows = 3\n", ["not valid TOML"]),
    ("[protocol]\nname = 'write-verfy'\n", ["write-verfy", "known protocols"]),
    ("[protocol.ispp]\nset_max_V = 3.0\n", ["ispp.set_max_V"]),
])
def test_bad_config_gets_one_line_naming_the_key(tmp_path, toml, words):
    (tmp_path / "run.toml").write_text(toml + ONE_R)
    done = run_hilctl("program", "--config", "run.toml", "--out", "run", cwd=tmp_path)
    assert_one_line_error(done, *words)


def test_resume_refuses_non_runs_and_other_configs_without_touching_anything(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_hilctl("program", "--resume", "empty", cwd=tmp_path),
                          "not a run directory")
    run_json("program", "--rows", 8, "--cols", 8, "--out", "run", cwd=tmp_path)
    before = snapshot(tmp_path / "run")
    done = run_hilctl("program", "--resume", "run", "--tolerance", "0.02", cwd=tmp_path)
    assert_one_line_error(done, "different configuration", "protocol.tolerance")
    done = run_hilctl("program", "--rows", 8, "--cols", 8, "--out", "run", cwd=tmp_path)
    assert_one_line_error(done, "already holds a run")
    (tmp_path / "run" / "store.sqlite-wal").unlink(missing_ok=True)
    (tmp_path / "run" / "store.sqlite-shm").unlink(missing_ok=True)
    after = snapshot(tmp_path / "run")
    assert after == before


@pytest.mark.parametrize("protocol, kill_after", [
    (["--protocol", "write-verify"], 6),
    # a planner that learns per device: what it learned must come back on resume too
    (["--protocol", "write-verify-planned", "--planner", "heuristic"], 3),
])
@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one(tmp_path, protocol,
                                                                         kill_after):
    args = ["program", "--rows", 200, "--cols", 200, "--seed", 9, "--quiet", *protocol]
    reference = run_json(*args, "--out", "whole", cwd=tmp_path)

    victim = subprocess.Popen(hilctl_command(*args, "--out", "killed", "--json"), cwd=tmp_path,
                              env=hilctl_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    store = tmp_path / "killed" / "store.sqlite"
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and victim.poll() is None:
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=0.1) as db:
                    stored = db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
            if stored >= kill_after:
                break
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "result.json").exists()

    resumed = run_json("program", "--resume", "killed", "--quiet", cwd=tmp_path)
    for key in ("success_rate", "pulses_mean", "rounds", "failed_cells", "energy_J"):
        assert resumed[key] == pytest.approx(reference[key], rel=1e-12), key
    assert np.array_equal(np.load(tmp_path / "killed" / "conductance.npy"),
                          np.load(tmp_path / "whole" / "conductance.npy"), equal_nan=True)
    with sqlite3.connect(store) as db:
        rounds = [r[0] for r in db.execute("SELECT round FROM rounds ORDER BY round")]
    assert rounds == list(range(reference["rounds"] + 1))
