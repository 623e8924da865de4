"""The [rig] table: strict validation with errors that name the key."""

import pytest

from hilctl.assemble import open_rig
from hilctl.config import build_config
from hilctl.drivers import ConfigError, SafetyLimits
from hilctl.rig_config import RigConfig, StricterLimits, rig_config_from_table, stricter
from hilctl.simulated_backend.emulators import EmulatedRig

MINIMAL = {"smu": {"model": "2600", "resource": "TCPIP0::10.0.0.5::5025::SOCKET"},
           "board": {"url": "/dev/ttyUSB0"}}


def test_minimal_table_gets_safe_defaults():
    cfg = rig_config_from_table(MINIMAL)
    assert isinstance(cfg, RigConfig)
    limits = cfg.limits.build()
    assert (limits.set_max_V, limits.reset_max_V, limits.read_V) == (2.0, 2.5, 0.2)
    assert cfg.smu.visa_library == "@py" and cfg.board.baudrate == 115200


@pytest.mark.parametrize("change, message", [
    ({"smu": {**MINIMAL["smu"], "modle": "2400"}}, "rig.smu.modle: unknown key"),
    ({"smu": {**MINIMAL["smu"], "model": "2700"}}, "rig.smu.model = '2700': Input should be"),
    ({"limits": {"set_max_V": -1.0}}, "rig.limits.set_max_V = -1.0: Input should be greater"),
    ({"limits": {"read_V": 0.8}}, "limits.read_V = 0.8 V exceeds limits.read_max_V"),
    ({"limits": {"width_min_s": 1e-3, "width_max_s": 1e-6}}, "exceeds limits.width_max_s"),
    ({"board": None}, "rig.board"),
])
def test_mistakes_name_the_key(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rig_config_from_table({**MINIMAL, **change})


def test_a_missing_table_is_named():
    with pytest.raises(ConfigError, match="rig.board: missing"):
        rig_config_from_table({"smu": MINIMAL["smu"]})


def test_the_stricter_table_is_in_force_per_field_at_the_rigs_read_voltage():
    config = build_config({"limits": {"set_max_V": 1.0, "width_min_s": 50e-9, "read_V": 0.1,
                                      "reset_max_V": 3.0},
                           "rig": {**MINIMAL, "limits": {"read_V": 0.3}}})
    with pytest.warns(StricterLimits, match="set_max_V = 1, width_min_s = 5e-08"):
        limits = config.limits_in_force()
    assert (limits.set_max_V, limits.reset_max_V) == (1.0, 2.5)
    assert (limits.width_min_s, limits.read_V) == (50e-9, 0.3)


def test_board_limits_tighten_what_the_config_allows():
    limits, tightened = stricter(SafetyLimits(), {"set_max_V": 1.5, "width_min_s": 1e-9})
    assert (limits.set_max_V, limits.width_min_s, tightened) == (1.5, 10e-9, ["set_max_V"])


@pytest.mark.parametrize("url", ["/dev/ttyUSB0", "COM3", "socket://127.0.0.1:5026",
                                 "hilsim://8x8"])
def test_board_urls_hilctl_needs_are_accepted(url):
    assert rig_config_from_table({**MINIMAL, "board": {"url": url}}).board.url == url


def test_a_2600_rig_never_runs_looser_than_its_board_reports():
    wide = SafetyLimits(set_max_V=8.0, reset_max_V=8.0)
    with EmulatedRig((4, 4), smu="2600") as rig:
        with pytest.warns(StricterLimits, match="board's pulse generator"):
            crossbar = open_rig(rig_config_from_table(rig.rig_table(wide)))
        with crossbar:
            reported = crossbar.board.hardware_limits()
            assert crossbar.limits.set_max_V == reported["set_max_V"] < 8.0
            assert crossbar.limits.reset_max_V == reported["reset_max_V"] < 8.0


def test_levels_close_their_open_sides_at_the_window_the_rig_reads():
    """A rig reads at [rig.limits].read_V, so a one-sided level ends where the devices' window
    is when read there, not at the top-level [limits].read_V."""
    from hilctl.assemble import Job, nominal_window

    levels = {"high": {"lower": "30uS"}}
    job = Job(build_config({"limits": {"read_V": 0.1}, "levels": levels,
                            "array": {"preset": "hfox-1r"},
                            "rig": {**MINIMAL, "limits": {"read_V": 0.3}}}))
    rig_window = nominal_window(job.device_model, 0.3)
    assert nominal_window(job.device_model, 0.1) != rig_window  # the I-V is not ohmic
    bands = job.bands
    assert bands.upper_S[0] == pytest.approx(rig_window[1])
