"""Named device presets.

``hfox-1t1r`` is the default: a HfOx 1T1R array with a 1-40 uS window, SET at +0.8..2.0 V and
RESET at -0.8..-2.5 V, 10 ns - 100 us pulses, a full-range SET in about 1 us at 1.5 V,
~15 % cycle-to-cycle noise plus 0.2 uS, 1 % read noise plus a 0.05 uS floor, and 1 % stuck
devices. The figures are typical of published HfOx 1T1R characterisations (for example
Yu et al., "HfOx-based RRAM" review, Proc. IEEE 2012; Prezioso et al., Nature 521, 2015 for
window and noise magnitudes); the rates are calibrated so that the closed-form response of
``device_model`` meets them.
"""

from __future__ import annotations

from drivers import ConfigError
from simulated_backend.device_model import DeviceParams

DEFAULT_PRESET = "hfox-1t1r"

PRESETS: dict[str, DeviceParams] = {
    DEFAULT_PRESET: DeviceParams(),
}


def preset(name: str) -> DeviceParams:
    """The preset called ``name``; an unknown name lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"device preset {name!r} is unknown; known presets: {', '.join(sorted(PRESETS))}"
        ) from None
