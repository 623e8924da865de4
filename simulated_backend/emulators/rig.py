"""A whole emulated rig: one simulated array behind an emulated SMU and an emulated board,
each on its own loopback TCP port, as a lab rig sits behind its instruments.

The SMU is reached through pyvisa as ``TCPIP0::127.0.0.1::<port>::SOCKET``; the board through
pyserial as ``socket://127.0.0.1:<port>`` (from any process) or, in-process, through the
``hilsim://`` scheme once ``register_serial_scheme`` has been called.
"""

from __future__ import annotations

from hilctl.drivers import ConfigError, SafetyLimits

from .board import BoardEmulator
from .control import RigControl
from .keithley2400 import Keithley2400Emulator
from .keithley2600 import Keithley2600Emulator
from .server import LineServer, WireLog
from .wiring import EmulatedArray, new_array

SMU_MODELS = {"2600": Keithley2600Emulator, "2400": Keithley2400Emulator}


class EmulatedRig:
    """Start with ``with EmulatedRig(...) as rig:`` or ``start()``/``stop()``.

    Parameters
    ----------
    shape : (rows, cols)
    seed : int
        Seeds the simulated array (same seed, same devices as ``SimulatedCrossbar``).
    smu : "2600" or "2400"
    latency_s : float
        Injected round-trip latency per reply, in seconds, on both instruments.
    params : DeviceParams or None
        Device preset of the simulated array.
    model : DeviceModel or None
        The simulated array's device model instead of ``params`` (as ``SimulatedCrossbar``).
    read_V : float
        Read voltage in volts the array's I-V is evaluated at (the rig's ``limits.read_V``).
    control_port : int
        Loopback port of the JSON-lines control channel (0: any free port).
    wire_log : path or None
        File every SMU and board line in and out is appended to.
    """

    def __init__(self, shape: tuple[int, int] = (8, 8), seed: int = 0, smu: str = "2600",
                 latency_s: float = 0.0, params=None, read_V: float = 0.2,
                 control_port: int = 0, wire_log=None, model=None) -> None:
        if smu not in SMU_MODELS:
            raise ConfigError(f"--smu {smu!r}: expected one of {', '.join(SMU_MODELS)}")
        self.model = smu
        self.array: EmulatedArray = new_array(shape, seed, params, read_V, model)
        self.smu = SMU_MODELS[smu](self.array)
        self.board = BoardEmulator(self.array)
        self.wire_log = None if wire_log is None else WireLog(wire_log)
        self.smu_server = LineServer(self.smu, self.array.lock, latency_s,
                                     wire_log=self.wire_log, name="smu")
        self.board_server = LineServer(self.board, self.array.lock, latency_s,
                                       wire_log=self.wire_log, name="board")
        self.control = RigControl(self)
        self.control_server = LineServer(self.control, self.array.lock, port=control_port)

    @property
    def smu_resource(self) -> str:
        return f"TCPIP0::127.0.0.1::{self.smu_server.port}::SOCKET"

    @property
    def control_address(self) -> str:
        return f"127.0.0.1:{self.control_server.port}"

    @property
    def board_url(self) -> str:
        return f"socket://127.0.0.1:{self.board_server.port}"

    def rig_table(self, limits: SafetyLimits | None = None) -> dict:
        """The ``[rig]`` table that reaches this rig (a dict ready for ``RigConfig``)."""
        limits = limits or SafetyLimits(read_V=self.array.crossbar.limits.read_V)
        rows, cols = self.array.shape
        return {"smu": {"model": self.model, "resource": self.smu_resource},
                "board": {"url": self.board_url}, "rows": rows, "cols": cols,
                "limits": dict(vars(limits))}

    def rig_toml(self, limits: SafetyLimits | None = None) -> str:
        """The same table as TOML text, for ``--write-config``."""
        table = self.rig_table(limits)
        lines = ["[rig]", f"rows = {table['rows']}", f"cols = {table['cols']}", "",
                 "[rig.smu]", f'model = "{self.model}"', f'resource = "{self.smu_resource}"',
                 "", "[rig.board]", f'url = "{self.board_url}"', "", "[rig.limits]"]
        lines += [f"{key} = {value!r}" for key, value in table["limits"].items()]
        return "\n".join(lines) + "\n"

    def start(self) -> EmulatedRig:
        self.smu_server.start()
        self.board_server.start()
        self.control_server.start()
        return self

    def stop(self) -> None:
        self.smu_server.stop()
        self.board_server.stop()
        self.control_server.stop()
        if self.wire_log is not None:
            self.wire_log.close()

    def __enter__(self) -> EmulatedRig:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
