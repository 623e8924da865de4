"""Runs a programming protocol as a stored, resumable run in a run directory.

The protocol decides; this module builds the crossbar and targets from the configuration,
hands them to an ``Engine`` with two subscribers (the run store's writer, with the simulator's
checkpoints, the progress bar), and writes the run directory: ``config.toml``,
``store.sqlite`` and ``store.rounds`` (the run store, see ``store.py``),
``targets.npy``, ``conductance.npy`` (last verify read per cell), ``true_conductance.npy``
(simulator only), ``result.json``, ``error_map.png`` and ``run.lock`` (held while a process
runs it, see ``lock.py``).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers import (
    Cells,
    Checkpointable,
    Crossbar,
    PulseBatch,
    ResumeError,
)
from hilctl.drivers.atomic_file import check_output_directory, refuse_links, write_atomic
from hilctl.drivers.checksums import sha256
from hilctl.protocols import (
    CostModel,
    Engine,
    ProgrammingProtocol,
    ProgramResult,
    Subscriber,
)
from hilctl.protocols.engine import Retarget
from hilctl.protocols.tolerance import Bands

from ..assemble import Job, device_usage
from ..config import RunConfig, config_from_toml, dump_toml
from ..registry import build_protocol
from ..report.error_map import write_error_map
from ..targets import programmed_cells
from .book_link import RunBook, held_book, planner_of
from .checkpoints import replay_pulses
from .lock import LOCK_NAME, run_lock
from .store import CHANGES, CHECKPOINTS, RunStore
from .store_size import check_disk
from .store_writer import make_writer

STORE_NAME = "store.sqlite"
PROGRAM = "program"  # the run kind of a store (``meta.kind``), as the command is named
CONFIG_NAME = "config.toml"
TARGETS_NAME = "targets.npy"



@dataclass
class RunOutcome:
    result: ProgramResult
    summary: dict


def save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_atomic(path, buffer.getvalue())


def new_run(job: Job, run_dir: Path, targets: np.ndarray,
            protocol: ProgrammingProtocol | None = None, progress: Subscriber | None = None,
            extra_files: dict[str, bytes | str] | None = None,
            retarget: Retarget | None = None,
            inputs: Callable[[RunConfig, Path], RunConfig] | None = None) -> RunOutcome:
    """Program ``targets`` (S, NaN = leave the cell alone) into a fresh run directory.

    ``targets`` is shaped (rows, cols), or (n_arrays, rows, cols) for a job spread over several
    arrays. ``extra_files`` (relative path -> content) are written beside the run's own files.
    ``retarget`` may give cells new targets once the protocol is done (pair compensation);
    ``progress`` is subscribed to the run's records. ``inputs`` copies the files the config
    names into the checked directory and returns the config naming the copies.
    """
    run_dir = Path(run_dir)
    check_output_directory(run_dir, STORE_NAME, "run", create=False)
    # Checked before anything is made, so a run refused here leaves no directory behind.
    flat = programmed_cells(targets)
    job.stop_rules.tolerance.half_width(targets.ravel()[flat])
    check_disk(flat.size, run_dir)
    with held_book(job.config.device_book), fresh_run_dir(run_dir):
        if inputs is not None:
            # The copies hold the same bytes, so the parts already built stay the job's.
            job.config = inputs(job.config, run_dir)
        return _new_run(job, run_dir, targets, protocol, progress, extra_files, retarget)


@contextmanager
def fresh_run_dir(run_dir: Path) -> Iterator[None]:
    """Hold a new run directory locked; refuse one that holds a run already, and take back
    a directory this made if the run fails before its store exists."""
    refuse_links(run_dir)
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(run_dir):
            if (run_dir / STORE_NAME).exists():
                raise ResumeError(f"{run_dir}: already holds a run; resume it with --resume "
                                  f"{run_dir} or choose another directory")
            yield
    except BaseException:
        if made and not (run_dir / STORE_NAME).exists():
            _remove_unstarted(run_dir)
        raise


def _remove_unstarted(run_dir: Path) -> None:
    """Take back the directory of a run refused before its store existed (a rig that would
    not open, a protocol its limits refuse), so the same command can simply be run again."""
    (run_dir / LOCK_NAME).unlink(missing_ok=True)
    if not any(run_dir.iterdir()):
        run_dir.rmdir()


def _new_run(job: Job, run_dir: Path, targets: np.ndarray,
             protocol: ProgrammingProtocol | None, progress: Subscriber | None,
             extra_files: dict[str, bytes | str] | None,
             retarget: Retarget | None) -> RunOutcome:
    crossbar = job.open_crossbar(arrays_in(targets))
    with crossbar:
        protocol = protocol or build_protocol(job, crossbar)
        protocol.check(crossbar.limits)
        cost = job.cost_model(crossbar)  # a schedule the rig cannot do: refused before any file
        config_text = dump_toml(job.config, run_dir)  # its own copies named relative to it
        write_atomic(run_dir / CONFIG_NAME, config_text)
        save_npy(run_dir / TARGETS_NAME, targets)
        for name, data in (extra_files or {}).items():
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(run_dir / name, data)
        lean = isinstance(crossbar, Checkpointable)
        store = RunStore(run_dir / STORE_NAME, create=True, holds=CHECKPOINTS if lean else CHANGES)
        store.set_meta(config_sha256=text_hash(config_text), protocol=protocol.name,
                       targets_sha256=sha256((run_dir / TARGETS_NAME).read_bytes()),
                       shape=list(crossbar.shape), status="running", run_id=new_run_id(),
                       kind=PROGRAM)
        with store:
            return _execute(job, run_dir, crossbar, cost, store, protocol, targets, None,
                            progress, retarget)


def resume_run(run_dir: Path, config: RunConfig | None = None,
               protocol: ProgrammingProtocol | None = None,
               progress: Subscriber | None = None,
               retarget: Retarget | None = None) -> RunOutcome:
    """Continue a run from its last stored round; refuse one made with another configuration.

    ``retarget`` is what the run was started with (``new_run``'s), given again by the caller.

    On a rig, a round journaled but never stored (see ``store.py``) is booked first: its cells
    are re-read and its pulses counted as applied, since the rig may have sent all, some or none
    of them; what the rig did is known only through those reads, so such a resume continues
    the run faithfully but cannot reproduce an uninterrupted one. A simulated array journals
    nothing: it is rebuilt from the devices' snapshots of the stored rounds, so a round lost in
    flight never happened to it and is computed again bit for bit.
    """
    run_dir = Path(run_dir)
    refuse_links(run_dir)
    with RunStore(run_dir / STORE_NAME) as store, run_lock(run_dir):
        refuse_other_kind(run_dir, store, PROGRAM)
        store.refuse_old_format()
        stored = load_run_config(run_dir)
        if config is not None and config.fingerprint() != stored.fingerprint():
            raise ResumeError(f"{run_dir}: was made with a different configuration "
                              f"({describe_difference(stored, config)})")
        # Same run, perhaps with its instruments at new addresses: those come from ``config``.
        job = Job(config or stored)
        targets, state, crossbar = _restore(run_dir, job, store)
        with crossbar:
            protocol = protocol or build_protocol(job, crossbar)
            return _execute(job, run_dir, crossbar, job.cost_model(crossbar), store, protocol,
                            targets, state, progress, retarget)


def reopen_run(run_dir: Path) -> tuple[Crossbar, Cells, np.ndarray]:
    """The array a run programmed, as the run left it, with the run's cells and target map.

    A rig is simply opened (its devices kept their state); a simulated array is rebuilt and
    brought to the state after the last stored round (a lean store's last checkpoint, then
    the stored pulses after it replayed through the physics). Use it as a context manager.
    """
    run_dir = Path(run_dir)
    with RunStore(run_dir / STORE_NAME) as store:
        targets, _, crossbar = _restore(run_dir, Job(load_run_config(run_dir)), store)
        flat = programmed_cells(targets)
        if store.holds == CHECKPOINTS and isinstance(crossbar, Checkpointable):
            _replay_after_checkpoint(crossbar, store, flat)
    return crossbar, Cells.from_flat(flat, crossbar.shape), targets


def _replay_after_checkpoint(crossbar: Crossbar, store: RunStore, flat: np.ndarray) -> None:
    last = store.last_checkpoint()
    for stored in store.rounds(checkpoints=False):
        if stored.number > last and "polarity" in stored.pulses:
            cells = Cells.from_flat(flat[stored.pulses["index"]], crossbar.shape)
            replay_pulses(crossbar, cells, stored.pulses)


def _restore(run_dir: Path, job: Job, store: RunStore):
    meta = store.meta()
    check_config_unchanged(run_dir, meta)
    targets_bytes = (run_dir / TARGETS_NAME).read_bytes()
    if meta.get("targets_sha256", sha256(targets_bytes)) != sha256(targets_bytes):
        raise ResumeError(f"{run_dir}/{TARGETS_NAME} was changed after the run was made; "
                          "restore it to resume")
    targets = np.load(io.BytesIO(targets_bytes), allow_pickle=False)
    state, backend_changes = store.replay()
    flat = programmed_cells(targets)
    crossbar = job.open_crossbar(arrays_in(targets))
    rebuild(crossbar, store, backend_changes, flat)
    return targets, state, crossbar


def check_config_unchanged(run_dir: Path, meta: dict) -> None:
    if meta.get("config_sha256") != text_hash((run_dir / CONFIG_NAME).read_text()):
        raise ResumeError(f"{run_dir}/{CONFIG_NAME} was changed after the run was made; "
                          "restore it to resume")


def refuse_other_kind(run_dir: Path, store: RunStore, kind: str) -> None:
    """A program run resumes as one, a characterization as one (older stores: programs)."""
    stored = store.meta().get("kind", PROGRAM)
    if stored != kind:
        raise ResumeError(f"{run_dir}: holds a {stored} run; resume it with hilctl {stored} "
                          f"--resume {run_dir}")


def rebuild(crossbar: Crossbar, store: RunStore, backend_changes: list,
            flat: np.ndarray) -> None:
    """Bring a simulated array to the store's device checkpoints, in order (a rig keeps its
    state); ``flat`` maps the run's cell positions to the array's flat indices."""
    if isinstance(crossbar, Checkpointable):
        if store.round_count() and not backend_changes:
            raise ResumeError(f"{store.path}: holds rounds but no device checkpoint; a "
                              "simulated array cannot be rebuilt from it")
        for positions, change in backend_changes:
            if positions is not None:
                change["index"] = flat[positions]
            crossbar.sim_restore(change)


def new_run_id() -> str:
    """A run's id in its records and store (unique; the directory may be renamed)."""
    return uuid.uuid4().hex[:12]


def run_id_of(store: RunStore) -> str:
    """The stored run id (a store from before run ids: its file's folder name)."""
    return store.meta().get("run_id", store.path.parent.name)


def run_identity(run_dir: Path, store: RunStore) -> str:
    """A run's name in a device book: its id, or for a store from before ids its directory
    and the hashes of its config and targets."""
    meta = store.meta()
    return meta.get("run_id") or (f"{Path(run_dir).resolve()}:{meta.get('config_sha256')}:"
                                  f"{meta.get('targets_sha256')}")


def text_hash(text: str) -> str:
    return sha256(text.encode())


def arrays_in(targets: np.ndarray) -> int:
    """How many arrays a target map spans: (n_arrays, rows, cols) or (rows, cols)."""
    return int(targets.shape[0]) if targets.ndim == 3 else 1


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ResumeError(f"{run_dir}: not a run directory (no {CONFIG_NAME})")
    return config_from_toml(path)


def describe_difference(a: RunConfig, b: RunConfig) -> str:
    flat_a, flat_b = _flatten(a.what_it_does()), _flatten(b.what_it_does())
    keys = sorted(k for k in flat_a.keys() | flat_b.keys() if flat_a.get(k) != flat_b.get(k))
    shown = ", ".join(f"{k}: {flat_a.get(k)!r} -> {flat_b.get(k)!r}" for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def stored_engine(crossbar: Crossbar, cells: Cells, store: RunStore, seed: int | None,
                  progress: Subscriber | None) -> Engine:
    """An engine whose rounds go to ``store`` (with device checkpoints on a simulated array,
    written on a thread; a rig's journaled and committed before the next is sent) and to
    ``progress``."""
    checkpointable = isinstance(crossbar, Checkpointable)
    engine = Engine(crossbar, run_id_of(store), seed,
                    journal=None if checkpointable else store.journal)
    engine.subscribe(make_writer(store, crossbar, cells))
    if progress is not None:
        engine.subscribe(progress)
    return engine


def _execute(job: Job, run_dir: Path, crossbar: Crossbar, cost: CostModel, store: RunStore,
             protocol: ProgrammingProtocol, targets: np.ndarray, state,
             progress: Subscriber | None, retarget: Retarget | None) -> RunOutcome:
    flat = programmed_cells(targets)
    cells = Cells.from_flat(flat, crossbar.shape)
    started = time.perf_counter()
    asked = targets.ravel()[flat]
    engine = stored_engine(crossbar, cells, store, job.config.array.seed, progress)
    rules = job.stop_rules
    unconfirmed = _unconfirmed(store, cells) if state is not None else None
    with RunBook(job.config, crossbar, planner_of(protocol), cells) as book:
        result = engine.program(protocol, cells, asked, rules, cost, state, retarget,
                                unconfirmed)
        # The device book's update: one call at the end of a finished (or resumed) run.
        booked = book.finish(run_identity(run_dir, store), lambda: store.pulse_counts(len(cells)))
    wall = time.perf_counter() - started
    summary = {**result.summary(), **booked, "wall_s": wall, "run_dir": str(run_dir),
               "retargeted_cells": int(np.sum(result.targets != asked)),
               "tolerance": rules.tolerance.describe(),
               "array_shape": list(crossbar.shape), **device_usage(crossbar),
               "program_time_per_array_s": result.program_time_s / arrays_in(targets)}
    if isinstance(rules.tolerance, Bands):
        summary["levels"] = result.per_level(rules.tolerance)
    _write_outputs(run_dir, targets.shape, flat, result, summary, job.config.output.plots)
    store.set_meta(status="complete")
    return RunOutcome(result, summary)


def _unconfirmed(store: RunStore, cells: Cells) -> tuple[np.ndarray, PulseBatch] | None:
    """A round the rig was sent but the store never kept (see ``Engine._confirm``)."""
    intent = store.unconfirmed()
    if intent is None:
        return None
    index = intent["index"].astype(np.intp)
    return index, PulseBatch(cells.subset(index), intent["polarity"],
                             intent["amplitude"].astype(np.float64),
                             intent["width"].astype(np.float64),
                             None if "gate" not in intent else intent["gate"].astype(np.float64))


def _write_outputs(run_dir: Path, shape: tuple[int, ...], flat: np.ndarray,
                   result: ProgramResult, summary: dict, plots: bool) -> None:
    """Maps shaped like the targets; the heat map (unless ``plots`` is off) shows the arrays
    stacked row-wise."""
    def as_map(values: np.ndarray) -> np.ndarray:
        full = np.full(int(np.prod(shape)), np.nan)
        full[flat] = values
        return full.reshape(shape)

    save_npy(run_dir / "conductance.npy", as_map(result.final_read))
    if result.true_final is not None:
        save_npy(run_dir / "true_conductance.npy", as_map(result.true_final))
    if plots:
        error = as_map(np.abs(result.final_read - result.targets) / result.targets)
        write_error_map(error, run_dir / "error_map.png",
                        f"{result.protocol}: final verify-read error",
                        float(np.median(result.band / result.targets)))
    write_atomic(run_dir / "result.json", json.dumps(summary, indent=2) + "\n")
