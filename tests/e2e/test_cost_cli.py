"""The cost a run reports, as a user meets it: the rig and the simulator agree on the energy of
the same pulses and name the model they used, every time term is in result.json, and a schedule
the rig cannot do or a negative overhead is one line and no run."""

from __future__ import annotations

import json

import pytest

from hilctl.commands.instruments import run_config_toml
from hilctl.simulated_backend import preset
from hilctl.simulated_backend.emulators import EmulatedRig
from tests.e2e.cli import assert_one_line_error, emulator, run_hilctl, run_json

SEED = 3


@pytest.fixture(params=["hfox-1t1r", "hfox-1r"])
def rig_and_preset(request):
    with EmulatedRig((6, 6), seed=SEED, smu="2600", params=preset(request.param)) as rig:
        yield rig, request.param


def _configs(rig, name, tmp_path, extra: str = "") -> None:
    text = run_config_toml(rig, SEED, name)
    (tmp_path / "rig.toml").write_text(text + extra)
    (tmp_path / "sim.toml").write_text(text.split("[rig]")[0] + extra)


@pytest.mark.slow
def test_rig_and_simulator_agree_on_the_energy_of_the_same_pulses(rig_and_preset, tmp_path):
    rig, name = rig_and_preset
    _configs(rig, name, tmp_path)
    on_rig = run_json("program", "--config", "rig.toml", "--out", "rig_run", "--quiet",
                      cwd=tmp_path)
    simulated = run_json("program", "--config", "sim.toml", "--out", "sim_run", "--quiet",
                         cwd=tmp_path)
    per_pulse = [r["energy_J"] / (r["pulses_mean"] * r["cells"]) for r in (on_rig, simulated)]
    assert per_pulse[0] == pytest.approx(per_pulse[1], rel=0.05)
    v0 = preset(name).iv_v0_V
    assert on_rig["energy_model"].startswith(f"sinh I-V, V0 = {v0:.3g} V (preset {name})")
    assert simulated["energy_model"].startswith(f"sinh I-V, V0 = {v0:.3g} V (device parameters)")


def test_a_rig_without_a_known_i_v_says_its_energy_is_ohmic(tmp_path):
    with EmulatedRig((4, 4), seed=SEED, smu="2600", params=preset("hfox-1r")) as rig:
        text = run_config_toml(rig, SEED, "hfox-1r").replace('preset = "hfox-1r"\n', "")
        (tmp_path / "rig.toml").write_text(text)
        on_rig = run_json("program", "--config", "rig.toml", "--out", "run", "--quiet",
                          cwd=tmp_path)
    assert on_rig["energy_model"].startswith("ohmic (no I-V known: set [cost] iv_v0_V")


def test_every_time_term_lands_in_result_json(tmp_path):
    (tmp_path / "c.toml").write_text(
        '[array]\nrows = 6\ncols = 6\npreset = "hfox-1r"\n[cost]\nround_trip_s = 1e-4\n'
        'settle_s = 1e-5\npulse_setup_s = 2e-6\n[schedule]\nmode = "row-parallel"\n')
    summary = run_json("program", "--config", "c.toml", "--out", "run", "--quiet", cwd=tmp_path)
    stored = json.loads((tmp_path / "run" / "result.json").read_text())
    terms = stored["time_terms_s"]
    assert set(terms) == {"pulses_s", "set_up_s", "reads_s", "round_trips_s", "settling_s"}
    assert stored["program_time_s"] == pytest.approx(sum(terms.values()))
    assert terms["round_trips_s"] == pytest.approx(stored["round_trips"] * 1e-4)
    assert terms["set_up_s"] == pytest.approx(stored["pulse_groups"] * 2e-6)
    assert stored["cost_settings"]["schedule"] == "row-parallel" == \
        summary["cost_settings"]["schedule"]


@pytest.mark.parametrize("table, words", [
    ("[cost]\nround_trip_s = -1e-3\n", ("cost.round_trip_s = -0.001", "greater than or equal")),
    ("[cost]\nsettle_s = -1.0\n", ("cost.settle_s = -1.0",)),
    ('[schedule]\nmode = "diagonal"\n', ("schedule.mode = 'diagonal'", "row-parallel")),
])
def test_bad_cost_settings_are_one_line_and_no_run(tmp_path, table, words):
    (tmp_path / "c.toml").write_text("[array]\nrows = 4\ncols = 4\n" + table)
    done = run_hilctl("program", "--config", "c.toml", "--out", "run", "--quiet", cwd=tmp_path)
    assert_one_line_error(done, *words)
    assert not (tmp_path / "run").exists()


def test_a_schedule_the_rig_cannot_do_is_refused_before_any_file(tmp_path):
    with EmulatedRig((4, 4), seed=SEED, smu="2600", params=preset("hfox-1r")) as rig:
        _configs(rig, "hfox-1r", tmp_path, '\n[schedule]\nmode = "row-parallel"\n')
        done = run_hilctl("program", "--config", "rig.toml", "--out", "run", "--quiet",
                          cwd=tmp_path)
        assert_one_line_error(done, "schedule.mode = 'row-parallel'", "one cell at a time")
        assert not (tmp_path / "run").exists()
        assert not rig.smu.output and rig.array.pulses_applied == 0


def test_instruments_check_measures_the_round_trip_to_paste(tmp_path):
    with emulator(tmp_path, "--rows", "4", "--cols", "4", "--latency", "2ms"):
        done = run_hilctl("instruments", "check", "--config", "rig.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("round_trip_s = "))
    assert float(line.split("=")[1]) >= 2e-3  # at least the injected latency
    assert "[cost]" in done.stdout.splitlines()
