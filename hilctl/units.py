"""Quantities with units at the edges: ``10us``, ``1.2V``, ``25uS`` on the command line.

Inside the code everything is SI; these helpers are the only place unit suffixes are read.
Note the case: ``S`` is siemens, ``s`` is seconds, and ``mS`` (millisiemens) differs from
``ms`` (milliseconds).
"""

from __future__ import annotations

import math
import re

import click

# The SI prefixes hilctl reads, everywhere (command line, config, imported tables).
SI_PREFIX = {"": 1.0, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3,
             "M": 1e6, "G": 1e9}
PREFIX_CLASS = "[" + "".join(SI_PREFIX) + "]"  # a regex character class of the prefixes
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERN = re.compile(rf"^\s*({_NUMBER})\s*({PREFIX_CLASS}?)([A-Za-z]*)\s*$")


def parse_quantity(text: str, unit: str, what: str = "value") -> float:
    """Parse ``text`` such as ``10us`` into SI (here 1e-05) for the base ``unit`` ('s', 'V',
    'S', 'A'). A bare number is taken as already in SI."""
    from hilctl.drivers import ConfigError  # here, so that a command's --help loads no numpy

    match = _PATTERN.match(str(text))
    if not match:
        raise ConfigError(f"{what} = {text!r}: expected a number with optional unit {unit!r}")
    number, prefix, suffix = match.groups()
    if suffix not in ("", unit):
        raise ConfigError(f"{what} = {text!r}: expected unit {unit!r} (e.g. 10u{unit})")
    value = float(number) * SI_PREFIX[prefix]
    if not math.isfinite(value):
        raise ConfigError(f"{what} = {text!r} is not finite")
    return value


class Quantity(click.ParamType):
    """A click parameter that accepts ``10us``-style values and yields SI floats."""

    name = "quantity"

    def __init__(self, unit: str) -> None:
        self.unit = unit

    def convert(self, value, param, ctx):
        from hilctl.drivers import ConfigError

        if isinstance(value, float):
            return value
        try:
            return parse_quantity(value, self.unit, f"--{param.name}" if param else "value")
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
