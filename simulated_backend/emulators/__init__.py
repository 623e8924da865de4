"""Wire-level instrument emulators: the simulated array behind the SMUs' and the board's
real command sets, on loopback TCP ports (and an in-process ``hilsim://`` serial scheme).

Nothing here starts or registers anything on import: build an ``EmulatedRig`` and, for the
serial scheme, call ``register_serial_scheme()``.
"""

from .board import BoardEmulator
from .faults import KINDS as FAULT_KINDS
from .faults import Faults
from .keithley2400 import Keithley2400Emulator
from .keithley2600 import Keithley2600Emulator
from .protocol_hilsim import register_board, register_serial_scheme
from .rig import EmulatedRig
from .wiring import PHYSICAL_LIMITS, EmulatedArray

__all__ = [
    "FAULT_KINDS",
    "PHYSICAL_LIMITS",
    "BoardEmulator",
    "EmulatedArray",
    "EmulatedRig",
    "Faults",
    "Keithley2400Emulator",
    "Keithley2600Emulator",
    "register_board",
    "register_serial_scheme",
]
