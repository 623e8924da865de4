"""Bottom layer of hilctl: the shared vocabulary and the hardware interface.

Imports none of ``protocols``, ``simulated_backend`` or ``hilctl``.
"""

from drivers.crossbar import Checkpointable, Crossbar, KnowsTrueConductance
from drivers.errors import (
    ConfigError,
    DataError,
    HilctlError,
    InstrumentError,
    InstrumentTimeout,
    ResumeError,
    SafetyLimitError,
)
from drivers.limits import SafetyLimits
from drivers.vocabulary import Cells, Polarity, PulseBatch, Reading

__all__ = [
    "Cells",
    "Checkpointable",
    "ConfigError",
    "Crossbar",
    "DataError",
    "HilctlError",
    "InstrumentError",
    "InstrumentTimeout",
    "KnowsTrueConductance",
    "Polarity",
    "PulseBatch",
    "Reading",
    "ResumeError",
    "SafetyLimitError",
    "SafetyLimits",
]
