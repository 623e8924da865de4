"""Config values that would run forever, write invalid JSON or describe no device are refused,
each naming its key; one band is given, never two."""

from __future__ import annotations

import re

import pytest

from hilctl.config import build_config
from hilctl.drivers import ConfigError
from tests.e2e.cli import assert_one_line_error, run_hilctl

R1 = {"array": {"preset": "hfox-1r"}}
RIG = {"smu": {"model": "2600", "resource": "TCPIP0::127.0.0.1::1::SOCKET"},
       "board": {"url": "socket://127.0.0.1:1"}}


@pytest.mark.parametrize("data, key", [
    ({"cost": {"read_time_s": float("inf")}}, "cost.read_time_s = inf"),
    ({"limits": {"read_V": float("nan")}}, "limits.read_V = nan"),
    ({"rig": {**RIG, "timeouts": {"connect_s": float("inf")}}}, "rig.timeouts.connect_s = inf"),
    ({"rig": {**RIG, "timeouts": {"margin_s": 1e9}}}, "rig.timeouts.margin_s = 1000000000.0"),
    ({"device": {"read_noise_relative": 1e308}}, "device.read_noise_relative = 1e+308"),
    ({"device": {"read_noise_relative": float("inf")}}, "device.read_noise_relative = inf"),
    ({"array": {"preset": "hfox-1t1r"}, "device": {"g_sat_spread": 1e300}},
     "device.g_sat_spread = 1e+300"),
    ({**R1, "device": {"set_rate_per_s": 1e300}}, "device.set_rate_per_s = 1e+300"),
    ({**R1, "device": {"reset_threshold_V": 1e6}}, "device.reset_threshold_V = 1000000.0"),
    ({**R1, "device": {"set_slope_V": -0.1}}, "device.set_slope_V = -0.1"),
    ({**R1, "device": {"set_window": 1e300}}, "device.set_window = 1e+300"),
    ({**R1, "device": {"relaxation_t0_s": 1e20}}, "device.relaxation_t0_s = 1e+20"),
    ({"array": {"preset": "hfox-1t1r"}, "device": {"transistor_threshold_V": 1e6}},
     "device.transistor_threshold_V = 1000000.0"),
    ({"array": {"preset": "hfox-1t1r"}, "device": {"transistor_k_A": float("nan")}},
     "device.transistor_k_A = nan"),
])
def test_non_finite_or_absurd_values_are_refused_by_key(data, key):
    with pytest.raises(ConfigError, match=f"^config: {re.escape(key)}: "):
        build_config(data)


def test_every_shipped_preset_lies_inside_the_plausible_ranges():
    from hilctl.simulated_backend import PRESETS, preset

    for name in PRESETS:
        preset(name)  # constructing it validates every parameter against its range


def test_a_preset_file_with_an_absurd_rate_is_one_line_and_no_run(tmp_path):
    (tmp_path / "lab.toml").write_text("[device]\ncell = \"1R\"\nset_rate_per_s = 1e300\n")
    (tmp_path / "c.toml").write_text('[array]\nrows = 4\ncols = 4\npreset = "lab.toml"\n')
    done = run_hilctl("program", "--config", "c.toml", "--out", "run", cwd=tmp_path)
    assert_one_line_error(done, "lab.toml", "device.set_rate_per_s = 1e+300",
                          "expected at most 1e+15")
    assert not (tmp_path / "run").exists()


def test_two_bands_are_refused_and_an_absolute_one_survives_a_resume():
    with pytest.raises(ConfigError, match="tolerance and tolerance_abs_S are both set"):
        build_config({"protocol": {"tolerance": 0.05, "tolerance_abs_S": 1e-6}})
    absolute = build_config({"protocol": {"tolerance_abs_S": 1e-6}})
    assert absolute.protocol.tolerance is None
    assert build_config(absolute.model_dump(mode="json")) == absolute


def test_a_percentage_typed_as_a_number_names_the_percentage():
    with pytest.raises(ConfigError, match=r"did you mean 5%\?"):
        build_config({"protocol": {"tolerance": 5}})


def test_an_infinite_read_time_is_one_line_and_no_run(tmp_path):
    (tmp_path / "c.toml").write_text("[array]\nrows = 4\ncols = 4\n[cost]\nread_time_s = inf\n")
    done = run_hilctl("program", "--config", "c.toml", "--out", "run", cwd=tmp_path)
    assert_one_line_error(done, "cost.read_time_s = inf", "finite")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["program", "--out", "run"],
                                     ["characterize", "--out", "t.csv"]])
def test_a_bad_rig_value_is_one_line_under_every_command(tmp_path, command):
    (tmp_path / "rig.toml").write_text(
        '[rig.smu]\nmodel = "2600"\nresource = "TCPIP0::127.0.0.1::1::SOCKET"\nnplc = "x"\n'
        '[rig.board]\nurl = "socket://127.0.0.1:1"\n[rig.timeouts]\nconnect_s = inf\n')
    done = run_hilctl(*command, "--config", "rig.toml", cwd=tmp_path)
    assert_one_line_error(done, "rig.smu.nplc = 'x'", "(and 1 more problem)")
