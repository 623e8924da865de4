"""hilctl infer --cost and --cost-sweep as a user runs them, and their one-line refusals."""

import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json


@pytest.fixture(scope="module")
def programmed(tmp_path_factory):
    where = tmp_path_factory.mktemp("cost")
    run_json("train", "--dataset", "digits", "--mode", "voltage", "--hidden", 8,
             "--epochs", 8, "--out", "model", cwd=where)
    run_json("program", "--weights", "model", "--rows", 32, "--cols", 32,
             "--out", "run", "--quiet", cwd=where)
    return where


def test_cost_reports_energy_accuracy_and_the_programming_ledger(programmed):
    report = run_json("infer", "--run", "run", "--cost", cwd=programmed)
    cost, ledger = report["read_cost"], report["programming"]
    assert cost["mode"] == "voltage" and cost["energy_J"] > 0 and cost["latency_s"] > 0
    assert set(cost["blocks_J"]) == {"drivers", "array", "column interface", "conversion",
                                     "digital"}
    assert abs(cost["accuracy"] - report["accuracy_measured"]) < 0.03
    assert ledger["recorded"] and ledger["energy_J"] > 0 and ledger["program_time_s"] > 0


def test_cost_sweep_writes_a_table_and_a_png(programmed):
    done = run_hilctl("infer", "--run", "run", "--cost-sweep", "0.1,0.2", "--sweep-bits", "3,8",
                      "--out", "plots", cwd=programmed)
    assert done.returncode == 0, done.stderr
    assert "accuracy vs energy" in done.stdout
    png = programmed / "plots" / "accuracy_energy.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_bad_cost_input_is_one_line(programmed, tmp_path):
    where = programmed
    assert_one_line_error(run_hilctl("infer", "--run", "run", "--cost", "--adc", "flash9",
                                     cwd=where), "flash9")
    assert_one_line_error(run_hilctl("infer", "--run", "run", "--cost", "--adc-bits", "10",
                                     cwd=where), "adc_bits", "isaac")
    (tmp_path / "bad.toml").write_text("[read_cost]\ntia_power_W = -1e-6\n")
    assert_one_line_error(run_hilctl("infer", "--run", str(where / "run"), "--cost",
                                     "--cost-config", "bad.toml", cwd=tmp_path), "tia_power_W")
    (tmp_path / "zero.toml").write_text("[read_cost]\nintegration_time_s = 0\n")
    assert_one_line_error(run_hilctl("infer", "--run", str(where / "run"), "--cost",
                                     "--cost-config", "zero.toml", cwd=tmp_path),
                          "integration_time_s")
    assert_one_line_error(run_hilctl("infer", "--run", "run", "--cost-sweep", "0.1,-2",
                                     cwd=where), "--cost-sweep")
    run_json("program", "--rows", 4, "--cols", 4, "--out", "plain", "--quiet", cwd=tmp_path)
    assert_one_line_error(run_hilctl("infer", "--run", "plain", "--cost", "--dataset", "digits",
                                     cwd=tmp_path), "holds no weights")
    (where / "run" / "conductance.npy").rename(where / "hidden.npy")
    try:
        assert_one_line_error(run_hilctl("infer", "--run", "run", "--cost", cwd=where),
                              "conductance.npy")
    finally:
        (where / "hidden.npy").rename(where / "run" / "conductance.npy")
