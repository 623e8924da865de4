"""``hilctl program --objective``: planning for energy or time, and the mistakes refused."""

import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json

ONE_R = '[array]\npreset = "hfox-1r"\nrows = 12\ncols = 12\n'


def _trained(where, pulses: int, side: int, epochs: int, array_side: int):
    """A folder with a width-knob predictor of hfox-1r cells (``pred``), trained on a random
    characterization of ``pulses`` pulses, and ``1r.toml`` for an array to program."""
    run_json("characterize", "--pulses", pulses, "--rows", side, "--cols", side, "--seed", 9,
             "--preset", "hfox-1r", "--out", "t.csv", cwd=where)
    run_json("predictor", "train", "--data", "t.csv", "--out", "pred", "--epochs", epochs,
             cwd=where)
    (where / "1r.toml").write_text(ONE_R.replace("12", str(array_side)))
    return where


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Small and quick: 3000 pulses, a 12x12 array."""
    return _trained(tmp_path_factory.mktemp("objective"), 3000, 16, 20, 12)


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



@pytest.fixture(scope="module")
def well_trained(tmp_path_factory):
    """20k pulses, a 24x24 array: a predictor good enough to compare with ISPP."""
    return _trained(tmp_path_factory.mktemp("cost"), 20000, 32, 30, 24)


@pytest.mark.slow
def test_planned_programming_is_cheaper_than_ispp_on_every_axis(well_trained):
    """Planned write-verify for energy and one-shot against the amplitude ramp on the same
    array, stuck devices (1 %) and targets beyond a device's window included."""
    where = well_trained
    ispp = run_json("program", "--config", "1r.toml", "--protocol", "write-verify", "--out",
                    "ispp", "--quiet", cwd=where)
    planned = program(where, "planned-energy", "--objective", "energy")
    for axis in ("pulses_mean", "program_time_s", "energy_J"):
        assert planned[axis] < 0.5 * ispp[axis], axis
    assert planned["success_rate"] >= ispp["success_rate"] - 0.005
    assert planned["true_success_rate"] >= ispp["true_success_rate"]
    one_shot = run_json("program", "--config", "1r.toml", "--protocol", "one-shot",
                        "--predictor", "pred", "--objective", "energy", "--out", "one-shot",
                        "--quiet", cwd=where)
    assert not one_shot["block_reset"]  # a 1R array starts as ISPP's does
    for axis in ("program_time_s", "energy_J"):
        assert one_shot[axis] <= 0.3 * ispp[axis], axis
