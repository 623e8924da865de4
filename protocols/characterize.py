"""Characterization: random or gridded pulses over many cells and states, read before and after.

The result is the pulse-response table (``drivers.pulse_table.PulseTable``) that the predictor
trains on and ``hilctl device fit`` fits. Every round pulses a batch of distinct cells at once
through ``Crossbar.apply`` and reads them back with one ``Crossbar.read``; the read after a
pulse is the read before that cell's next pulse, exactly as a rig sees it. What is pulsed
(ranges, grid or random, repeats, an ``hrs`` start) is ``pulse_source.PulseRanges``.

It runs in the same ``Engine`` as programming, so the same subscribers store its rounds, show
its progress and snapshot a simulated array; ``CharacterizationState`` (the last reads, the
pulse count, each cell's setting and the random generator's position) is what a run store
keeps, so a stored characterization resumes where it stopped and draws the same pulses it
would have drawn. An ``hrs`` start is two rounds per measured pulse (the full RESET, then the
SET), and the state says when the SET of the last RESET is still to come.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from hilctl.drivers import Cells, ConfigError, Crossbar, DataError, PulseBatch
from hilctl.drivers.pulse_table import PulseTable

from .engine import Engine, RoundRecord, Subscriber
from .pulse_source import PulseRanges, PulseSource, SettingMemory

__all__ = ["CharacterizationState", "PulseRanges", "TableRows", "characterize",
           "run_characterization", "table_rows"]


@dataclass
class CharacterizationState:
    """What a characterization knows between rounds: each cell's last read (S), the pulses
    applied of ``n_pulses``, the rounds done, and the generator that draws the pulses."""

    last_read: np.ndarray
    applied: int
    n_pulses: int
    rng: np.random.Generator
    rounds: int = 0
    settings: SettingMemory | None = None
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = SettingMemory.fresh(self.last_read.size)

    def progress(self) -> tuple[int, int, str]:
        return self.applied, self.n_pulses, "pulses"

    def record_reads(self, index: np.ndarray, reading: np.ndarray) -> None:
        self.last_read[index] = reading

    def changes(self, index: np.ndarray, retargeted: bool = False) -> dict[str, np.ndarray]:
        """Beyond a round's reads: the counts and the generator's position after it; a round
        without pulses (a re-read, see ``run_characterization``) also keeps its reads."""
        s = self.settings
        changed = {"applied": np.array(self.applied), "rounds": np.array(self.rounds),
                   "rng": _generator_bytes(self.rng), "pending": self.pending.copy(),
                   "grid_next": s.grid_next.copy(), "setting_left": s.left[index],
                   "setting_polarity": s.polarity[index], "setting_values": s.values[index]}
        if retargeted:
            changed["last_read"] = self.last_read[index]
        return changed

    def apply_changes(self, index: np.ndarray, changed: dict[str, np.ndarray]) -> None:
        self.applied, self.rounds = int(changed["applied"]), int(changed["rounds"])
        self.rng = _generator_from(changed["rng"])
        if "pending" in changed:  # a store of a characterization that keeps settings
            s = self.settings
            self.pending = np.asarray(changed["pending"], np.int64)
            s.grid_next = np.asarray(changed["grid_next"], np.int64).copy()
            s.left[index], s.polarity[index] = changed["setting_left"], changed["setting_polarity"]
            s.values[index] = changed["setting_values"]
        if "last_read" in changed:
            self.last_read[index] = changed["last_read"]

    def to_arrays(self) -> dict[str, np.ndarray]:
        every = np.arange(self.last_read.size)
        return {**self.changes(every), "last_read": self.last_read,
                "n_pulses": np.array(self.n_pulses)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CharacterizationState:
        missing = {"last_read", "n_pulses", "applied", "rounds", "rng"} - set(arrays)
        if missing:
            raise DataError(f"stored characterization lacks {', '.join(sorted(missing))}")
        state = cls(np.array(arrays["last_read"]), int(arrays["applied"]),
                    int(arrays["n_pulses"]), _generator_from(arrays["rng"]),
                    int(arrays["rounds"]))
        if "pending" in arrays:
            state.apply_changes(np.arange(state.last_read.size), arrays)
        return state


def _generator_bytes(rng: np.random.Generator) -> np.ndarray:
    return np.frombuffer(json.dumps(rng.bit_generator.state).encode(), np.uint8).copy()


def _generator_from(stored: np.ndarray) -> np.random.Generator:
    """The generator at the stored position (PCG64, what ``default_rng`` makes)."""
    state = json.loads(bytes(stored).decode())
    if state.get("bit_generator") != "PCG64":
        raise DataError(f"stored characterization draws with {state.get('bit_generator')!r}; "
                        "only PCG64 generators can be resumed")
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


class TableRows(Subscriber):
    """Collects a characterization's table rows from its rounds (or from stored ones, ``add``)."""

    def __init__(self) -> None:
        self._tables: list[PulseTable] = []

    def round(self, record: RoundRecord) -> None:
        if record.pulses is not None:
            self.add(record.pulses, record.before, record.reading)

    def add(self, pulses: PulseBatch, before: np.ndarray, after: np.ndarray) -> None:
        self._tables.append(table_rows(pulses, before, after))

    def table(self) -> PulseTable:
        return PulseTable.concat(self._tables)


def characterize(crossbar: Crossbar, n_pulses: int, rng: np.random.Generator,
                 cells: Cells | None = None, ranges: PulseRanges | None = None,
                 batch: int | None = None) -> PulseTable:
    """Apply ``n_pulses`` measured pulses and return one table row per pulse (plus the
    preparatory RESETs of an ``hrs`` start; less the pulses whose read before or after was at
    or below 0 S, see ``table_rows``).

    Parameters
    ----------
    crossbar : Crossbar
    n_pulses : int
        Measured pulses to apply.
    rng : numpy.random.Generator
        Draws cells, polarities, amplitudes, widths and gates (reproducible with its seed).
    cells : Cells, optional
        Cells to characterize; every cell of the array by default.
    ranges : PulseRanges, optional
        What to pulse; open bounds come from ``crossbar.limits``.
    batch : int, optional
        Cells pulsed per round (distinct cells); all of ``cells`` by default.
    """
    engine = Engine(crossbar)
    rows = TableRows()
    engine.subscribe(rows)
    run_characterization(engine, n_pulses, rng, cells, ranges, batch)
    return rows.table()


def run_characterization(engine: Engine, n_pulses: int, rng: np.random.Generator,
                         cells: Cells | None = None, ranges: PulseRanges | None = None,
                         batch: int | None = None, state: CharacterizationState | None = None,
                         reread: np.ndarray | None = None) -> CharacterizationState:
    """``characterize`` on ``engine`` (whose subscribers see every round), from ``state`` when
    resuming (``rng`` is then the stored one, ``state.rng``).

    ``reread`` (positions in ``cells``) are the cells of a round a rig was sent but whose reads
    were never stored: they are read again first, as a round without pulses, so that their
    next rows start from where the cells really are (the lost round has no rows).
    """
    crossbar = engine.crossbar
    if n_pulses < 1:
        raise ConfigError(f"characterize: n_pulses = {n_pulses}: expected at least 1")
    cells = cells if cells is not None else Cells.all(crossbar.shape)
    if len(cells) == 0:
        raise ConfigError("characterize: no cells to characterize")
    batch = len(cells) if batch is None else int(batch)
    if not 1 <= batch <= len(cells):
        raise ConfigError(f"characterize: batch = {batch}: expected 1..{len(cells)}")
    source = PulseSource((ranges or PulseRanges()).resolved(crossbar.limits))
    with engine.running("characterize", cells, state is not None,
                        0 if state is None else state.rounds):
        if state is None:
            state = CharacterizationState(crossbar.read(cells).conductance, 0, n_pulses, rng)
            engine.emit(0, np.arange(len(cells)), None, None, state.last_read.copy(), state)
        if reread is not None:
            state.record_reads(reread, crossbar.read(cells.subset(reread)).conductance)
            state.rounds += 1
            engine.emit(state.rounds, reread, None, None, state.last_read[reread], state)
        while state.applied < n_pulses or state.pending.size:
            chosen, pulses = _next_round(state, source, cells, batch)
            before = state.last_read[chosen]
            after = engine.pulse_and_read(state.rounds + 1, chosen, pulses)
            state.record_reads(chosen, after)
            state.rounds += 1
            engine.emit(state.rounds, chosen, pulses, before, after, state)
    return state


def _next_round(state: CharacterizationState, source: PulseSource, cells: Cells,
                batch: int) -> tuple[np.ndarray, PulseBatch]:
    """The next round's cells (positions in ``cells``) and pulses; ``state`` counts them."""
    if state.pending.size:  # the SET that follows an hrs start's RESET
        chosen, state.pending = state.pending, np.zeros(0, np.int64)
        state.applied += chosen.size
        return chosen, source.pulses(state.settings, cells.subset(chosen), chosen)
    chosen = state.rng.permutation(len(cells))[:min(batch, state.n_pulses - state.applied)]
    source.advance(state.settings, state.last_read, chosen, state.rng)
    if source.ranges.start == "hrs":
        state.pending = chosen
        return chosen, source.ranges.hrs_reset.batch(cells.subset(chosen))
    state.applied += chosen.size
    return chosen, source.pulses(state.settings, cells.subset(chosen), chosen)


def table_rows(pulses: PulseBatch, before: np.ndarray, after: np.ndarray) -> PulseTable:
    """Table rows of one round. A read at or below 0 S (a device near its read-noise floor) has
    no place in a table of conductances, so its pulse is left out: the table then has fewer
    rows than pulses were applied, and callers report the difference."""
    names = np.char.add(np.char.add(pulses.cells.rows.astype(str), ":"),
                        pulses.cells.cols.astype(str))
    gate = np.full(len(pulses), np.nan) if pulses.gate is None else pulses.gate
    keep = (before > 0) & (after > 0)
    return PulseTable(names[keep], before[keep], pulses.polarity[keep], pulses.amplitude[keep],
                      pulses.width[keep], gate[keep], after[keep])
