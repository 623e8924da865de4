"""The ``[rig]`` tables: the SMU, the board, their limits and timeouts, and how two limit
tables are obeyed together. ``rig_config_from_table`` validates a ``[rig]`` table on its own
(``hilctl instruments check``) with the same one-line errors as a whole run configuration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator

from hilctl.drivers import ConfigError, SafetyLimits

from .config_tables import LimitsConfig, Strict, describe_validation_error


class StricterLimits(UserWarning):
    """Limits in force are stricter than the rig's own table says."""


# The pyvisa backend a config or a run directory may name: pure Python, loads no shared
# library. Any other VISA library is named on the command line only (``--visa-library``),
# so a config received from someone else never loads code.
SAFE_VISA_LIBRARY = "@py"
# Serial URLs a board may have: a port name, a raw socket, the simulator's own scheme.
# pyserial's other handlers (spy://, loop://, rfc2217:// ...) can write files or log traffic.
BOARD_URL_SCHEMES = ("socket://", "hilsim://")


class SmuConfig(Strict):
    """The source-measure unit.

    ``nplc`` is the measurement aperture in power-line cycles; ``line_frequency_Hz`` turns it
    into seconds for timeouts and cost.
    """

    model: Literal["2600", "2400"]
    resource: str = Field(min_length=1)
    visa_library: str = SAFE_VISA_LIBRARY
    channel: Literal["a", "b"] = "a"
    nplc: float = Field(default=0.01, gt=0, le=25)
    line_frequency_Hz: float = Field(default=50.0, gt=0)

    @field_validator("visa_library")
    @classmethod
    def _pure_python_only(cls, value: str) -> str:
        if value != SAFE_VISA_LIBRARY:
            raise ValueError(f"only {SAFE_VISA_LIBRARY!r} is accepted from a config or run "
                             "directory (a VISA library is code hilctl loads); name another "
                             "with `hilctl instruments check --visa-library`")
        return value


class BoardConfig(Strict):
    """The crossbar test board, opened with ``serial.serial_for_url(url, baudrate=...)``."""

    url: str = Field(min_length=1)
    baudrate: int = Field(default=115200, gt=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if "://" in value:
            if not value.startswith(BOARD_URL_SCHEMES) or "?" in value:
                raise ValueError("expected a port name (/dev/..., COMn), socket://host:port or "
                                 "hilsim://")
        elif not (value.startswith("/dev/") or value.upper().startswith("COM")):
            raise ValueError("expected a port name (/dev/..., COMn), socket://host:port or "
                             "hilsim://")
        return value


class TimeoutsConfig(Strict):
    """How long to wait for an instrument, in seconds.

    Each query waits for its expected duration (pulse widths plus measurement apertures) times
    ``factor`` plus ``margin_s``; ``connect_s`` bounds opening a connection.
    """

    connect_s: float = Field(default=5.0, gt=0, le=600)
    margin_s: float = Field(default=2.0, gt=0, le=600)
    factor: float = Field(default=2.0, ge=1, le=100)


class RigConfig(Strict):
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
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, where)) from None


# Limits where a smaller value is the looser one.
_LOWER_BOUNDS = ("width_min_s",)


def stricter(a: SafetyLimits, b: dict[str, float]) -> tuple[SafetyLimits, list[str]]:
    """``a`` tightened by the values of ``b`` (a subset of its fields), and the names of the
    fields ``b`` tightened: two sources of limits are obeyed together."""
    values = vars(a).copy()
    tightened = []
    for key, value in b.items():
        pick = max if key in _LOWER_BOUNDS else min
        new = pick(values[key], value)
        if new != values[key]:
            tightened.append(key)
        values[key] = new
    return SafetyLimits(**values), tightened


# (table, key) of the rig's instrument addresses.
INSTRUMENT_ADDRESSES = (("smu", "resource"), ("board", "url"))
