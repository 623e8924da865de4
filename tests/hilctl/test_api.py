"""The Python API a notebook user reaches through ``import hilctl`` alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hilctl

README = Path(__file__).resolve().parents[2] / "README.md"
SIM = "sim://?rows=8&cols=8&seed=3&preset=hfox-1r"


def python_section() -> str:
    text = README.read_text()
    return text[text.index("## From Python"):text.index("## Programming an array")]


def test_every_exported_name_is_documented_in_the_readme_and_the_package_help():
    section, guide = python_section(), hilctl.__doc__
    for name in hilctl.__all__:
        assert re.search(rf"`{name}\b", section), f"{name} is not in the README's From Python"
        assert name in guide, f"{name} is not in help(hilctl)"
        assert getattr(hilctl, name).__doc__, f"{name} has no docstring"
    assert set(hilctl.__all__) <= set(dir(hilctl))


def test_importing_the_drivers_does_not_pull_in_the_app():
    code = "import sys, hilctl.drivers; print(any(m.startswith('hilctl.api') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_an_unknown_scheme_names_the_ones_that_exist():
    with pytest.raises(hilctl.ConfigError, match=r"'visa'.*sim://.*file://.*TOML"):
        hilctl.open_array("visa://TCPIP0::127.0.0.1::5025::SOCKET")


def test_a_sim_url_names_a_wrong_key_and_a_bad_value():
    with pytest.raises(hilctl.ConfigError, match="unknown key 'row'.*rows, cols, seed, preset"):
        hilctl.open_array("sim://?row=8")
    with pytest.raises(hilctl.ConfigError, match="rows = 'eight'"):
        hilctl.open_array("sim://?rows=eight")


def test_an_array_prints_its_shape_device_and_url():
    array = hilctl.open_array(SIM)
    assert array.shape == (8, 8)
    assert repr(array) == f"<hilctl.Array 8x8 simulated hfox-1r, seed 3 ({SIM})>"
    with array.open() as crossbar:
        assert repr(crossbar).startswith("<SimulatedCrossbar 8x8 ParametricDevice, G 1e-06..")


def test_a_toml_is_an_array_whose_paths_follow_the_file_and_whose_settings_hold(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "dev.toml").write_text("[device]\nc2c_relative = 0.12\n")
    (tmp_path / "lab" / "run.toml").write_text('[array]\nrows = 4\ncols = 6\npreset = "dev.toml"\n'
                                               '[protocol]\nname = "write-verify-adaptive"\n'
                                               'max_pulses = 7\n')
    array = hilctl.open_array(tmp_path / "lab" / "run.toml")
    assert array.shape == (4, 6)
    assert Path(array.config.array.preset) == tmp_path / "lab" / "dev.toml"
    run = hilctl.program(array, "gradient", tolerance="10%")
    assert run.config.protocol.name == "write-verify-adaptive"
    assert run.config.protocol.max_pulses == 7 and run.summary()["tolerance"] == "0.1 relative"


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    targets = np.random.default_rng(1).uniform(5e-6, 30e-6, size=(8, 8))
    return hilctl.program(SIM, targets, protocol="write-verify", tolerance="5%", out=out), targets


def test_a_run_holds_two_dimensional_maps_and_its_summary(stored_run):
    run, targets = stored_run
    assert run.conductance.shape == run.true_conductance.shape == (8, 8)
    np.testing.assert_array_equal(run.targets, targets)
    summary = run.summary()
    inside = np.abs(run.conductance - targets) <= 0.05 * targets
    assert summary["success_rate"] == pytest.approx(inside.mean())
    assert f"{summary['cells']} cells" in repr(run) and str(run.path) in repr(run)


def test_the_pulse_table_ends_each_cell_at_its_conductance(stored_run):
    run, _ = stored_run
    pulses = run.pulses()
    last = pulses.groupby(["row", "col"]).last()
    np.testing.assert_array_equal(last.g_read_S.to_numpy().reshape(8, 8), run.conductance)
    np.testing.assert_array_equal(last.g_true_S.to_numpy().reshape(8, 8), run.true_conductance)
    applied = pulses[pulses.polarity != 0]
    assert len(applied) == run.summary()["pulses_mean"] * 64
    assert (applied.width_s > 0).all() and applied.gate_V.isna().all()


def test_a_1t1r_run_exports_the_gate_of_every_pulse():
    run = hilctl.program("sim://?rows=4&cols=4&seed=1&preset=hfox-1t1r", "random",
                         protocol="write-verify-adaptive",
                         settings={"protocol": {"gate_V": 1.8}}, max_pulses=5)
    applied = run.pulses().query("polarity != 0")
    assert len(applied) > 0 and (applied.gate_V == 1.8).all()  # stored exactly as sent


def test_without_pandas_the_pulses_are_numpy_columns(stored_run, monkeypatch):
    run, _ = stored_run
    with_pandas = run.pulses()
    monkeypatch.setitem(sys.modules, "pandas", None)
    columns = run.pulses()
    assert list(columns) == list(with_pandas.columns)
    np.testing.assert_array_equal(columns["g_read_S"], with_pandas.g_read_S.to_numpy())


def test_a_csv_export_reads_back_as_the_stored_conductances(stored_run, tmp_path):
    run, _ = stored_run
    [written] = run.export(tmp_path / "p.csv")
    table = np.genfromtxt(written, delimiter=",", names=True)
    assert table.dtype.names == ("round", "row", "col", "polarity", "amplitude_V", "gate_V",
                                 "width_s", "g_read_S", "g_true_S")
    last = np.full((8, 8), np.nan)
    last[table["row"].astype(int), table["col"].astype(int)] = table["g_read_S"]  # rows in order
    np.testing.assert_array_equal(last, run.conductance)


def test_hdf5_export_holds_the_same_rows(stored_run, tmp_path):
    h5py = pytest.importorskip("h5py")
    run, _ = stored_run
    [written] = run.export(tmp_path / "p.h5", format="hdf5")
    with h5py.File(written) as h5:
        assert h5["pulses/g_read_S"].shape == (len(run.pulses()),)
        assert "write-verify" in h5.attrs["config_toml"]


def test_hdf5_without_h5py_is_refused_in_one_line(stored_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(hilctl.ConfigError, match=r"needs h5py.*hilctl\[hdf5\]"):
        stored_run[0].export(tmp_path / "p.h5", format="hdf5")
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.parametrize(("values", "words"), [
    (np.full(64, 20e-6), r"shape \(64,\).*8x8; use targets.reshape\(8, 8\)"),
    (np.full((8, 8), 20.0), "look like microsiemens"),
    (np.full((8, 8), 50e3), "look like ohms"),
    (np.full((8, 8), -1e-6), "not a conductance"),
    (np.full((8, 8), 0.5e-3), "outside the reachable range"),
])
def test_targets_with_the_wrong_shape_or_unit_name_the_likely_mistake(values, words, tmp_path):
    with pytest.raises(hilctl.DataError, match=words):
        hilctl.program(SIM, values, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_run_that_exists_or_a_planner_without_its_predictor_is_said_in_parameters(
        tmp_path, stored_run):
    with pytest.raises(hilctl.ConfigError, match="protocol='one-shot'.*needs predictor=") as caught:
        hilctl.program(SIM, "random", protocol="one-shot", out=tmp_path / "r")
    assert "--" not in str(caught.value)
    with pytest.raises(hilctl.HilctlError, match=r"out=.*already holds a run.*load_run"):
        hilctl.program(SIM, "random", out=stored_run[0].path)


def test_a_run_without_out_lives_as_long_as_its_object():
    run = hilctl.program(SIM, "checkerboard", tolerance="10%")
    path = run.path
    assert "in memory" in repr(run) and (path / "result.json").is_file()
    del run
    assert not path.exists()


def test_a_weights_run_exports_which_cell_holds_which_weight(tmp_path):
    from hilctl.weights.model_files import TrainedModel, save_model

    rng = np.random.default_rng(0)
    model = TrainedModel(weights=[rng.normal(0, 0.5, (9, 6)), rng.normal(0, 0.5, (7, 3))],
                         mode="voltage", layer_sizes=(8, 6, 3), gains=[1.0, 1.0],
                         dataset="synthetic")
    save_model(model, tmp_path / "model")
    run = hilctl.program("sim://?rows=16&cols=8&seed=2&preset=hfox-1r", weights=tmp_path / "model",
                         protocol="write-verify-planned", planner="oracle", out=tmp_path / "run")
    pulses_csv, weights_csv = run.export(tmp_path / "p.csv")
    weights = np.genfromtxt(weights_csv, delimiter=",", names=True, dtype=int)
    assert len(weights) == 9 * 6 + 7 * 3
    for layer, shape in enumerate(((9, 6), (7, 3))):
        mine = weights[weights["layer"] == layer]
        assert (mine["input"].max() + 1, mine["output"].max() + 1) == shape
    layer_of = {(w["array"], w["row"], col): w["layer"] for w in weights
                for col in (w["col_plus"], w["col_minus"])}
    assert set(layer_of) == {tuple(cell) for cell in np.argwhere(np.isfinite(run.targets))}
    pulses = np.genfromtxt(pulses_csv, delimiter=",", names=True)
    starting = pulses[pulses["round"] == 0]
    assert {(int(r["array"]), int(r["row"]), int(r["col"])): int(r["layer"])
            for r in starting} == layer_of


def test_characterize_and_compare_from_python(tmp_path):
    table = hilctl.characterize(SIM, pulses=500, out=tmp_path / "t.csv")
    assert len(table) == 500 and (tmp_path / "t.csv").is_file()
    report = hilctl.compare(SIM, protocols=("write-verify",), tolerance="10%",
                            out=tmp_path / "cmp")
    assert set(report["protocols"]) == {"write-verify"}
    assert set(report["oracle"]) == {"write-verify-planned"}  # its physical limit
    stored = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert stored["protocols"].keys() == report["protocols"].keys()
