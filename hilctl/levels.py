"""Multi-level targets: named conductance bands (``[levels]``) and the map of each cell's level.

A ``[levels]`` table names n levels in order, each with a lower and/or upper bound, in siemens
or with units (``166.4uS``)::

    [levels]
    L0 = { lower = "200uS" }
    L1 = { lower = "166.4uS", upper = "173.3uS" }

An open side closes at the devices' range (0 S below, the top of the nominal window above),
so every band has a centre to aim at. A level map (.npy) gives each cell's level as an index
or a name; cells marked -1 (or an empty name) are not programmed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError, DataError
from hilctl.drivers.input_files import load_npy, load_npz
from hilctl.drivers.toml_file import read_toml
from hilctl.protocols.tolerance import Bands, CellBands

from .units import parse_quantity


def levels_table(path: str | Path) -> dict:
    """The ``[levels]`` table of the TOML file at ``path`` (``--levels FILE``)."""
    table = read_toml(path).get("levels")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: no [levels] table (one entry per level: "
                          "L1 = { lower = \"166.4uS\", upper = \"173.3uS\" })")
    return table


def parse_levels(table: dict, window: tuple[float, float]) -> Bands:
    """Bands from a ``[levels]`` table, checked against the devices' ``window`` (S)."""
    if not table:
        raise ConfigError("levels: no levels given")
    top = window[1]
    names, lower, upper = [], [], []
    for name, bounds in table.items():
        unknown = set(bounds) - {"lower", "upper"}
        if unknown or not bounds:
            raise ConfigError(f"levels.{name}: expected lower and/or upper, got "
                              f"{', '.join(sorted(unknown)) or 'nothing'}")
        lo, hi = (_bound(name, key, bounds.get(key)) for key in ("lower", "upper"))
        for key, value in (("lower", lo), ("upper", hi)):
            if value is not None and not 0 <= value <= top:
                raise ConfigError(f"levels.{name}.{key} = {value:.4g} S is outside the devices' "
                                  f"range [0, {top:.4g}] S")
        names.append(name)
        lower.append(0.0 if lo is None else lo)
        upper.append(top if hi is None else hi)
    return Bands(tuple(names), np.array(lower), np.array(upper))


def _bound(level: str, key: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return parse_quantity(value, "S", f"levels.{level}.{key}")


def level_targets(path: str | Path, bands: Bands, shape: tuple[int, int]) -> np.ndarray:
    """Each cell's target (its band's centre, S) from a level map; NaN where not programmed."""
    path = Path(path)
    levels = load_npy(path, "level map (.npy of level indices or names)")
    if levels.shape != tuple(shape):
        raise DataError(f"{path}: level map has shape {levels.shape}, the array is "
                        f"{shape[0]}x{shape[1]}")
    if levels.dtype.kind in "US":
        levels = _indices_of_names(path, levels.astype(str), bands)
    elif levels.dtype.kind not in "iu":
        raise DataError(f"{path}: level map must hold level indices or names, found dtype "
                        f"{levels.dtype}")
    bad = (levels < -1) | (levels >= len(bands.names))
    if bad.any():
        raise DataError(f"{path}: level {int(levels[bad].flat[0])} is unknown; levels are "
                        f"0..{len(bands.names) - 1} ({', '.join(bands.names)}) or -1")
    return np.where(levels >= 0, bands.targets_S[np.maximum(levels, 0)], np.nan)


def _indices_of_names(path: Path, text: np.ndarray, bands: Bands) -> np.ndarray:
    names = np.array(bands.names + ("",))
    codes = np.append(np.arange(len(bands.names)), -1)
    unknown = ~np.isin(text, names)
    if unknown.any():
        raise DataError(f"{path}: level {str(text[unknown].flat[0])!r} is not one of "
                        f"{', '.join(bands.names)}")
    order = np.argsort(names)
    return codes[order][np.searchsorted(names[order], text)]


def bounds_targets(path: str | Path, shape: tuple[int, int],
                   window: tuple[float, float]) -> tuple[np.ndarray, CellBands]:
    """Targets (band centres, NaN where not programmed) and bands from a per-cell bounds file:
    an .npz with ``lower_S`` and ``upper_S`` shaped like the array, NaN for an open side (closed
    at the devices' range as for levels), both NaN for a cell not programmed."""
    path = Path(path)
    data = load_npz(path, ["lower_S", "upper_S"], "bounds file (.npz of lower_S and upper_S)")
    lower, upper = data["lower_S"].astype(float), data["upper_S"].astype(float)
    if lower.shape != tuple(shape) or upper.shape != tuple(shape):
        raise DataError(f"{path}: bounds have shapes {lower.shape} and {upper.shape}, the array "
                        f"is {shape[0]}x{shape[1]}")
    used = ~(np.isnan(lower) & np.isnan(upper))
    lower = np.where(np.isnan(lower), 0.0, lower)
    upper = np.where(np.isnan(upper), window[1], upper)
    outside = used & ((lower < 0) | (upper > window[1]) | (lower > window[1]))
    if outside.any():
        r, c = np.argwhere(outside)[0]
        raise DataError(f"{path}: the band of ({r}, {c}) [{lower[r, c]:.4g}, {upper[r, c]:.4g}] S "
                        f"lies outside the devices' range [0, {window[1]:.4g}] S")
    try:
        bands = CellBands(lower[used], upper[used])
    except ConfigError as exc:
        raise DataError(f"{path}: {exc}") from None
    return np.where(used, 0.5 * (lower + upper), np.nan), bands
