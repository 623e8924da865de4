"""Runs a programming protocol as a stored, resumable run in a run directory.

The protocol decides; this module builds the crossbar and targets from the configuration,
subscribes the run store and the progress bar to the protocol's rounds, and writes the run
directory: ``config.toml``, ``store.sqlite``, ``targets.npy``, ``conductance.npy`` (last verify
read per cell), ``true_conductance.npy`` (simulator only), ``result.json``,
``error_map.png`` and ``run.lock`` (held while a process runs it, see ``lock.py``).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers import Cells, Checkpointable, Crossbar, PulseBatch, ResumeError
from hilctl.drivers.atomic_file import check_output_directory, refuse_links, write_atomic
from hilctl.protocols import (
    CostModel,
    ProgramResult,
    ProgramState,
    Protocol,
    RoundRecord,
    program,
)
from hilctl.protocols.engine import Retarget
from hilctl.protocols.tolerance import Bands

from ..assemble import open_crossbar
from ..checksums import sha256
from ..config import RunConfig, build_config, dump_toml, read_toml
from ..registry import build_protocol, stop_rules
from ..report import plots
from ..targets import programmed_cells
from ..weights.job import compensation_for_run
from .lock import LOCK_NAME, run_lock
from .store import BackgroundWriter, RunStore, encode_round

STORE_NAME = "store.sqlite"
CONFIG_NAME = "config.toml"
TARGETS_NAME = "targets.npy"

ProgressHook = Callable[[RoundRecord], None]


@dataclass
class RunOutcome:
    result: ProgramResult
    summary: dict


def save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_atomic(path, buffer.getvalue())


def cost_model(config: RunConfig, crossbar: Crossbar) -> CostModel:
    params = getattr(crossbar, "params", None)
    v0 = getattr(params, "iv_v0_V", None)
    return CostModel(read_time_s=config.cost.read_time_s, read_V=crossbar.limits.read_V,
                     iv_v0_V=v0, compliance_A=crossbar.limits.compliance_A)


def new_run(config: RunConfig, run_dir: Path, targets: np.ndarray,
            protocol: Protocol | None = None, progress: ProgressHook | None = None,
            extra_files: dict[str, bytes | str] | None = None,
            retarget: Retarget | None = None) -> RunOutcome:
    """Program ``targets`` (S, NaN = leave the cell alone) into a fresh run directory.

    ``targets`` is shaped (rows, cols), or (n_arrays, rows, cols) for a job spread over several
    arrays. ``extra_files`` (relative path -> content) are written beside the run's own files.
    ``retarget`` may give cells new targets once the protocol is done (pair compensation).
    """
    run_dir = Path(run_dir)
    check_output_directory(run_dir, STORE_NAME, "run", create=False)
    # Checked before anything is made, so a run refused here leaves no directory behind.
    stop_rules(config).tolerance.half_width(targets.ravel()[programmed_cells(targets)])
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(run_dir):
            _refuse_existing(run_dir)
            return _new_run(config, run_dir, targets, protocol, progress, extra_files, retarget)
    except BaseException:
        if made and not (run_dir / STORE_NAME).exists():
            _remove_unstarted(run_dir)
        raise


def _refuse_existing(run_dir: Path) -> None:
    if (run_dir / STORE_NAME).exists():
        raise ResumeError(f"{run_dir}: already holds a run; resume it with --resume "
                          f"{run_dir} or choose another --out")


def _remove_unstarted(run_dir: Path) -> None:
    """Take back the directory of a run refused before its store existed (a rig that would
    not open, a protocol its limits refuse), so the same command can simply be run again."""
    (run_dir / LOCK_NAME).unlink(missing_ok=True)
    if not any(run_dir.iterdir()):
        run_dir.rmdir()


def _new_run(config: RunConfig, run_dir: Path, targets: np.ndarray,
             protocol: Protocol | None, progress: ProgressHook | None,
             extra_files: dict[str, bytes | str] | None,
             retarget: Retarget | None) -> RunOutcome:
    crossbar = open_crossbar(config, arrays_in(targets))
    with crossbar:
        protocol = protocol or build_protocol(config, crossbar)
        protocol.check(crossbar.limits)
        config_text = dump_toml(config)
        write_atomic(run_dir / CONFIG_NAME, config_text)
        save_npy(run_dir / TARGETS_NAME, targets)
        for name, data in (extra_files or {}).items():
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(run_dir / name, data)
        store = RunStore(run_dir / STORE_NAME, create=True)
        store.set_meta(config_sha256=text_hash(config_text), protocol=protocol.name,
                       targets_sha256=sha256((run_dir / TARGETS_NAME).read_bytes()),
                       shape=list(crossbar.shape), status="running")
        with store:
            return _execute(config, run_dir, crossbar, store, protocol, targets, None, progress,
                            retarget)


def resume_run(run_dir: Path, config: RunConfig | None = None,
               protocol: Protocol | None = None,
               progress: ProgressHook | None = None) -> RunOutcome:
    """Continue a run from its last stored round; refuse one made with another configuration.

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
        stored = load_run_config(run_dir)
        if config is not None and config.fingerprint() != stored.fingerprint():
            raise ResumeError(f"{run_dir}: was made with a different configuration "
                              f"({describe_difference(stored, config)})")
        # Same run, perhaps with its instruments at new addresses: those come from ``config``.
        config = config or stored
        targets, state, crossbar = _restore(run_dir, config, store)
        with crossbar:
            protocol = protocol or build_protocol(config, crossbar)
            return _execute(config, run_dir, crossbar, store, protocol, targets, state, progress,
                            compensation_for_run(run_dir))


def reopen_run(run_dir: Path) -> tuple[Crossbar, Cells, np.ndarray]:
    """The array a run programmed, as the run left it, with the run's cells and target map.

    A rig is simply opened (its devices kept their state); a simulated array is rebuilt and
    brought to the state after the last stored round. Use it as a context manager.
    """
    run_dir = Path(run_dir)
    with RunStore(run_dir / STORE_NAME) as store:
        targets, _, crossbar = _restore(run_dir, load_run_config(run_dir), store)
    return crossbar, Cells.from_flat(programmed_cells(targets), crossbar.shape), targets


def _restore(run_dir: Path, stored: RunConfig, store: RunStore):
    meta = store.meta()
    if meta.get("config_sha256") != text_hash((run_dir / CONFIG_NAME).read_text()):
        raise ResumeError(f"{run_dir}/{CONFIG_NAME} was changed after the run was made; "
                          "restore it to resume")
    targets_bytes = (run_dir / TARGETS_NAME).read_bytes()
    if meta.get("targets_sha256", sha256(targets_bytes)) != sha256(targets_bytes):
        raise ResumeError(f"{run_dir}/{TARGETS_NAME} was changed after the run was made; "
                          "restore it to resume")
    targets = np.load(io.BytesIO(targets_bytes), allow_pickle=False)
    state, backend_changes = store.replay()
    flat = programmed_cells(targets)
    crossbar = open_crossbar(stored, arrays_in(targets))
    if isinstance(crossbar, Checkpointable):
        for positions, change in backend_changes:
            if positions is not None:
                change["index"] = flat[positions]
            crossbar.sim_restore(change)
    return targets, state, crossbar


def text_hash(text: str) -> str:
    return sha256(text.encode())


def arrays_in(targets: np.ndarray) -> int:
    """How many arrays a target map spans: (n_arrays, rows, cols) or (rows, cols)."""
    return int(targets.shape[0]) if targets.ndim == 3 else 1


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ResumeError(f"{run_dir}: not a run directory (no {CONFIG_NAME})")
    return build_config(read_toml(path), str(path))


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


def _execute(config: RunConfig, run_dir: Path, crossbar: Crossbar, store: RunStore,
             protocol: Protocol, targets: np.ndarray, state, progress: ProgressHook | None,
             retarget: Retarget | None) -> RunOutcome:
    flat = programmed_cells(targets)
    cells = Cells.from_flat(flat, crossbar.shape)
    checkpointable = isinstance(crossbar, Checkpointable)
    # A simulated array is rebuilt from the store on resume, so its rounds may be committed on a
    # thread while the next one is computed; a rig's are committed before it is pulsed again.
    writer = BackgroundWriter(store) if checkpointable else None
    write = writer.submit if writer else store.write

    def observe(record: RoundRecord) -> None:
        backend = None
        if checkpointable:
            touched = None if record.round == 0 else cells.subset(record.index)
            backend = crossbar.sim_snapshot(touched)
            backend.pop("index", None)  # the round's own cell list says which cells
        write(encode_round(record, backend))
        if progress:
            progress(record)

    started = time.perf_counter()
    asked = targets.ravel()[flat]
    cost = cost_model(config, crossbar)
    intent = store.unconfirmed() if state is not None else None
    if intent is not None:
        _confirm(crossbar, cells, state, intent, cost, observe)
    try:
        result = program(protocol, crossbar, cells, asked, stop_rules(config), cost, observe,
                         state, retarget, journal=None if checkpointable else store.journal)
    finally:
        if writer:
            writer.close()  # every completed round is stored, also on an error or Ctrl-C
    wall = time.perf_counter() - started
    summary = {**result.summary(), "wall_s": wall, "run_dir": str(run_dir),
               "retargeted_cells": int(np.sum(result.targets != asked)),
               "tolerance": stop_rules(config).tolerance.describe(),
               "array_shape": list(crossbar.shape)}
    bands = stop_rules(config).tolerance
    if isinstance(bands, Bands):
        summary["levels"] = result.per_level(bands)
    _write_outputs(run_dir, targets.shape, flat, result, summary)
    store.set_meta(status="complete")
    return RunOutcome(result, summary)


def _confirm(crossbar: Crossbar, cells: Cells, state: ProgramState, intent: dict,
             cost: CostModel, observe: Callable[[RoundRecord], None]) -> None:
    """Book a journaled round the rig may have applied before the run stopped.

    Its cells are read afresh and its pulses counted as applied (the rig may have sent all,
    some or none of them before the fault; the fresh reads say where the cells are now, and
    counting them keeps the pulse budget and cost honest rather than pulsing a one-shot cell
    twice). The protocol does not learn from this round: the read before its pulses may be
    stale, and stall counting starts again from the fresh reads.
    """
    index = intent["index"].astype(np.intp)
    pulses = PulseBatch(cells.subset(index), intent["polarity"],
                        intent["amplitude"].astype(np.float64), intent["width"].astype(np.float64))
    before = state.read[index]
    after = crossbar.read(pulses.cells).conductance
    state.record_reads(index, after)
    state.stalled[index] = 0
    state.stall_ref[index] = after
    state.totals += (pulses.width.sum(), cost.pulse_energy(before, pulses.amplitude,
                                                           pulses.width).sum(), index.size, 1)
    observe(RoundRecord(state.rounds, index, pulses, after, state))


def _write_outputs(run_dir: Path, shape: tuple[int, ...], flat: np.ndarray,
                   result: ProgramResult, summary: dict) -> None:
    """Maps shaped like the targets; the heat map shows the arrays stacked row-wise."""
    def as_map(values: np.ndarray) -> np.ndarray:
        full = np.full(int(np.prod(shape)), np.nan)
        full[flat] = values
        return full.reshape(shape)

    save_npy(run_dir / "conductance.npy", as_map(result.final_read))
    if result.true_final is not None:
        save_npy(run_dir / "true_conductance.npy", as_map(result.true_final))
    error = as_map(np.abs(result.final_read - result.targets) / result.targets)
    plots.error_heatmap(error, run_dir / "error_map.png",
                        f"{result.protocol}: final verify-read error",
                        float(np.median(result.band / result.targets)))
    write_atomic(run_dir / "result.json", json.dumps(summary, indent=2) + "\n")
