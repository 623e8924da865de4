"""Bottom layer of hilctl: the shared vocabulary and the hardware interface.

Imports none of ``protocols``, ``simulated_backend`` or ``hilctl``.
"""

from .crossbar import Checkpointable, Crossbar, KnowsTrueConductance
from .errors import (
    ConfigError,
    DataError,
    HilctlError,
    InstrumentError,
    InstrumentTimeout,
    ResumeError,
    SafetyLimitError,
)
from .limits import SafetyLimits
from .vocabulary import Cells, Polarity, PulseBatch, Reading

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
