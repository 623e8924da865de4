"""Target conductance maps: built-in patterns or a user's file, checked before any pulse.

Targets are read conductances in siemens (what a verify read at the array's read voltage
reports), shaped like the array; NaN marks a cell with nothing to program (weight layouts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError, DataError
from hilctl.drivers.input_files import check_regular_file, load_npy

from .assemble import Job, check_memory
from .levels import level_targets


def pattern_targets(pattern: str, shape: tuple[int, int], window: tuple[float, float],
                    seed: int = 0) -> np.ndarray:
    """Targets over the window kept 10 % of its width away from each bound."""
    lo, hi = window
    margin = 0.1 * (hi - lo)
    lo, hi = lo + margin, hi - margin
    rows, cols = shape
    if pattern == "random":
        return np.random.default_rng(seed).uniform(lo, hi, size=shape)
    if pattern == "checkerboard":
        return np.where(np.indices(shape).sum(axis=0) % 2 == 0, lo, hi).astype(np.float64)
    if pattern == "gradient":
        ramp = np.linspace(lo, hi, cols) if cols > 1 else np.array([(lo + hi) / 2])
        return np.broadcast_to(ramp, shape).copy()
    raise DataError(
        f"unknown target pattern {pattern!r}; expected random, checkerboard or gradient"
    )


def programmed_cells(targets: np.ndarray) -> np.ndarray:
    """Flat (row-major) indices of the cells a target map programs: those with a finite target.

    This order is the run's cell order everywhere (store, resume, result maps), so every piece
    that maps a run's per-cell arrays back onto the array goes through here.
    """
    return np.flatnonzero(np.isfinite(np.asarray(targets).ravel()))


def load_targets(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """Read a .npy or .csv target map in siemens; shape and finiteness are checked here."""
    path = Path(path)
    if path.suffix not in (".npy", ".csv"):
        raise DataError(f"{path}: targets must be a .npy or .csv file (siemens)")
    check_regular_file(path, "targets file")
    if path.suffix == ".npy":
        targets = load_npy(path, "targets file")
    else:
        try:
            targets = np.loadtxt(path, delimiter=",", ndmin=2)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable targets file ({exc})") from None
    if targets.dtype.kind not in "iuf":
        raise DataError(f"{path}: targets must be real numbers, found dtype {targets.dtype}")
    targets = targets.astype(np.float64)
    if targets.shape != tuple(shape):
        raise DataError(f"{path}: targets have shape {targets.shape}, the array is "
                        f"{shape[0]}x{shape[1]}")
    bad = ~np.isfinite(targets)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{path}: {int(bad.sum())} target(s) are NaN or infinite, first at "
                        f"({r}, {c}); expected finite conductances in siemens")
    return targets


def check_reachable(targets: np.ndarray, window: tuple[float, float], source: str) -> None:
    """Raise ``DataError`` if a (finite) target lies outside what the devices can reach."""
    lo, hi = window
    outside = np.isfinite(targets) & ((targets < lo) | (targets > hi))
    if outside.any():
        r, c = np.argwhere(outside)[0][-2:]
        value = targets[np.isfinite(targets) & outside][0]
        raise DataError(
            f"{source}: {int(outside.sum())} target(s) outside the reachable range "
            f"[{lo:.3e}, {hi:.3e}] S, first at ({r}, {c}) = {value:.3e} S"
            f"{unit_hint(float(np.nanmax(targets)))}"
        )


# Largest plausible conductance target (S): 10 mS is far above any RRAM device's window.
MAX_TARGET_S = 1e-2


def unit_hint(largest: float) -> str:
    """The likely mistake behind targets far above any device's window: ohms or microsiemens
    where siemens were meant."""
    if largest <= MAX_TARGET_S:
        return ""
    unit = "ohms (give 1 / R)" if largest > 1e3 else "microsiemens (give targets * 1e-6)"
    return f"; targets up to {largest:g} look like {unit}: targets are in siemens, e.g. " \
           "25e-6 for 25 uS"


def targets_for(job: Job) -> np.ndarray:
    """The job's target map: the configured levels, bounds or file (checked against what the
    devices reach), or the configured pattern over the devices' window."""
    settings, shape = job.config.targets, job.shape
    if job.config.rig is None:
        check_memory(shape[0] * shape[1])  # before the first per-cell array is made
    window = job.window
    if job.bands is not None:
        if not settings.level_map:
            raise ConfigError("[levels] needs a level map: --level-map FILE (.npy of each "
                              "cell's level index or name)")
        return level_targets(settings.level_map, job.bands, shape)
    if job.cell_bands is not None:
        return job.cell_bands[0]
    if settings.file:
        targets = load_targets(settings.file, shape)
        check_reachable(targets, window, settings.file)
        return targets
    return pattern_targets(settings.pattern, shape, window, settings.seed)
