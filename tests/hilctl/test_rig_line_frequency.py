"""A rig's ``nplc`` reaches the SMU as power-line cycles of its own ``line_frequency_Hz``."""

from hilctl import assemble
from hilctl.drivers import instrument_crossbar
from hilctl.rig_config import rig_config_from_table


def test_open_rig_hands_the_line_frequency_to_the_smu(monkeypatch):
    opened = {}
    monkeypatch.setattr(assemble, "board_limits", lambda cfg: {})
    monkeypatch.setattr(instrument_crossbar, "open_instrument_crossbar",
                        lambda **kwargs: opened.update(kwargs))
    rig = rig_config_from_table({
        "smu": {"model": "2400", "resource": "TCPIP0::127.0.0.1::1::SOCKET", "nplc": 1,
                "line_frequency_Hz": 60},
        "board": {"url": "socket://127.0.0.1:1"}})
    assemble.open_rig(rig)
    assert opened["aperture_s"] * opened["line_frequency_Hz"] == 1.0
    assert opened["line_frequency_Hz"] == 60
