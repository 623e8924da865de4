"""The [rig] table: strict validation with errors that name the key."""

import pytest

from hilctl.drivers import ConfigError
from hilctl.rig_config import RigConfig, rig_config_from_table

MINIMAL = {"smu": {"model": "2600", "resource": "TCPIP0::10.0.0.5::5025::SOCKET"},
           "board": {"url": "/dev/ttyUSB0"}}


def test_minimal_table_gets_safe_defaults():
    cfg = rig_config_from_table(MINIMAL)
    assert isinstance(cfg, RigConfig)
    limits = cfg.limits.to_safety_limits()
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
