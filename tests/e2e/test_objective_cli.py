"""``hilctl program --objective``: planning for energy or time, and the mistakes refused."""

import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json

ONE_R = '[array]\npreset = "hfox-1r"\nrows = 12\ncols = 12\n'


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A width-knob predictor of hfox-1r cells, trained on a small random characterization."""
    where = tmp_path_factory.mktemp("objective")
    run_json("characterize", "--pulses", 3000, "--rows", 16, "--cols", 16, "--seed", 9,
             "--preset", "hfox-1r", "--out", "t.csv", cwd=where)
    run_json("predictor", "train", "--data", "t.csv", "--out", "pred", "--epochs", 20,
             cwd=where)
    (where / "1r.toml").write_text(ONE_R)
    return where


def program(where, out, *args):
    return run_json("program", "--config", "1r.toml", "--protocol", "write-verify-planned",
                    "--predictor", "pred", "--out", out, "--quiet", *args, cwd=where)


def test_planning_for_energy_spends_less_energy_than_counting_pulses(trained):
    by_count = program(trained, "count", "--objective", "pulses")
    by_energy = program(trained, "energy", "--objective", "energy")
    assert by_energy["energy_J"] < 0.5 * by_count["energy_J"]
    assert by_energy["success_rate"] >= by_count["success_rate"] - 0.05
    assert 'objective = "energy"' in (trained / "energy" / "config.toml").read_text()


def test_an_unknown_objective_is_one_line(trained):
    done = run_hilctl("program", "--config", "1r.toml", "--objective", "speed", "--out", "x",
                      cwd=trained)
    assert_one_line_error(done, "protocol.objective", "speed")
    assert not (trained / "x").exists()


@pytest.mark.parametrize("weights", ["time_s = -1.0", "pulse = 0.0"])
def test_a_negative_or_no_weight_is_one_line(trained, weights):
    (trained / "w.toml").write_text(ONE_R + f"[protocol.objective_weights]\n{weights}\n")
    done = run_hilctl("program", "--config", "w.toml", "--out", "w", cwd=trained)
    assert_one_line_error(done, "protocol.objective_weights")
    assert not (trained / "w").exists()
