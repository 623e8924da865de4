"""``hilctl compare``: identical array copies, oracle ratios, and its files."""

import json

import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl

FIGURES = {"success_1pulse", "success_1pulse_10pct", "success_1pulse_50pct", "success_final",
           "pulses_mean", "pulses_median", "pulses_p95", "program_time_s", "energy_J"}


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    where = tmp_path_factory.mktemp("compare")
    done = run_hilctl("compare", "--protocols", "one-shot,write-verify,write-verify-planned",
                      "--oracle", "--tolerance", "0.05", "--rows", 16, "--cols", 16, "--seed", 2,
                      "--training-pulses", 6000, "--json", "--out", "cmp", cwd=where)
    assert done.returncode == 0, done.stderr
    return where, json.loads(done.stdout), done.stderr


@pytest.mark.slow
def test_report_has_every_figure_for_protocols_and_oracle(comparison):
    where, report, stderr = comparison
    assert report["tolerance"] == 0.05 and report["cells"] == 256
    assert set(report["protocols"]) == {"one-shot", "write-verify", "write-verify-planned"}
    assert set(report["oracle"]) == {"one-shot", "write-verify-planned"}
    for entry in [*report["protocols"].values(), *report["oracle"].values()]:
        assert FIGURES <= entry.keys()
        assert entry["success_1pulse"] <= entry["success_1pulse_10pct"] <= \
            entry["success_1pulse_50pct"]
    for entry in report["protocols"].values():
        ratio = entry["ratio_to_oracle"]
        reference = report["oracle"][entry["oracle_reference"]]
        assert ratio["pulses_mean"] == pytest.approx(entry["pulses_mean"] /
                                                     reference["pulses_mean"])
    # the 1T1R default (words compared across the console's line breaks)
    assert "gate-sweep pulses and training a predictor" in " ".join(stderr.split())
    assert report["predictor"]["source"] == "trained on a separate array"
    # The lookup planner beside the neural one, measured against the same oracle.
    assert report["baselines"] == ["lookup"]
    assert set(report["lookup"]) == {"one-shot", "write-verify-planned"}
    for entry in report["lookup"].values():
        assert FIGURES <= entry.keys() and "ratio_to_oracle" in entry


def test_one_shot_pulses_once_and_write_verify_corrects(comparison):
    _, report, _ = comparison
    one_shot = report["protocols"]["one-shot"]
    assert one_shot["pulses_mean"] == 1 and one_shot["block_reset"]
    assert one_shot["success_final"] == one_shot["success_1pulse"]
    for name in ("write-verify", "write-verify-planned"):
        assert report["protocols"][name]["success_final"] >= 0.9
    # the oracle sets the physical limit of one shot
    assert report["oracle"]["one-shot"]["success_1pulse_10pct"] >= 0.3


def test_files_land_in_the_output_directory(comparison):
    where, report, _ = comparison
    out = where / "cmp"
    assert json.loads((out / "compare.json").read_text())["protocols"].keys() == \
        report["protocols"].keys()
    for name in ("error_1pulse.png", "pulses_per_cell.png", "conductance_before_after.png"):
        assert (out / name).stat().st_size > 1000


def test_unknown_protocol_is_one_line(tmp_path):
    done = run_hilctl("compare", "--protocols", "one-shot,write-verfy", "--rows", 4, "--cols", 4,
                      "--out", "cmp", cwd=tmp_path)
    assert_one_line_error(done, "write-verfy")


def test_every_row_has_all_three_axes_against_ispp_and_the_oracle(comparison):
    _, report, _ = comparison
    ispp = report["protocols"][report["ispp"]]
    for entry in [*report["protocols"].values(), *report["oracle"].values()]:
        for axis in ("pulses_mean", "program_time_s", "energy_J"):
            assert entry["ratio_to_ispp"][axis] == pytest.approx(entry[axis] / ispp[axis])
        assert entry["program_time_s"] == pytest.approx(sum(entry["time_terms_s"].values()))
    planned = report["protocols"]["write-verify-planned"]
    assert planned["ratio_to_oracle"]["energy_J"] == pytest.approx(
        planned["energy_J"] / report["oracle"]["write-verify-planned"]["energy_J"])
    assert report["energy_model"].startswith("sinh I-V, V0 = 1 V (device parameters)")
