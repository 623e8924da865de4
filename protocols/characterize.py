"""Characterization: random pulses over many cells and states, read before and after.

The result is the pulse-response table (``drivers.pulse_table.PulseTable``) that the predictor
trains on. Every round pulses a batch of distinct cells at once through ``Crossbar.apply`` and
reads them back with one ``Crossbar.read``; the read after a pulse is the read before that cell's
next pulse, exactly as a rig sees it.

It runs in the same ``Engine`` as programming, so the same subscribers store its rounds, show
its progress and snapshot a simulated array; ``CharacterizationState`` (the last reads, the
pulse count and the random generator's position) is what a run store keeps, so a stored
characterization resumes where it stopped and draws the same pulses it would have drawn.

States must cover the whole conductance range, not only the fresh (low) state an array starts
in, so polarity is drawn with a bias against the cell's rank among the present reads: low cells
get mostly SET, high cells mostly RESET. The array therefore spreads over its range within a
few rounds and keeps both ends populated, whatever its conductance units or window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import (
    Cells,
    ConfigError,
    Crossbar,
    DataError,
    Polarity,
    PulseBatch,
    SafetyLimits,
)
from hilctl.drivers.pulse_table import PulseTable

from .engine import Engine, RoundRecord, Subscriber
from .settings import check_settings


@dataclass(frozen=True)
class PulseRanges:
    """Ranges random pulses are drawn from. Voltages in V (magnitudes), widths in s.

    Amplitudes are uniform, widths log-uniform. The lower amplitude bounds sit just above the
    usual switching thresholds; pulses far below threshold only teach that nothing happens.
    ``None`` for an upper bound means the rig's safety limit.
    """

    set_V: tuple[float, float | None] = (0.8, None)
    reset_V: tuple[float, float | None] = (0.9, None)
    width_s: tuple[float | None, float | None] = (None, None)
    gate_V: float | None = None

    def resolved(self, limits: SafetyLimits) -> PulseRanges:
        """Fill the open bounds from ``limits`` and raise ``ConfigError`` if a range is unsafe."""
        ranges = PulseRanges(
            set_V=(self.set_V[0], _or(self.set_V[1], limits.set_max_V)),
            reset_V=(self.reset_V[0], _or(self.reset_V[1], limits.reset_max_V)),
            width_s=(_or(self.width_s[0], limits.width_min_s),
                     _or(self.width_s[1], limits.width_max_s)),
            gate_V=self.gate_V,
        )
        check_settings("characterize", limits,
                       set_V={"set_V[0]": ranges.set_V[0], "set_V[1]": ranges.set_V[1]},
                       reset_V={"reset_V[0]": ranges.reset_V[0], "reset_V[1]": ranges.reset_V[1]},
                       width_s={"width_s[0]": ranges.width_s[0], "width_s[1]": ranges.width_s[1]},
                       gate_V={"gate_V": ranges.gate_V})
        for name in ("set_V", "reset_V", "width_s"):
            low, high = getattr(ranges, name)
            if low > high:
                raise ConfigError(f"characterize.{name} = ({low:g}, {high:g}): low exceeds high")
        return ranges


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


@dataclass
class CharacterizationState:
    """What a characterization knows between rounds: each cell's last read (S), the pulses
    applied of ``n_pulses``, the rounds done, and the generator that draws the pulses."""

    last_read: np.ndarray
    applied: int
    n_pulses: int
    rng: np.random.Generator
    rounds: int = 0

    def progress(self) -> tuple[int, int, str]:
        return self.applied, self.n_pulses, "pulses"

    def record_reads(self, index: np.ndarray, reading: np.ndarray) -> None:
        self.last_read[index] = reading

    def changes(self, index: np.ndarray, retargeted: bool = False) -> dict[str, np.ndarray]:
        """Beyond a round's reads: the counts and the generator's position after it; a round
        without pulses (a re-read, see ``run_characterization``) also keeps its reads."""
        changed = {"applied": np.array(self.applied), "rounds": np.array(self.rounds),
                   "rng": _generator_bytes(self.rng)}
        if retargeted:
            changed["last_read"] = self.last_read[index]
        return changed

    def apply_changes(self, index: np.ndarray, changed: dict[str, np.ndarray]) -> None:
        self.applied, self.rounds = int(changed["applied"]), int(changed["rounds"])
        self.rng = _generator_from(changed["rng"])
        if "last_read" in changed:
            self.last_read[index] = changed["last_read"]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**self.changes(np.arange(0)), "last_read": self.last_read,
                "n_pulses": np.array(self.n_pulses)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CharacterizationState:
        missing = {"last_read", "n_pulses", "applied", "rounds", "rng"} - set(arrays)
        if missing:
            raise DataError(f"stored characterization lacks {', '.join(sorted(missing))}")
        return cls(np.array(arrays["last_read"]), int(arrays["applied"]),
                   int(arrays["n_pulses"]), _generator_from(arrays["rng"]),
                   int(arrays["rounds"]))


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
    """Apply ``n_pulses`` random pulses and return one table row per pulse (less the pulses
    whose read before or after was at or below 0 S, see ``table_rows``).

    Parameters
    ----------
    crossbar : Crossbar
    n_pulses : int
        Rows of the table (pulses applied).
    rng : numpy.random.Generator
        Draws cells, polarities, amplitudes and widths (reproducible with its seed).
    cells : Cells, optional
        Cells to characterize; every cell of the array by default.
    ranges : PulseRanges, optional
        Pulse ranges; open bounds come from ``crossbar.limits``.
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
    ranges = (ranges or PulseRanges()).resolved(crossbar.limits)
    with engine.running("characterize", cells, state is not None,
                        0 if state is None else state.rounds):
        if state is None:
            state = CharacterizationState(crossbar.read(cells).conductance, 0, n_pulses, rng)
            engine.emit(0, np.arange(len(cells)), None, None, state.last_read.copy(), state)
        if reread is not None:
            state.record_reads(reread, crossbar.read(cells.subset(reread)).conductance)
            state.rounds += 1
            engine.emit(state.rounds, reread, None, None, state.last_read[reread], state)
        while state.applied < n_pulses:
            chosen = state.rng.permutation(len(cells))[:min(batch, n_pulses - state.applied)]
            pulses = _random_pulses(cells.subset(chosen), state.last_read, chosen, ranges,
                                    state.rng)
            before = state.last_read[chosen]
            after = engine.pulse_and_read(state.rounds + 1, chosen, pulses)
            state.record_reads(chosen, after)
            state.applied += chosen.size
            state.rounds += 1
            engine.emit(state.rounds, chosen, pulses, before, after, state)
    return state


def _random_pulses(cells: Cells, last_read: np.ndarray, chosen: np.ndarray,
                   ranges: PulseRanges, rng: np.random.Generator) -> PulseBatch:
    """Random pulses for ``cells``; SET is likelier the lower a cell reads among all cells."""
    n = chosen.size
    rank = np.argsort(np.argsort(last_read))[chosen] / max(last_read.size - 1, 1)
    p_set = 0.8 - 0.6 * rank
    polarity = np.where(rng.random(n) < p_set, Polarity.SET, Polarity.RESET)
    is_set = polarity == Polarity.SET
    lo = np.where(is_set, ranges.set_V[0], ranges.reset_V[0])
    hi = np.where(is_set, ranges.set_V[1], ranges.reset_V[1])
    amplitude = lo + (hi - lo) * rng.random(n)
    log_lo, log_hi = np.log(ranges.width_s[0]), np.log(ranges.width_s[1])
    width = np.exp(log_lo + (log_hi - log_lo) * rng.random(n))
    width = np.clip(width, ranges.width_s[0], ranges.width_s[1])  # exp(log(w)) may round out
    gate = None if ranges.gate_V is None else np.full(n, ranges.gate_V)
    return PulseBatch(cells, polarity, amplitude, width, gate)


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
