"""Tests on a physical SMU, run only with ``pytest --device-address <VISA resource>``.

They identify and configure the instrument and switch it off; nothing is sourced above 0 V.
"""

import pytest

from hilctl.drivers import SafetyLimits
from hilctl.drivers.keithley2400 import Keithley2400
from hilctl.drivers.keithley2600 import Keithley2600


@pytest.fixture
def smu(request):
    address = request.config.getoption("--device-address")
    if not address:
        pytest.skip("needs a physical SMU: pytest --device-address <VISA resource>")
    limits = SafetyLimits(compliance_A=1e-4)
    probe = Keithley2600.open(address, limits, visa_library="")
    identity = probe.identify()
    if "Model 26" in identity:
        driver = probe
    else:
        probe.close()
        driver = Keithley2400.open(address, limits, visa_library="")
    yield driver
    driver.make_safe()
    driver.close()


def test_identifies_as_a_supported_smu(smu):
    identity = smu.identify().upper()
    assert "KEITHLEY" in identity and any(m in identity for m in ("MODEL 26", "2400", "2450"))


def test_configures_with_an_empty_error_queue_and_ends_off(smu):
    smu.configure()
    smu.make_safe()  # raises unless the instrument confirms its output is off
