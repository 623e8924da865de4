"""Arrays by URL: one handler per scheme, chosen explicitly, nothing opened until asked.

``sim://?rows=64&cols=64&seed=7&preset=hfox-1t1r`` is the embedded simulated array; a path to a
TOML file is a configuration (a rig's ``[rig]`` table, or any ``hilctl program`` config; its
paths relative to the file). An ``Array`` is a description: each run opens it afresh, as
``hilctl program`` does, so a simulated array starts every run from its seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from hilctl.drivers import ConfigError, Crossbar

from ..assemble import Job
from ..config import RunConfig, build_config, config_data, config_from_toml, merge
from .parameters import configure

SIM_KEYS = {"rows": int, "cols": int, "seed": int, "preset": str}


@dataclass(frozen=True)
class Array:
    """A simulated array or a rig, as a URL or TOML named it.

    ``config`` holds the array's part of a run configuration (``[array]``, ``[device]``,
    ``[limits]``, ``[rig]``, and whatever else the TOML set); ``hilctl.program`` adds the
    protocol and targets on top. ``open()`` gives the live ``Crossbar`` for use in a ``with``
    block (outputs off at 0 V on exit).
    """

    url: str
    config: RunConfig

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols): the shape targets must have."""
        return (self.config.array.rows, self.config.array.cols)

    @property
    def simulated(self) -> bool:
        """True for the embedded simulator (a run then also reports true conductances)."""
        return self.config.rig is None

    def open(self) -> Crossbar:
        """The live crossbar (a fresh simulated array, or the rig connected and configured)."""
        return Job(self.config).open_crossbar()

    def __repr__(self) -> str:
        rows, cols = self.shape
        if self.simulated:
            what = f"simulated {self.config.array.preset}, seed {self.config.array.seed}"
        else:
            what = f"rig: SMU {self.config.rig.smu.model} at {self.config.rig.smu.resource}"
        return f"<hilctl.Array {rows}x{cols} {what} ({self.url})>"


def _sim(url: str) -> RunConfig:
    parts = urlsplit(url)
    if parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(f"{url!r}: a sim:// URL takes only a query, e.g. "
                          "sim://?rows=64&cols=64&seed=7&preset=hfox-1t1r")
    array = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in SIM_KEYS:
            raise ConfigError(f"{url!r}: unknown key {key!r}; a sim:// URL takes "
                              f"{', '.join(SIM_KEYS)}")
        try:
            array[key] = SIM_KEYS[key](value)
        except ValueError:
            raise ConfigError(f"{url!r}: {key} = {value!r} is not a whole number") from None
    return build_config({"array": array}, url)


def _toml(url: str) -> RunConfig:
    path = Path(url.removeprefix("file://"))
    if path.suffix != ".toml":
        raise ConfigError(f"{url!r}: expected a .toml configuration file")
    return config_from_toml(path)


# scheme -> handler; a path without a scheme is a TOML file.
SCHEMES: dict[str, Callable[[str], RunConfig]] = {"sim": _sim, "file": _toml}


def open_array(url_or_toml: str | Path = "sim://") -> Array:
    """The array a URL or TOML path names, its configuration checked now (nothing is opened).

    ``sim://?rows=64&cols=64&seed=7&preset=hfox-1t1r`` (every key optional: 64x64, seed 0,
    the default preset), or ``rig.toml`` / ``file://rig.toml``.
    """
    text = str(url_or_toml)
    scheme = text.split("://", 1)[0] if "://" in text else "file"
    if scheme not in SCHEMES:
        raise ConfigError(f"{text!r}: unknown array scheme {scheme!r}; hilctl opens "
                          + ", ".join(f"{name}://" for name in SCHEMES) + " or a TOML path")
    return Array(text, SCHEMES[scheme](text))


def array_from(config_file: str | None, given: dict, base: dict | None = None) -> Array:
    """The array of a command's ``--config`` (or ``base``) with the settings its flags gave
    on top (``given``, nested; None where a flag was not given)."""
    source = config_file or "command line"
    data = merge(config_data(config_file, base or {}), given)
    return Array(source, configure(data, given, source))
