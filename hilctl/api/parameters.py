"""What a mistake is called: a Python call's parameter, or the command line's flag.

    config = configure(data, given, "hilctl.program()")   # tolerance='x': ... on a bad value
    with spoken_as_flags({"targets": "--pattern"}):      # in a command: --tolerance 'x': ...
        ...

A ``SettingError`` is a ``ConfigError`` about one value the caller gave; its message names the
parameter (``tolerance=5e-07: ...``). A command calls the API inside ``spoken_as_flags``,
which says the same mistake with the flag (``--tolerance 5e-07: ...``). A setting the caller
did not give (one from a TOML file) keeps its config key (``protocol.tolerance``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from hilctl.drivers import ConfigError

from ..config import RunConfig
from ..config_tables import describe_validation_error
from ..registry import PROTOCOLS

# The config key each parameter of the API sets (the CLI's flag of the same name sets it too).
PARAMETERS = {
    "array.rows": "rows", "array.cols": "cols", "array.seed": "seed", "array.preset": "preset",
    "protocol.name": "protocol", "protocol.tolerance": "tolerance",
    "protocol.tolerance_abs_S": "tolerance", "protocol.max_pulses": "max_pulses",
    "protocol.planner": "planner", "protocol.predictor": "predictor",
    "targets.pattern": "targets", "weights.model": "weights",
    "device_book.path": "device_book",
    **{f"characterize.{key}": key for key in ("sampling", "grid_points", "start", "repeats",
                                              "set_V", "reset_V", "width_s", "set_gate_V",
                                              "reset_gate_V")},
}


class SettingError(ConfigError):
    """A value the caller gave for ``parameter`` is wrong: ``problem`` says why."""

    def __init__(self, parameter: str, value: object, problem: str) -> None:
        super().__init__(f"{parameter}={value!r}: {problem}")
        self.parameter, self.value, self.problem = parameter, value, problem

    def as_flag(self, flag: str) -> ConfigError:
        """The same mistake, as the command line's ``flag`` gave it."""
        return ConfigError(f"{flag} {shlex.quote(str(self.value))}: {self.problem}")


def configure(data: dict, given: dict, source: str) -> RunConfig:
    """Validate ``data``; a bad value among ``given`` (the nested settings the caller's
    parameters set, None where not given) is a ``SettingError`` naming the parameter."""
    keys = dict(_given_keys(given))
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = first["msg"].removeprefix("Value error, ")
        key = _key_of(first["loc"], problem, keys)
        if key in PARAMETERS:
            raise SettingError(PARAMETERS[key], keys[key], problem) from None
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None
    if "protocol.name" in keys and config.protocol.name not in PROTOCOLS:
        raise SettingError("protocol", config.protocol.name,
                           f"unknown; known protocols: {', '.join(PROTOCOLS)}")
    return config


def check_protocol_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` if every one is a protocol hilctl knows, else a ``SettingError``."""
    unknown = [name for name in names if name not in PROTOCOLS]
    if unknown or not names:
        raise SettingError("protocols", ",".join(names),
                           f"{', '.join(unknown) or 'none'} unknown; choose from "
                           f"{', '.join(PROTOCOLS)}")
    return list(names)


def _given_keys(given: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(``table.key``, value) of every setting given."""
    for key, value in given.items():
        if isinstance(value, dict):
            yield from _given_keys(value, f"{prefix}{key}.")
        elif value is not None:
            yield f"{prefix}{key}", value


def _key_of(loc: tuple, problem: str, given: dict[str, object]) -> str | None:
    """The given setting an error is about: the one at its location, or, for a check of the
    whole configuration (an unknown preset), the one given value the message quotes."""
    key = ".".join(str(part) for part in loc[:2])  # table.key: where parameters live
    if key in given:
        return key
    quoted = [k for k, value in given.items() if not loc and repr(value) in problem]
    return quoted[0] if len(quoted) == 1 else None


@contextmanager
def spoken_as_flags(flags: dict[str, str] | None = None) -> Iterator[None]:
    """Inside a command: a ``SettingError`` names the flag (``--max-pulses`` for
    ``max_pulses``, or the one ``flags`` gives for a parameter spelled otherwise)."""
    try:
        yield
    except SettingError as exc:
        flag = (flags or {}).get(exc.parameter, "--" + exc.parameter.replace("_", "-"))
        raise exc.as_flag(flag) from None


def silent(*args, **kwargs) -> None:
    """The API's default ``say``: progress lines nobody asked for go nowhere."""
