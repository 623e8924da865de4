"""Programming runs from Python: ``program`` makes one, ``load_run`` reads one, ``Run`` is one.

A run is always a run directory (the one ``hilctl program`` writes): ``out=None`` puts it in a
temporary directory removed with the ``Run`` object, ``Run.save`` keeps a copy. The CLI's
``program`` command is a wrapper over ``start_run``, the one path from a configuration to a
stored run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError, DataError, ResumeError

from ..assemble import Job
from ..config import RunConfig, merge
from ..registry import protocol_entry
from ..report.progress import round_progress
from ..run.inputs import copy_inputs, remove_inputs
from ..run.runner import (
    CONFIG_NAME,
    STORE_NAME,
    TARGETS_NAME,
    RunOutcome,
    load_run_config,
    new_run,
    resume_run,
)
from ..run.store import RunStore
from ..targets import check_reachable, programmed_cells, targets_for
from ..units import parse_quantity
from ..weights.job import compensation_for_run, pair_compensation, weights_job
from .backends import Array, open_array
from .parameters import SettingError, configure
from .pulses import export_pulses, pulse_table


def tolerance_settings(value: float | str | None) -> dict:
    """``0.5uS`` is an absolute band in siemens; a number, ``"5%"`` or ``"0.05"`` is relative
    (checked by the config)."""
    if value is None or not isinstance(value, str):
        return {} if value is None else {"tolerance": value}
    text = value.strip()
    if not text.endswith("S"):
        return {"tolerance": text}
    try:
        return {"tolerance_abs_S": parse_quantity(text, "S", "tolerance")}
    except ConfigError:
        raise SettingError("tolerance", text, "expected a fraction (0.05), a percentage (5%) "
                           "or an absolute band in siemens (0.5uS)") from None


def start_run(job: Job, run_dir: Path, targets: np.ndarray | None = None,
              progress=None) -> RunOutcome:
    """Program ``targets`` (default: the configured weights, file or pattern) into a new run
    directory that holds copies of every file the configuration names."""
    run_dir = Path(run_dir)
    extra_files, layout, retarget = {}, None, None
    if job.config.weights.model:
        targets, extra_files, layout = weights_job(job)
        retarget = pair_compensation(layout, targets)
    elif targets is None:
        targets = targets_for(job)
    warn_if_band_below_read_noise(job, targets)
    made = not run_dir.exists()
    try:
        outcome = new_run(job, run_dir, targets, progress=progress,
                          extra_files=extra_files, retarget=retarget, inputs=copy_inputs)
    except BaseException:
        remove_inputs(run_dir)
        if made and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    if layout is not None:
        outcome.summary["layout"] = layout.describe()
        outcome.summary["arrays"] = layout.n_arrays
    return outcome


def check_targets(targets: object, shape: tuple[int, int],
                  window: tuple[float, float]) -> np.ndarray:
    """Targets in siemens shaped like the array (NaN: leave the cell alone), refused with the
    likely mistake when their shape or size is not that, or when the devices' ``window``
    (S) cannot hold them."""
    try:
        values = np.asarray(targets, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("targets: expected numbers (conductances in siemens), an array shaped "
                        "like the array, or a pattern name") from None
    if values.shape != shape:
        hint = (f"; use targets.reshape({shape[0]}, {shape[1]})"
                if values.size == shape[0] * shape[1] else "")
        raise DataError(f"targets have shape {values.shape}, the array is "
                        f"{shape[0]}x{shape[1]}{hint}")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise DataError("targets: no finite target; NaN marks a cell to leave alone")
    if finite.min() <= 0:
        raise DataError(f"targets: {finite.min():g} is not a conductance (expected siemens > 0)")
    check_reachable(values, window, "targets")
    return values


class Run:
    """One stored programming run, read from its directory.

    ``conductance`` (the last verify read per cell, S, shaped like the targets: (rows, cols),
    or (arrays, rows, cols) for a weights run), ``true_conductance`` (simulator only, else
    None), ``targets``, ``summary()`` (the ``result.json`` fields), ``pulses()`` (every pulse
    and read), ``export(path, format)``, ``resume()``, ``save(path)``.
    """

    def __init__(self, path: str | Path, _temporary: tempfile.TemporaryDirectory | None = None):
        self.path = Path(path)
        if not (self.path / CONFIG_NAME).is_file() or not (self.path / STORE_NAME).is_file():
            raise ResumeError(f"{self.path}: not a run directory (no {CONFIG_NAME} and "
                              f"{STORE_NAME})")
        self._temporary = _temporary  # removes an in-memory run's directory with this object

    @property
    def config(self) -> RunConfig:
        """The configuration the run was made with (``config.toml``)."""
        return load_run_config(self.path)

    @property
    def targets(self) -> np.ndarray:
        """The target map (S, NaN where no cell was programmed)."""
        return np.load(self.path / TARGETS_NAME, allow_pickle=False)

    @property
    def conductance(self) -> np.ndarray:
        """The last verify read per cell (S), shaped like ``targets``."""
        return self._result_map("conductance.npy")

    @property
    def true_conductance(self) -> np.ndarray | None:
        """The devices' noise-free conductance at the end (S); None on a rig."""
        if not (self.path / "true_conductance.npy").is_file():
            return None
        return self._result_map("true_conductance.npy")

    def summary(self) -> dict:
        """The figures of ``result.json`` (success, pulses, rounds, time, energy, ...)."""
        return json.loads(self._result_file("result.json").read_text())

    def pulses(self):
        """Every pulse and read, one row each (see ``hilctl.api.pulses``): a pandas DataFrame
        if pandas is installed, else a dict of numpy columns. Holds the whole history in
        memory; ``export`` streams instead."""
        return pulse_table(self.path)

    def export(self, path: str | Path, format: str = "csv") -> list[Path]:
        """Write every pulse to ``path`` (``csv`` or ``hdf5``), round by round; returns the
        files written (a weights run adds the cell-to-weight map)."""
        return export_pulses(self.path, Path(path), format)

    def resume(self, progress: bool = False) -> Run:
        """Continue an interrupted run from its last stored round (a finished one is left)."""
        with RunStore(self.path / STORE_NAME) as store:
            if store.meta().get("status") == "complete":
                return self
        with round_progress(f"resuming {self.path}", progress) as hook:
            resume_run(self.path, progress=hook, retarget=compensation_for_run(self.path))
        return self

    def save(self, path: str | Path) -> Run:
        """A copy of this run's directory at ``path`` (complete: it resumes and loads there)."""
        if Path(path).exists():
            raise DataError(f"{path} exists; save a run to a new path")
        shutil.copytree(self.path, path, ignore=shutil.ignore_patterns("run.lock"))
        return Run(path)

    def _result_file(self, name: str) -> Path:
        path = self.path / name
        if not path.is_file():
            raise ResumeError(f"{self.path}: the run has not finished (no {name}); "
                              f"continue it with hilctl.load_run({str(self.path)!r}).resume()")
        return path

    def _result_map(self, name: str) -> np.ndarray:
        return np.load(self._result_file(name), allow_pickle=False)

    def __repr__(self) -> str:
        where = "in memory" if self._temporary else str(self.path)
        try:
            s = self.summary()
        except ResumeError:
            return f"<hilctl.Run {where}: not finished>"
        return (f"<hilctl.Run {where}: {s['protocol']} on {s['cells']} cells, "
                f"{s['success_rate']:.1%} in band ({s['tolerance']}), "
                f"{s['pulses_mean']:.2f} pulses per cell>")


def _check_planner(config: RunConfig) -> None:
    """A planned protocol without what its planner needs, said in ``program``'s parameters."""
    p = config.protocol
    if protocol_entry(p.name).needs_planner and p.planner in ("neural", "lookup") and \
            p.predictor is None:
        what = "a pulse-response table" if p.planner == "lookup" else "a trained predictor"
        raise ConfigError(f"program(): protocol={p.name!r} with planner={p.planner!r} needs "
                          f"predictor= ({what}, see hilctl.train_predictor and "
                          "hilctl.characterize), or planner='oracle' on a simulator")


def load_run(path: str | Path) -> Run:
    """The run stored in directory ``path`` (made by ``hilctl program`` or ``hilctl.program``)."""
    return Run(path)


def program(array: Array | str, targets: object = None, *, protocol: str | None = None,
            tolerance: float | str | None = None, max_pulses: int | None = None,
            planner: str | None = None, predictor: str | Path | None = None,
            weights: str | Path | None = None, out: str | Path | None = None,
            settings: dict | None = None, progress: bool = False) -> Run:
    """Program ``array`` and return the stored ``Run``.

    ``targets``: conductances in siemens shaped like the array (NaN: leave the cell), or a
    pattern name (``"random"``, ``"checkerboard"``, ``"gradient"``); or ``weights``: a trained
    model directory whose layers become the targets. ``tolerance``: ``0.05``, ``"5%"`` or
    ``"0.5uS"``. ``predictor``: a trained predictor directory (or a pulse-response table for
    ``planner="lookup"``). ``out``: the run directory to create; None keeps the run in a
    temporary directory for as long as the ``Run`` object lives. ``settings``: any further
    tables of a TOML configuration, e.g. ``{"protocol": {"gate_V": 1.6}}``. A setting left as
    None keeps the array's configuration (a TOML's ``[protocol]``), else hilctl's default.
    """
    array = array if isinstance(array, Array) else open_array(array)
    if weights is not None and targets is not None:
        raise ConfigError("program(): give targets or weights, not both")
    pattern = targets if isinstance(targets, str) else None
    base = merge(array.config.model_dump(mode="json"), settings or {})
    given = {
        "protocol": {"name": protocol, "max_pulses": max_pulses, "planner": planner,
                     "predictor": predictor and str(Path(predictor).resolve()),
                     **tolerance_settings(tolerance)},
        "targets": {"pattern": pattern},
        "weights": {"model": weights and str(Path(weights).resolve())},
    }
    config = configure(merge(base, given), given, "hilctl.program()")
    _check_planner(config)
    job = Job(config)
    values = None if targets is None or pattern else check_targets(targets, job.shape,
                                                                   job.window)
    temporary = None
    if out is None:
        temporary = tempfile.TemporaryDirectory(prefix="hilctl-run-")
    run_dir = Path(out or temporary.name)
    if (run_dir / STORE_NAME).exists():
        raise ResumeError(f"out={str(run_dir)!r} already holds a run; load it with "
                          f"hilctl.load_run({str(run_dir)!r}) or choose another out")
    with round_progress(config.protocol.name, progress) as hook:
        start_run(job, run_dir, values, hook)
    return Run(run_dir, temporary)


class BandBelowReadNoise(UserWarning):
    """A tolerance band narrower than the array's read noise."""


def warn_if_band_below_read_noise(job: Job, targets: np.ndarray) -> None:
    """Warn when the median target's band is narrower than one sigma of the simulated read
    noise, sqrt((relative * G)^2 + floor^2): verify reads then land in the band by chance
    only, and a cell can spend its whole pulse budget bouncing around its target."""
    config = job.config
    if config.rig is not None or config.array.empirical_table is not None:
        return  # the noise of a rig or a measured table is not known here
    params = job.params
    g = targets.ravel()[programmed_cells(targets)]
    if g.size == 0:
        return
    half = float(np.median(job.stop_rules.tolerance.half_width(g)))
    g_mid = float(np.median(g))
    sigma = float(np.hypot(params.read_noise_relative * g_mid, params.read_noise_floor_S))
    if half < sigma:
        warnings.warn(f"the tolerance band (+-{half:.3g} S at the median target {g_mid:.3g} S) "
                      f"is narrower than the read noise (sigma {sigma:.3g} S): reads land in it "
                      f"by chance, and cells may use all {config.protocol.max_pulses} pulses",
                      BandBelowReadNoise, stacklevel=2)
