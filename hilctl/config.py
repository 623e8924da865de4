"""Run configuration: a TOML file validated by pydantic, with command-line overrides on top.

An unknown key or an out-of-range value is a ``ConfigError`` whose one line names the key
(``protocol.tolerance``) and what was expected. The configuration a run used is written into its
run directory, and ``--resume`` refuses a directory made with a different one.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hilctl.drivers import ConfigError, SafetyLimits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArrayConfig(_Strict):
    """The embedded simulated array."""

    rows: int = Field(64, ge=1, le=8192)
    cols: int = Field(64, ge=1, le=8192)
    seed: int = Field(0, ge=0)
    preset: str = "hfox-1t1r"
    # A measured pulse-response table (CSV): devices answer pulses as the measured ones did.
    empirical_table: str | None = None
    empirical_out_of_range: Literal["raise", "clamp"] = "raise"


class LimitsConfig(_Strict):
    """Safety limits (see ``drivers.SafetyLimits``); volts, seconds, amperes."""

    set_max_V: float = Field(2.0, gt=0, le=20)
    reset_max_V: float = Field(2.5, gt=0, le=20)
    width_min_s: float = Field(10e-9, gt=0)
    width_max_s: float = Field(100e-6, gt=0, le=1.0)
    compliance_A: float = Field(1e-3, gt=0, le=1.0)
    read_V: float = Field(0.2, gt=0, le=1.0)
    read_max_V: float = Field(0.5, gt=0, le=1.0)
    gate_set_min_V: float = Field(0.0, ge=0, le=20)
    gate_set_max_V: float = Field(3.3, gt=0, le=20)
    gate_reset_min_V: float = Field(0.0, ge=0, le=20)
    gate_reset_max_V: float = Field(4.0, gt=0, le=20)

    def build(self) -> SafetyLimits:
        return SafetyLimits(**self.model_dump())


class IsppConfig(_Strict):
    set_start_V: float = Field(0.9, gt=0)
    reset_start_V: float = Field(0.9, gt=0)
    step_V: float = Field(0.05, gt=0)
    set_max_V: float = Field(2.0, gt=0)
    reset_max_V: float = Field(2.5, gt=0)
    width_s: float = Field(100e-9, gt=0)


class AdaptiveConfig(_Strict):
    set_V: float = Field(1.3, gt=0)
    reset_V: float = Field(1.5, gt=0)
    start_width_s: float = Field(20e-9, gt=0)
    min_width_s: float = Field(10e-9, gt=0)
    max_width_s: float = Field(100e-6, gt=0)
    grow: float = Field(2.0, gt=1)
    shrink: float = Field(0.5, gt=0, lt=1)


class ProtocolConfig(_Strict):
    name: str = "write-verify"
    planner: Literal["neural", "oracle", "heuristic"] = "neural"
    predictor: str | None = None
    tolerance: float | None = Field(0.05, gt=0, lt=1)
    tolerance_abs_S: float | None = Field(None, gt=0)
    max_pulses: int = Field(100, ge=1, le=100_000)
    stall_pulses: int = Field(5, ge=1)
    stall_response: float = Field(0.05, ge=0)
    ispp: IsppConfig = IsppConfig()
    adaptive: AdaptiveConfig = AdaptiveConfig()


class TargetsConfig(_Strict):
    pattern: Literal["random", "checkerboard", "gradient"] = "random"
    file: str | None = None
    seed: int = Field(0, ge=0)


class WeightsConfig(_Strict):
    """A trained model whose layers become the targets (``hilctl program --weights``)."""

    model: str | None = None
    rescale: bool = False
    # Fraction of the device range kept free at each bound (see hilctl.weights.job.target_window).
    margin: float = Field(0.1, ge=0, lt=0.5)
    common_mode: float = Field(1.0, ge=0, le=1)


class CostConfig(_Strict):
    read_time_s: float = Field(1e-6, gt=0)


# (table, key) of the rig's instrument addresses.
INSTRUMENT_ADDRESSES = (("smu", "resource"), ("board", "url"))


class RunConfig(_Strict):
    """Everything a ``hilctl program`` run depends on."""

    array: ArrayConfig = ArrayConfig()
    device: dict[str, float | bool] = Field(default_factory=dict)
    limits: LimitsConfig = LimitsConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    targets: TargetsConfig = TargetsConfig()
    weights: WeightsConfig = WeightsConfig()
    cost: CostConfig = CostConfig()
    rig: dict[str, Any] | None = None

    @field_validator("device")
    @classmethod
    def _known_device_keys(cls, value: dict) -> dict:
        from hilctl.simulated_backend import DeviceParams

        DeviceParams().replace(**value)  # raises ConfigError naming an unknown key
        return value

    def fingerprint(self) -> str:
        """A hash of everything that changes what a run does (for ``--resume`` checks).

        Where the instruments are (VISA resource, board URL) is left out: a rig that comes back
        at another address after a fault is still the same rig.
        """
        text = json.dumps(self.what_it_does(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def what_it_does(self) -> dict:
        data = self.model_dump(mode="json")
        for part, key in INSTRUMENT_ADDRESSES:
            ((data["rig"] or {}).get(part) or {}).pop(key, None)
        return data


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def build_config(data: dict, source: str = "config") -> RunConfig:
    """Validate a nested dict into a ``RunConfig``; errors name the first offending key."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


def assemble_config(config_file: str | None, base: dict, flags: dict) -> RunConfig:
    """The configuration a command runs with: ``config_file`` (or ``base`` without one), with
    the command-line ``flags`` on top (``None`` flags left out)."""
    data = read_toml(config_file) if config_file else base
    source = config_file or "command line"
    return build_config(merge(data, flags), source)


def describe_validation_error(exc: ValidationError) -> str:
    """One line for the first problem pydantic found: the dotted key, then what is wrong."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    given = error.get("input")
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith(f"{key}."):
        return message
    return f"{key}: {message}{shown}"


def merge(base: dict, overrides: dict) -> dict:
    """Nested dict merge; ``overrides`` wins, ``None`` values in it are ignored."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict):
            base_value = out.get(key)
            out[key] = merge(base_value if isinstance(base_value, dict) else {}, value)
        else:
            out[key] = value
    return out


def dump_toml(config: RunConfig) -> str:
    """The configuration as TOML (tables of scalars; ``None`` values left out)."""
    lines: list[str] = []

    def emit(prefix: str, table: dict) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and v is not None}
        if scalars or not prefix:
            if prefix:
                lines.append(f"[{prefix}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(f"{prefix}.{key}" if prefix else key, value)

    emit("", config.model_dump(mode="json"))
    return "\n".join(lines).strip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
