"""The engine every programming protocol (and characterization) runs in.

A ``ProgrammingProtocol`` only decides (which pulse next, given what was read); the ``Engine``
applies the pulses, reads, judges cells against their band, counts cost, declares cells that
stopped responding failed, and hands a start record, every round and a stop record to its
subscribers. Protocols never print, journal or touch files: subscribers (the run store, the
simulator's snapshots, a progress bar) do, which also makes a run resumable from the last
round the store kept. The engine is synchronous: a subscriber runs inside the round.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hilctl.drivers import (
    Cells,
    ConfigError,
    Crossbar,
    DataError,
    KnowsTrueConductance,
    PulseBatch,
    SafetyLimits,
)

from .allocator import reuse_large_temporaries
from .planner import PlannedPulses
from .result import CostModel, ProgramResult
from .state import ProgramState
from .tolerance import Tolerance


@dataclass(frozen=True)
class StopRules:
    """When the loop gives up on a cell.

    Parameters
    ----------
    tolerance : Tolerance
    max_pulses : int
        Pulse budget per cell.
    stall_pulses : int
        A cell is declared failed after this many consecutive pulses at the protocol's
        strongest setting that did not move it towards its target.
    stall_response : float
        Progress towards the target since the streak of strongest pulses began, as a fraction
        of the larger of the target and the streak's starting read, below which the streak
        counts as unanswered. Judging the whole streak (not pulse by pulse) keeps read noise
        from resetting it.
    max_crossings : int
        A cell is declared failed after overshooting its band (a pulse taking it from one side
        to the other) this many times: a band narrower than the read noise or than the
        smallest step a pulse makes is crossed again and again, and a ramp that restarts on
        every overshoot never reaches its strongest setting, so ``stall_pulses`` cannot stop it.
    """

    tolerance: Tolerance = field(default_factory=Tolerance)
    max_pulses: int = 100
    stall_pulses: int = 5
    stall_response: float = 0.05
    max_crossings: int = 100

    def __post_init__(self) -> None:
        if self.max_pulses < 1 or self.stall_pulses < 1 or self.max_crossings < 1:
            raise ConfigError("max_pulses, stall_pulses and max_crossings must be at least 1")


class RunState(Protocol):
    """What every run's state (``ProgramState``, a characterization's) tells subscribers."""

    def progress(self) -> tuple[int, int, str]:
        """(units done, units in all, what else a progress bar shows)."""
        ...


@dataclass(frozen=True)
class StartRecord:
    """A run begins, or resumes: its id and seed, what kind of run, on how many cells."""

    run_id: str
    seed: int | None
    kind: str  # "program" or "characterize"
    cells: int
    resumed: bool


@dataclass(frozen=True)
class RoundRecord:
    """One round as subscribers see it: which cells (positions in the run's cell list) were
    pulsed with what, their reads before and after, and the state after the round. Round 0
    (the first read), a retarget and a re-read carry no pulses and no reads before."""

    run_id: str
    seed: int | None
    round: int
    index: np.ndarray
    pulses: PulseBatch | None
    before: np.ndarray | None
    reading: np.ndarray
    state: RunState


@dataclass(frozen=True)
class StopRecord:
    """A run stops: after how many rounds, and why (``"complete"`` or the error's name)."""

    run_id: str
    seed: int | None
    rounds: int
    reason: str


class Subscriber:
    """Told of a run's start, each of its rounds, and its stop; override what you need."""

    def start(self, record: StartRecord) -> None:
        """A run begins (also on resume)."""

    def round(self, record: RoundRecord) -> None:
        """One round is done; the state may change once this returns."""

    def stop(self, record: StopRecord) -> None:
        """The run stopped, complete or on an error (also Ctrl-C)."""


class OnRound(Subscriber):
    """A plain function of each ``RoundRecord`` as a subscriber."""

    def __init__(self, function: Callable[[RoundRecord], None]) -> None:
        self.function = function

    def round(self, record: RoundRecord) -> None:
        self.function(record)


# Told each round's pulses (round number, positions, pulses) before they are sent, so a run
# store can journal what a rig may have done if the round never completes.
Journal = Callable[[int, np.ndarray, PulseBatch], None]
# Called when no cell is left to pulse: new targets for some cells (positions, targets in S),
# for example to compensate a failed device through its partner, or None to finish. It must
# return None once it has nothing new to ask, so a resumed run ends where the original did.
Retarget = Callable[[ProgramState], "tuple[np.ndarray, np.ndarray] | None"]


class ProgrammingProtocol(ABC):
    """A write-verify or one-shot programming algorithm: decides, never acts."""

    name: str = "protocol"
    block_reset: bool = False
    max_pulses: int | None = None  # the protocol's own per-cell budget (one-shot: 1), if any

    def check(self, limits: SafetyLimits) -> None:
        """Pre-flight: raise ``ConfigError`` if the protocol's settings exceed ``limits``."""

    def resume(self, state: ProgramState) -> None:
        """Take back what the protocol keeps outside ``state`` from ``state.memory`` (resume)."""

    def begin(self, cells: Cells) -> None:
        """Told the cells of the run (in state order) before any round, also on resume, for
        protocols whose planner needs cell addresses."""

    def preparation(self, cells: Cells, limits: SafetyLimits) -> PulseBatch | None:
        """Pulses applied to every cell before the first read, e.g. a block RESET that brings
        cells to a known state; their time and energy count in the cost."""
        return None

    def init_memory(self, state: ProgramState) -> dict[str, np.ndarray]:
        return {}

    @abstractmethod
    def plan(self, state: ProgramState, active: np.ndarray) -> PlannedPulses:
        """Pulses for the cells at positions ``active`` (not yet in band, not failed); those
        ``at_limit`` are the protocol's strongest setting (the stall rule watches them)."""

    def learn(self, state: ProgramState, active: np.ndarray, pulses: PlannedPulses,
              before: np.ndarray, after: np.ndarray) -> None:
        """Update ``state.memory`` from how the cells answered (reads before and after);
        ``pulses`` is the record ``plan`` returned."""


class Engine:
    """Applies and reads a run's rounds on ``crossbar`` and tells its subscribers.

    ``run_id`` and ``seed`` only label the records; ``journal`` (a rig's run store) is told each
    round's pulses before they are sent.
    """

    def __init__(self, crossbar: Crossbar, run_id: str = "", seed: int | None = None,
                 journal: Journal | None = None) -> None:
        self.crossbar = crossbar
        self.run_id, self.seed, self.journal = run_id, seed, journal
        self._subscribers: list[Subscriber] = []
        self._rounds = 0

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add ``subscriber``; subscribers are told in the order they were added."""
        self._subscribers.append(subscriber)

    @contextmanager
    def running(self, kind: str, cells: Cells, resumed: bool, rounds: int = 0) -> Iterator[None]:
        """Start and stop records around a run that has done ``rounds`` rounds so far; the
        stop record also on an error."""
        self._rounds = rounds
        start = StartRecord(self.run_id, self.seed, kind, len(cells), resumed)
        for subscriber in self._subscribers:
            subscriber.start(start)
        reason = "complete"
        try:
            yield
        except BaseException as exc:
            reason = type(exc).__name__
            raise
        finally:
            stop = StopRecord(self.run_id, self.seed, self._rounds, reason)
            for subscriber in self._subscribers:
                subscriber.stop(stop)

    def pulse_and_read(self, number: int, index: np.ndarray, pulses: PulseBatch) -> np.ndarray:
        """Journal round ``number``'s pulses, apply them and read their cells back (S)."""
        if self.journal:
            self.journal(number, index, pulses)
        self.crossbar.apply(pulses)
        return self.crossbar.read(pulses.cells).conductance

    def emit(self, number: int, index: np.ndarray, pulses: PulseBatch | None,
             before: np.ndarray | None, reading: np.ndarray, state: RunState) -> None:
        """Hand round ``number`` to every subscriber."""
        self._rounds = number
        record = RoundRecord(self.run_id, self.seed, number, index, pulses, before, reading,
                             state)
        for subscriber in self._subscribers:
            subscriber.round(record)

    def program(self, protocol: ProgrammingProtocol, cells: Cells, targets: np.ndarray,
                rules: StopRules | None = None, cost: CostModel | None = None,
                state: ProgramState | None = None, retarget: Retarget | None = None,
                unconfirmed: tuple[np.ndarray, PulseBatch] | None = None) -> ProgramResult:
        """Program ``cells`` towards ``targets`` (S) with ``protocol``; resume from ``state``,
        first booking ``unconfirmed`` (positions, pulses: a journaled round a rig may have
        applied, see ``_confirm``)."""
        limits = self.crossbar.limits
        rules = rules or StopRules()
        cost = cost or CostModel(read_V=limits.read_V, compliance_A=limits.compliance_A)
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (len(cells),):
            raise DataError(f"{targets.size} targets for {len(cells)} cells")
        protocol.check(limits)
        reuse_large_temporaries()
        protocol.begin(cells)
        if state is not None:
            protocol.resume(state)
        with self.running("program", cells, state is not None,
                          0 if state is None else state.rounds):
            if state is None:
                state = self._start(protocol, cells, targets, rules, cost)
            if unconfirmed is not None:
                self._confirm(state, *unconfirmed, cost)
            self._loop(protocol, cells, state, rules, cost, retarget)
        return _result(protocol, self.crossbar, cells, state, cost)

    def _start(self, protocol: ProgrammingProtocol, cells: Cells, targets: np.ndarray,
               rules: StopRules, cost: CostModel) -> ProgramState:
        prep = protocol.preparation(cells, self.crossbar.limits)
        if prep is not None:
            self.crossbar.apply(prep)
        initial = self.crossbar.read(cells).conductance
        state = ProgramState.fresh(targets, rules.tolerance.half_width(targets), initial)
        if prep is not None:
            # Energy of the preparation, estimated from the conductance it left behind.
            _book(state, cost, initial, prep, round_trips=1)
        state.memory = protocol.init_memory(state)
        self.emit(0, np.arange(len(cells)), None, None, initial, state)
        return state

    def _loop(self, protocol: ProgrammingProtocol, cells: Cells, state: ProgramState,
              rules: StopRules, cost: CostModel, retarget: Retarget | None) -> None:
        budget = min(rules.max_pulses, protocol.max_pulses or rules.max_pulses)
        active = _still_active(state, np.arange(state.targets.size), budget)
        while True:
            if active.size:
                self._round(protocol, cells, state, active, rules, cost)
                # Only a pulsed cell changes between rounds: the active set only shrinks.
                active = _still_active(state, active, budget)
                continue
            change = retarget(state) if retarget else None
            if change is None:
                return
            positions, targets = change
            state.retarget(positions, targets, rules.tolerance.half_width(targets))
            self.emit(state.rounds, positions, None, None, state.read[positions], state)
            active = _still_active(state, np.arange(state.targets.size), budget)

    def _round(self, protocol: ProgrammingProtocol, cells: Cells, state: ProgramState,
               active: np.ndarray, rules: StopRules, cost: CostModel) -> None:
        plan = protocol.plan(state, active)
        pulses = plan.to_batch(cells.subset(active))
        before = state.read[active]
        after = self.pulse_and_read(state.rounds + 1, active, pulses)
        state.record_reads(active, after)
        _count_stalls(state, active, plan.at_limit, before, after, rules)
        _fail_oscillating(state, active, rules)
        _book(state, cost, before, pulses, reads=active.size, rounds=1)
        protocol.learn(state, active, plan, before, after)
        self.emit(state.rounds, active, pulses, before, after, state)

    def _confirm(self, state: ProgramState, index: np.ndarray, pulses: PulseBatch,
                 cost: CostModel) -> None:
        """Book a journaled round the rig may have applied before the run stopped.

        Its cells are read afresh and its pulses counted as applied (the rig may have sent all,
        some or none of them before the fault; the fresh reads say where the cells are now,
        and counting them keeps the pulse budget and cost honest rather than pulsing a one-shot
        cell twice). The protocol does not learn from this round: the read before its pulses
        may be stale, and stall counting starts again from the fresh reads.
        """
        before = state.read[index]
        after = self.crossbar.read(pulses.cells).conductance
        state.record_reads(index, after)
        state.stalled[index] = 0
        state.stall_ref[index] = after
        _book(state, cost, before, pulses, reads=index.size, rounds=1)
        self.emit(state.rounds, index, pulses, before, after, state)


def _still_active(state: ProgramState, positions: np.ndarray, budget: int) -> np.ndarray:
    """The cells at ``positions`` (in increasing order) not yet in band, not failed and
    within their pulse budget, in the same order."""
    return positions[~state.done[positions] & ~state.failed[positions]
                     & (state.pulses[positions] < budget)]


def _book(state: ProgramState, cost: CostModel, before: np.ndarray, pulses: PulseBatch,
          reads: int = 0, rounds: int = 0, round_trips: int = 2) -> None:
    """Count one batch (pulses on cells last read at ``before``) and the reads verifying it
    into the run's totals: its batch and its read are a round trip each."""
    spent = cost.batch(before, pulses)
    state.totals.add(spent.width_s, spent.energy_J, reads, rounds, spent.groups, 1, round_trips)


def _count_stalls(state: ProgramState, active: np.ndarray, at_limit: np.ndarray,
                  before: np.ndarray, after: np.ndarray, rules: StopRules) -> None:
    """Count unanswered pulses at the strongest setting; fail cells past ``stall_pulses``.

    Only cells pulsed at the limit can extend a streak, so only they are judged; every other
    pulsed cell's streak ends (its ``stall_ref`` is read again only when a new streak starts,
    which takes the read before that streak's first pulse).
    """
    limited = np.flatnonzero(at_limit)
    cells = active[limited]
    streak = state.stalled[cells]
    state.stalled[active] = 0
    if not limited.size:
        return
    targets = state.targets[cells]
    reference = np.where(streak == 0, before[limited], state.stall_ref[cells])
    progress = (after[limited] - reference) * np.sign(targets - reference)
    unanswered = progress < rules.stall_response * np.maximum(reference, targets)
    stalled = np.where(unanswered, streak + 1, 0)
    state.stalled[cells] = stalled
    state.stall_ref[cells] = reference
    state.failed[cells] |= (stalled >= rules.stall_pulses) & ~state.done[cells]


def _fail_oscillating(state: ProgramState, active: np.ndarray, rules: StopRules) -> None:
    """Fail the cells at ``active`` that overshot their band ``max_crossings`` times."""
    state.failed[active] |= (state.crossings[active] >= rules.max_crossings) & ~state.done[active]


def program(protocol: ProgrammingProtocol, crossbar: Crossbar, cells: Cells, targets: np.ndarray,
            rules: StopRules | None = None, cost: CostModel | None = None,
            observer: Callable[[RoundRecord], None] | None = None,
            state: ProgramState | None = None, retarget: Retarget | None = None,
            journal: Journal | None = None) -> ProgramResult:
    """Program ``cells`` towards ``targets`` (S) with ``protocol`` on an engine of its own,
    ``observer`` told each round; resume from ``state``."""
    engine = Engine(crossbar, journal=journal)
    if observer is not None:
        engine.subscribe(OnRound(observer))
    return engine.program(protocol, cells, targets, rules, cost, state, retarget)


def _result(protocol: ProgrammingProtocol, crossbar: Crossbar, cells: Cells,
            state: ProgramState, cost: CostModel) -> ProgramResult:
    true_final = None
    if isinstance(crossbar, KnowsTrueConductance):
        true_final = crossbar.sim_true_conductance(cells)
    totals = state.totals
    return ProgramResult(
        protocol=protocol.name, cells=cells, targets=state.targets, band=state.band,
        initial=state.initial, after_first_pulse=state.after_first_pulse,
        final_read=state.read.copy(), true_final=true_final, success=state.done.copy(),
        failed=state.failed.copy(), pulses=state.pulses.copy(), rounds=state.rounds,
        pulse_time_s=totals.pulse_time_s, reads=totals.reads, energy_J=totals.energy_J,
        cost_model=cost, block_reset=protocol.block_reset, pulse_groups=totals.pulse_groups,
        batches=totals.batches, round_trips=totals.round_trips,
    )
