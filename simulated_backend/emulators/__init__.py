"""Wire-level instrument emulators: the simulated array behind the SMUs' and the board's
real command sets, on loopback TCP ports (and an in-process ``hilsim://`` serial scheme).

Nothing here starts or registers anything on import: build an ``EmulatedRig`` and, for the
serial scheme, call ``register_serial_scheme()``.
"""

from simulated_backend.emulators.board import BoardEmulator
from simulated_backend.emulators.faults import KINDS as FAULT_KINDS
from simulated_backend.emulators.faults import Faults
from simulated_backend.emulators.keithley2400 import Keithley2400Emulator
from simulated_backend.emulators.keithley2600 import Keithley2600Emulator
from simulated_backend.emulators.protocol_hilsim import register_board, register_serial_scheme
from simulated_backend.emulators.rig import EmulatedRig
from simulated_backend.emulators.wiring import PHYSICAL_LIMITS, EmulatedArray

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
