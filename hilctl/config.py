"""Run configuration: a TOML file validated by pydantic, with command-line overrides on top.

An unknown key or an out-of-range value is a ``ConfigError`` whose one line names the key
(``protocol.tolerance``) and what was expected. The configuration a run used is written into its
run directory, and ``--resume`` refuses a directory made with a different one.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from hilctl.drivers import ConfigError, SafetyLimits
from hilctl.drivers.toml_file import read_toml

from .config_tables import (
    ArrayConfig,
    CharacterizeConfig,
    CostConfig,
    DeviceBookConfig,
    LimitsConfig,
    OutputConfig,
    ProtocolConfig,
    ScheduleConfig,
    Strict,
    TargetsConfig,
    WeightsConfig,
    describe_validation_error,
)
from .rig_config import INSTRUMENT_ADDRESSES, RigConfig, StricterLimits, stricter


class RunConfig(Strict):
    """Everything a ``hilctl program`` run depends on."""

    array: ArrayConfig = ArrayConfig()
    device: dict[str, float | bool] = Field(default_factory=dict)
    limits: LimitsConfig = LimitsConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    targets: TargetsConfig = TargetsConfig()
    weights: WeightsConfig = WeightsConfig()
    cost: CostConfig = CostConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    device_book: DeviceBookConfig = DeviceBookConfig()
    characterize: CharacterizeConfig = CharacterizeConfig()
    output: OutputConfig = OutputConfig()
    rig: RigConfig | None = None
    # Named bands {name: {lower, upper}} in S or with units (see hilctl.levels).
    levels: dict[str, dict[str, float | str]] | None = None

    @model_validator(mode="after")
    def _known_device_keys(self) -> RunConfig:
        """``[device]`` overrides name parameters of the preset's own cell model."""
        if self.array.empirical_table is None:
            from hilctl.simulated_backend.presets import load_preset

            load_preset(self.array.preset).replace(**self.device)  # names an unknown key
        return self

    def limits_in_force(self) -> SafetyLimits:
        """The limits every part of a run obeys (pulses, targets, weights window, cost).

        With a rig, the stricter of ``[limits]`` and ``[rig.limits]`` per field, at the rig's
        read voltage, and a one-line ``StricterLimits`` warning names the fields where
        ``[limits]`` was the stricter table; without a rig, ``[limits]``.
        """
        if self.rig is None:
            return self.limits.build()
        top = {k: v for k, v in vars(self.limits.build()).items() if k != "read_V"}
        limits, tightened = stricter(self.rig.limits.build(), top)
        if tightened:
            fields = ", ".join(f"{key} = {getattr(limits, key):.3g}" for key in tightened)
            warnings.warn(f"[limits] is stricter than [rig.limits]; in force: {fields}",
                          StricterLimits, stacklevel=2)
        return limits

    def fingerprint(self) -> str:
        """A hash of everything that changes what a run does (for ``--resume`` checks).

        Where the instruments are (VISA resource, board URL) is left out: a rig that comes back
        at another address after a fault is still the same rig; so is ``[output]``, which
        changes only the figures.
        """
        text = json.dumps(self.what_it_does(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def what_it_does(self) -> dict:
        data = self.model_dump(mode="json", exclude={"output"})
        for part, key in INSTRUMENT_ADDRESSES:
            ((data["rig"] or {}).get(part) or {}).pop(key, None)
        return data


def build_config(data: dict, source: str = "config") -> RunConfig:
    """Validate a nested dict into a ``RunConfig``; errors name the first offending key."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


# (table, key) of every setting that names a file or folder.
PATH_KEYS = (("array", "preset"), ("array", "empirical_table"), ("protocol", "predictor"),
             ("targets", "file"), ("targets", "level_map"), ("targets", "bounds_file"),
             ("weights", "model"))


def names_file(table: str, key: str, value: object) -> bool:
    """Whether a setting's value is a path (a preset is a file only as ``.toml``)."""
    if not isinstance(value, str) or not value:
        return False
    return (table, key) != ("array", "preset") or value.endswith(".toml")


def resolve_paths(data: dict, base: Path) -> dict:
    """``data`` with relative paths resolved against ``base``: a TOML's paths are relative to
    the TOML itself, so a config (or a run directory) works from any working directory."""
    return _map_paths(data, lambda path: path if path.is_absolute() else base / path)


def relative_paths(data: dict, base: Path) -> dict:
    """The inverse of ``resolve_paths`` for paths inside ``base`` (others stay as they are)."""
    return _map_paths(data, lambda path: path.relative_to(base) if path.is_relative_to(base)
                      else path)


def _map_paths(data: dict, change: Callable[[Path], Path]) -> dict:
    out = {table: dict(value) if isinstance(value, dict) else value
           for table, value in data.items()}
    for table, key in PATH_KEYS:
        section = out.get(table)
        if isinstance(section, dict) and names_file(table, key, section.get(key)):
            section[key] = change(Path(section[key])).as_posix()
    return out


def config_from_toml(path: str | Path) -> RunConfig:
    """A TOML configuration, its paths taken relative to the file."""
    return build_config(resolve_paths(read_toml(path), Path(path).resolve().parent), str(path))


def assemble_config(config_file: str | None, base: dict, flags: dict) -> RunConfig:
    """The configuration a command runs with: ``config_file`` (or ``base`` without one), with
    the command-line ``flags`` on top (``None`` flags left out). Paths in the file are relative
    to the file; paths among the flags to the working directory."""
    return build_config(merge(config_data(config_file, base), flags),
                        config_file or "command line")


def config_data(config_file: str | None, base: dict) -> dict:
    """The settings of ``config_file``, its paths resolved against the file; ``base`` without
    one."""
    if not config_file:
        return base
    return resolve_paths(read_toml(config_file), Path(config_file).resolve().parent)


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


def dump_toml(config: RunConfig, base: Path | None = None) -> str:
    """The configuration as TOML (tables of scalars; ``None`` values left out), paths inside
    ``base`` written relative to it (read back with ``config_from_toml``)."""
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

    data = config.model_dump(mode="json")
    emit("", relative_paths(data, Path(base).resolve()) if base is not None else data)
    return "\n".join(lines).strip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
