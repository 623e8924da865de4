"""The ``[rig]`` table of a TOML config: which SMU and board to open, and the rig's limits.

A user writes::

    [rig.smu]
    model = "2600"                                  # "2600" (TSP) or "2400" (SCPI)
    resource = "TCPIP0::127.0.0.1::5025::SOCKET"    # any VISA resource string
    [rig.board]
    url = "socket://127.0.0.1:5026"                 # or /dev/ttyUSB0, COM3, ...
    [rig.limits]
    set_max_V = 2.0
    reset_max_V = 2.5
    [rig.timeouts]
    margin_s = 2.0

``RigConfig.model_validate(toml["rig"])`` checks it (an unknown key is an error, never ignored);
``rig_config_from_table`` does the same and turns pydantic's errors into one ``ConfigError``
that names the key. ``open_rig`` connects and returns a ``drivers.Crossbar``.
"""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import BaseModel, Field

from hilctl.drivers import ConfigError, Crossbar, SafetyLimits


class SmuConfig(BaseModel, extra="forbid"):
    """The source-measure unit.

    ``visa_library`` is the pyvisa backend: ``"@py"`` (pure Python, LAN/serial/USB-TMC) or
    ``""`` for a system VISA library. ``nplc`` is the measurement aperture in power-line
    cycles; ``line_frequency_Hz`` turns it into seconds for timeouts and cost.
    """

    model: Literal["2600", "2400"]
    resource: str = Field(min_length=1)
    visa_library: str = "@py"
    channel: Literal["a", "b"] = "a"
    nplc: float = Field(default=0.01, gt=0, le=25)
    line_frequency_Hz: float = Field(default=50.0, gt=0)


class BoardConfig(BaseModel, extra="forbid"):
    """The crossbar test board, opened with ``serial.serial_for_url(url, baudrate=...)``."""

    url: str = Field(min_length=1)
    baudrate: int = Field(default=115200, gt=0)


class LimitsConfig(BaseModel, extra="forbid"):
    """Hard limits of the rig, SI units (V, s, A); the names match ``drivers.SafetyLimits``."""

    set_max_V: float = Field(default=2.0, gt=0, le=20)
    reset_max_V: float = Field(default=2.5, gt=0, le=20)
    width_min_s: float = Field(default=10e-9, gt=0)
    width_max_s: float = Field(default=100e-6, gt=0, le=1.0)
    compliance_A: float = Field(default=1e-3, gt=0, le=0.1)
    read_V: float = Field(default=0.2, gt=0)
    read_max_V: float = Field(default=0.5, gt=0)
    gate_set_min_V: float = Field(default=0.0, ge=0)
    gate_set_max_V: float = Field(default=3.3, gt=0)
    gate_reset_min_V: float = Field(default=0.0, ge=0)
    gate_reset_max_V: float = Field(default=4.0, gt=0)

    def to_safety_limits(self) -> SafetyLimits:
        """The ``SafetyLimits`` these values describe (raises ``ConfigError`` if inconsistent)."""
        return SafetyLimits(**self.model_dump())

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> LimitsConfig:
        self.to_safety_limits()
        return self


class TimeoutsConfig(BaseModel, extra="forbid"):
    """How long to wait for an instrument, in seconds.

    Each query waits for its expected duration (pulse widths plus measurement apertures) times
    ``factor`` plus ``margin_s``; ``connect_s`` bounds opening a connection.
    """

    connect_s: float = Field(default=5.0, gt=0)
    margin_s: float = Field(default=2.0, gt=0)
    factor: float = Field(default=2.0, ge=1)


class RigConfig(BaseModel, extra="forbid"):
    """One instrument rig: an SMU, a crossbar board, limits and timeouts.

    ``rows``/``cols`` are optional: the board reports its array size, and when they are given
    the rig refuses to open a board of another size.
    """

    smu: SmuConfig
    board: BoardConfig
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    rows: int | None = Field(default=None, gt=0)
    cols: int | None = Field(default=None, gt=0)


def rig_config_from_table(table: object, where: str = "rig") -> RigConfig:
    """Validate a parsed ``[rig]`` table; any problem is one ``ConfigError`` naming the key."""
    try:
        return RigConfig.model_validate(table)
    except pydantic.ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, where)) from None


def describe_validation_error(exc: pydantic.ValidationError, where: str) -> str:
    """``rig.limits.set_max_V = -1: Input should be greater than 0`` (first error, + count)."""
    first = exc.errors()[0]
    key = ".".join([where, *(str(part) for part in first["loc"])])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        text = f"{key}: unknown key"
    elif first["type"] == "missing":
        text = f"{key}: missing"
    else:
        text = f"{key} = {first.get('input')!r}: {message}"
    more = len(exc.errors()) - 1
    return text + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def open_rig(cfg: RigConfig) -> Crossbar:
    """Connect to the SMU and the board of ``cfg`` and return them as one ``Crossbar``.

    The instruments are identified and configured (output off at 0 V, compliance set, error
    queues drained) before this returns; no pulse is applied. The instrument modules are
    imported here, so validating a config never needs pyvisa or pyserial.
    """
    from hilctl.drivers.instrument_crossbar import open_instrument_crossbar

    return open_instrument_crossbar(
        smu_model=cfg.smu.model, smu_resource=cfg.smu.resource,
        visa_library=cfg.smu.visa_library, channel=cfg.smu.channel,
        aperture_s=cfg.smu.nplc / cfg.smu.line_frequency_Hz,
        board_url=cfg.board.url, baudrate=cfg.board.baudrate,
        limits=cfg.limits.to_safety_limits(), connect_timeout_s=cfg.timeouts.connect_s,
        margin_s=cfg.timeouts.margin_s, factor=cfg.timeouts.factor,
        shape=(cfg.rows, cfg.cols) if cfg.rows and cfg.cols else None,
    )
