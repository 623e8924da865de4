"""The one pre-flight check of a protocol's pulse settings against the rig's ``SafetyLimits``.

Every protocol and planner states its settings by kind (SET or RESET amplitude, width, gate) and
this module says, in one message format, which setting lies outside which limit. A setting is
checked before anything is energised, so a run never starts with a pulse the driver would
refuse halfway through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import Cells, ConfigError, Polarity, PulseBatch, SafetyLimits

_NONE: Mapping[str, float | None] = {}


def check_settings(owner: str, limits: SafetyLimits, *, set_V: Mapping[str, float] = _NONE,
                   reset_V: Mapping[str, float] = _NONE, width_s: Mapping[str, float] = _NONE,
                   set_gate_V: Mapping[str, float | None] = _NONE,
                   reset_gate_V: Mapping[str, float | None] = _NONE,
                   gate_V: Mapping[str, float | None] = _NONE) -> None:
    """Raise ``ConfigError`` naming the first setting of ``owner`` outside ``limits``.

    Amplitudes are magnitudes in (0, max] V, widths lie in [width_min, width_max] s; gates of
    SET pulses lie in the SET gate range, of RESET pulses in the RESET range, and ``gate_V``
    (a default gate sent with either polarity) in both. A gate of None (the protocol sends
    none) is not checked.
    """
    set_gate = (max(limits.gate_set_min_V, 0.0), limits.gate_set_max_V,
                "limits.gate_set_min_V, limits.gate_set_max_V")
    reset_gate = (max(limits.gate_reset_min_V, 0.0), limits.gate_reset_max_V,
                  "limits.gate_reset_min_V, limits.gate_reset_max_V")
    both = (max(set_gate[0], reset_gate[0]), min(set_gate[1], reset_gate[1]),
            "limits.gate_set_*, limits.gate_reset_*")
    kinds = (
        (set_V, 0.0, limits.set_max_V, "limits.set_max_V"),
        (reset_V, 0.0, limits.reset_max_V, "limits.reset_max_V"),
        (set_gate_V, *set_gate), (reset_gate_V, *reset_gate), (gate_V, *both),
    )
    for values, low, high, names in kinds:
        for key, value in values.items():
            if value is not None and not (np.isfinite(value) and 0 < value and
                                          low <= value <= high):
                bounds = f"(0, {high:.4g}]" if low == 0 else f"[{low:.4g}, {high:.4g}]"
                raise ConfigError(f"{owner}.{key} = {value:.4g} V is outside {bounds} V "
                                  f"({names})")
    for key, value in width_s.items():
        if not (np.isfinite(value) and limits.width_min_s <= value <= limits.width_max_s):
            raise ConfigError(f"{owner}.{key} = {value:.4g} s is outside "
                              f"[{limits.width_min_s:.4g}, {limits.width_max_s:.4g}] s "
                              "(limits.width_min_s, limits.width_max_s)")


def gates(gate_V: float | None, n: int) -> np.ndarray | None:
    """The default gate for ``n`` pulses of a protocol that plans none (None: no gate sent)."""
    return None if gate_V is None else np.full(n, gate_V)


@dataclass(frozen=True)
class ResetPulse:
    """The full RESET that brings a cell to its high-resistance state (a block RESET before a
    run, a restart after an overshoot). Source-line amplitude in V, width in s, gate in V
    (None: no gate sent, as on a 1R array)."""

    amplitude_V: float = 2.0
    width_s: float = 10e-6
    gate_V: float | None = None

    def check(self, owner: str, limits: SafetyLimits) -> None:
        check_settings(owner, limits, reset_V={"reset_V": self.amplitude_V},
                       width_s={"reset_width_s": self.width_s},
                       reset_gate_V={"reset_gate_V": self.gate_V})

    def batch(self, cells: Cells) -> PulseBatch:
        return PulseBatch(cells, Polarity.RESET, self.amplitude_V, self.width_s,
                          gates(self.gate_V, len(cells)))
