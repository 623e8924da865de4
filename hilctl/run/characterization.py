"""Runs a characterization as a stored, resumable run in a run directory.

The same engine and subscribers as a programming run (the store's writer, the simulator's
snapshots, the progress bar); the directory holds ``config.toml``, ``store.sqlite`` (every
round's pulses and reads at full precision), ``run.lock`` and ``result.json``, and the
pulse-response table is written to the CSV named when the run was made. A killed run resumes
from its last stored round; on a simulated array the resumed table equals an uninterrupted
run's with the same seed, row for row.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers import Cells, PulseBatch, SafetyLimits
from hilctl.drivers.atomic_file import refuse_links, write_atomic
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols import Subscriber
from hilctl.protocols.characterize import (
    CharacterizationState,
    PulseRanges,
    TableRows,
    run_characterization,
)
from hilctl.protocols.settings import ResetPulse

from ..assemble import Job
from ..config import dump_toml
from ..config_tables import CharacterizeConfig
from .lock import run_lock
from .runner import (
    CONFIG_NAME,
    STORE_NAME,
    check_config_unchanged,
    fresh_run_dir,
    load_run_config,
    new_run_id,
    rebuild,
    refuse_other_kind,
    stored_engine,
    text_hash,
)
from .store import RunStore

KIND = "characterize"  # the store's run kind, as the command is named


@dataclass
class CharacterizationOutcome:
    table: PulseTable
    summary: dict


def new_characterization(job: Job, run_dir: Path, n_pulses: int, out: Path,
                         progress: Subscriber | None = None) -> CharacterizationOutcome:
    """Characterize the job's array with ``n_pulses`` random pulses (seeded by
    ``array.seed``), stored in a fresh ``run_dir``; the table goes to ``out`` (CSV)."""
    run_dir = Path(run_dir)
    refuse_links(run_dir)
    with fresh_run_dir(run_dir), job.open_crossbar() as crossbar:
        config_text = dump_toml(job.config)
        write_atomic(run_dir / CONFIG_NAME, config_text)
        with RunStore(run_dir / STORE_NAME, create=True) as store:
            store.set_meta(config_sha256=text_hash(config_text), kind=KIND, run_id=new_run_id(),
                           pulses=n_pulses, out=str(Path(out).resolve()),
                           shape=list(crossbar.shape), status="running")
            rng = np.random.default_rng(job.config.array.seed)
            return _execute(job, run_dir, crossbar, store, n_pulses, rng, None, TableRows(),
                            progress)


def resume_characterization(run_dir: Path, out: Path | None = None,
                            progress: Subscriber | None = None) -> CharacterizationOutcome:
    """Continue a stored characterization from its last stored round; the table goes to
    ``out``, or to the CSV named when the run was made."""
    run_dir = Path(run_dir)
    refuse_links(run_dir)
    with RunStore(run_dir / STORE_NAME) as store, run_lock(run_dir):
        refuse_other_kind(run_dir, store, KIND)
        store.refuse_old_format()
        meta = store.meta()
        check_config_unchanged(run_dir, meta)
        job = Job(load_run_config(run_dir))
        state, backend_changes = store.replay(CharacterizationState)
        with job.open_crossbar() as crossbar:
            cells = Cells.all(crossbar.shape)
            rebuild(crossbar, store, backend_changes, np.arange(len(cells)))
            rows = stored_rows(store, cells)
            if out is not None:
                store.set_meta(out=str(Path(out).resolve()))
            rng = state.rng if state is not None else np.random.default_rng(job.config.array.seed)
            return _execute(job, run_dir, crossbar, store, int(meta["pulses"]), rng, state,
                            rows, progress)


def stored_rows(store: RunStore, cells: Cells) -> TableRows:
    """The table rows of the rounds ``store`` holds, each pulse's read before it rebuilt from
    the reads that came before (round 0's first read, then each round's)."""
    rows = TableRows()
    last = None
    for stored in store.pulse_rounds():
        index, reading = stored["index"], stored["reading"]
        if last is None:
            last = reading.copy()
            continue
        if "polarity" in stored:
            pulses = PulseBatch(cells.subset(index), stored["polarity"], stored["amplitude"],
                                stored["width"], stored.get("gate"))
            rows.add(pulses, last[index], reading)
        last[index] = reading
    return rows


def _execute(job: Job, run_dir: Path, crossbar, store: RunStore, n_pulses: int,
             rng: np.random.Generator, state: CharacterizationState | None, rows: TableRows,
             progress: Subscriber | None) -> CharacterizationOutcome:
    started = time.perf_counter()
    cells = Cells.all(crossbar.shape)
    array = job.config.array
    engine = stored_engine(crossbar, cells, store, array.seed, progress)
    engine.subscribe(rows)
    intent = store.unconfirmed() if state is not None else None
    reread = None if intent is None else intent["index"].astype(np.intp)
    ranges = pulse_ranges(job.config.characterize, job.limits, _is_simulated_1t1r(job))
    run_characterization(engine, n_pulses, rng, cells, ranges, state=state, reread=reread)
    table = rows.table()
    table.read_V = crossbar.limits.read_V
    out = Path(store.meta()["out"])
    table.write_csv(out)
    applied = n_pulses * (2 if ranges.start == "hrs" else 1)  # an hrs start's RESETs are rows
    summary = {
        "rows": len(table), "pulses": applied, "pulses_dropped": applied - len(table),
        "out": str(out), "run_dir": str(run_dir), "array": list(crossbar.shape),
        "preset": array.preset, "seed": array.seed,
        "set_rows": int((table.polarity > 0).sum()),
        "reset_rows": int((table.polarity < 0).sum()),
        "g_before_S": [float(table.g_before.min()), float(table.g_before.max())],
        "gate_V": _span(table.gate), "sampling": ranges.sampling, "start": ranges.start,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_atomic(run_dir / "result.json", json.dumps(summary, indent=2) + "\n")
    store.set_meta(status="complete")
    return CharacterizationOutcome(table, summary)


def pulse_ranges(c: CharacterizeConfig, limits: SafetyLimits, needs_gate: bool) -> PulseRanges:
    """What ``[characterize]`` asks for. Where every pulse needs a gate (a simulated 1T1R
    array), a gate range left out is, for SETs, the SET gate limits and, for RESETs, the top
    of the RESET gate limits (gate fully on)."""
    set_gate, reset_gate = c.set_gate_V, c.reset_gate_V
    if needs_gate:
        set_gate = set_gate or (limits.gate_set_min_V, limits.gate_set_max_V)
        reset_gate = reset_gate or (limits.gate_reset_max_V, limits.gate_reset_max_V)
    defaults = PulseRanges()
    return PulseRanges(set_V=c.set_V or defaults.set_V, reset_V=c.reset_V or defaults.reset_V,
                       width_s=c.width_s or defaults.width_s, set_gate_V=set_gate,
                       reset_gate_V=reset_gate, sampling=c.sampling, grid_points=c.grid_points,
                       start=c.start, repeats=c.repeats,
                       hrs_reset=ResetPulse(c.reset.amplitude_V, c.reset.width_s, c.reset.gate_V))


def _is_simulated_1t1r(job: Job) -> bool:
    """A simulated array of cells behind an access transistor (as ``write-verify`` asks)."""
    return job.config.rig is None and job.config.array.empirical_table is None and job.gated


def _span(values: np.ndarray) -> list[float] | None:
    finite = values[np.isfinite(values)]
    return [float(finite.min()), float(finite.max())] if finite.size else None
