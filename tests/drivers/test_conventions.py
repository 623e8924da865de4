"""House rules for every instrument driver, checked by walking them all."""

import inspect
import re
from pathlib import Path

import pytest

from hilctl.drivers import instrument_io
from hilctl.drivers.board import CrossbarBoard
from hilctl.drivers.instrument_crossbar import BatchSourceMeter, SourceMeter
from hilctl.drivers.keithley2400 import Keithley2400
from hilctl.drivers.keithley2600 import Keithley2600

DRIVERS = [Keithley2600, Keithley2400, CrossbarBoard]
SMUS = [Keithley2600, Keithley2400]
DRIVER_DIR = Path(instrument_io.__file__).parent


@pytest.mark.parametrize("smu", SMUS)
def test_every_smu_offers_the_source_meter_interface(smu):
    for name in [*SourceMeter.__annotations__, "identify", "configure", "measure",
                 "drain_errors", "make_safe", "close"]:
        assert hasattr(smu, name), f"{smu.__name__} lacks {name}"


def test_only_the_2600_claims_to_batch():
    assert all(hasattr(Keithley2600, m) for m in ("pulse_and_read", "read_batch"))
    assert not any(hasattr(Keithley2400, m) for m in BatchSourceMeter.__dict__
                   if not m.startswith("_"))


@pytest.mark.parametrize("driver", DRIVERS)
def test_numbers_never_go_out_in_fixed_point(driver):
    source = inspect.getsource(inspect.getmodule(driver))
    assert not re.search(r"%[-+ 0-9.]*f|\{[^}]*:[-+ 0-9.]*f\}", source)


def test_only_the_io_seam_touches_pyvisa_or_pyserial():
    for path in DRIVER_DIR.glob("*.py"):
        if path.name == "instrument_io.py":
            continue
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) (pyvisa|serial)\b", text, re.M), path.name
