"""The one loop every programming protocol runs in.

A ``ProgrammingProtocol`` only decides (which pulse next, given what was read); ``program``
applies the pulses, reads, judges cells against their band, counts cost, declares cells that stopped
responding failed, and hands every round to an observer. Protocols never print, journal or
touch files: the observer (the run store, a progress bar) does, which also makes a run
resumable from the last round the observer stored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields

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

from .planner import PlannedPulses
from .result import CostModel, ProgramResult
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
    """

    tolerance: Tolerance = field(default_factory=Tolerance)
    max_pulses: int = 100
    stall_pulses: int = 5
    stall_response: float = 0.05

    def __post_init__(self) -> None:
        if self.max_pulses < 1 or self.stall_pulses < 1:
            raise ConfigError("max_pulses and stall_pulses must be at least 1")


@dataclass
class ProgramState:
    """Everything a run knows between rounds; saved after each round so a run can resume.

    Per-cell arrays follow the order of the cells being programmed. ``memory`` holds the
    protocol's own per-cell arrays (current amplitude, width, ...).
    """

    targets: np.ndarray
    band: np.ndarray
    initial: np.ndarray
    read: np.ndarray
    after_first_pulse: np.ndarray
    pulses: np.ndarray
    done: np.ndarray
    failed: np.ndarray
    stalled: np.ndarray
    stall_ref: np.ndarray
    totals: np.ndarray  # [pulse_time_s, energy_J, reads, rounds]
    memory: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def fresh(cls, targets: np.ndarray, band: np.ndarray, initial: np.ndarray) -> ProgramState:
        n = targets.size
        return cls(targets=targets.copy(), band=band, initial=initial.copy(), read=initial.copy(),
                   after_first_pulse=initial.copy(), pulses=np.zeros(n, np.int32),
                   done=np.abs(initial - targets) <= band, failed=np.zeros(n, bool),
                   stalled=np.zeros(n, np.int32), stall_ref=initial.copy(),
                   totals=np.array([0.0, 0.0, n, 0.0]))

    def retarget(self, positions: np.ndarray, targets: np.ndarray, band: np.ndarray) -> None:
        """Give the cells at ``positions`` new targets (and bands) and another chance."""
        self.targets[positions] = targets
        self.band[positions] = band
        self.done[positions] = np.abs(self.read[positions] - targets) <= band
        self.failed[positions] = False
        self.stalled[positions] = 0
        self.totals[3] += 1

    def record_reads(self, active: np.ndarray, after: np.ndarray) -> None:
        """Book one pulse and its verify read for the cells at ``active``.

        Everything here follows from the reads alone, so a run store need not keep it: replaying
        the stored reads through this method rebuilds it.
        """
        first = self.pulses[active] == 0
        self.after_first_pulse[active[first]] = after[first]
        self.pulses[active] += 1
        self.read[active] = after
        self.done[active] = np.abs(after - self.targets[active]) <= self.band[active]

    @property
    def rounds(self) -> int:
        return int(self.totals[3])

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "memory"}
        arrays.update({f"memory.{k}": v for k, v in self.memory.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ProgramState:
        names = [f.name for f in fields(cls) if f.name != "memory"]
        missing = [n for n in names if n not in arrays]
        if missing:
            raise DataError(f"stored program state lacks {', '.join(missing)}")
        memory = {k.split(".", 1)[1]: np.array(v) for k, v in arrays.items()
                  if k.startswith("memory.")}
        return cls(**{n: np.array(arrays[n]) for n in names}, memory=memory)


@dataclass(frozen=True)
class RoundRecord:
    """One round as observers see it: which cells (positions in the run's cell list) were
    pulsed with what, what the verify read gave, and the state after the round."""

    round: int
    index: np.ndarray
    pulses: PulseBatch | None
    reading: np.ndarray
    state: ProgramState


Observer = Callable[[RoundRecord], None]
# Told each round's pulses (round number, positions, pulses) before they are sent, so a run
# store can journal what a rig may have done if the round never completes.
Journal = Callable[[int, np.ndarray, PulseBatch], None]
# Called when no cell is left to pulse: new targets for some cells (positions, targets in S),
# for example to compensate a failed device through its partner, or None to finish. It must
# return None once it has nothing new to ask, so a resumed run ends where the original did.
Retarget = Callable[["ProgramState"], "tuple[np.ndarray, np.ndarray] | None"]


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


def program(protocol: ProgrammingProtocol, crossbar: Crossbar, cells: Cells, targets: np.ndarray,
            rules: StopRules | None = None, cost: CostModel | None = None,
            observer: Observer | None = None, state: ProgramState | None = None,
            retarget: Retarget | None = None, journal: Journal | None = None) -> ProgramResult:
    """Program ``cells`` towards ``targets`` (S) with ``protocol``; resume from ``state``."""
    rules = rules or StopRules()
    cost = cost or CostModel(read_V=crossbar.limits.read_V,
                             compliance_A=crossbar.limits.compliance_A)
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != (len(cells),):
        raise DataError(f"{targets.size} targets for {len(cells)} cells")
    protocol.check(crossbar.limits)
    protocol.begin(cells)
    if state is not None:
        protocol.resume(state)
    budget = min(rules.max_pulses, protocol.max_pulses or rules.max_pulses)
    if state is None:
        prep = protocol.preparation(cells, crossbar.limits)
        if prep is not None:
            crossbar.apply(prep)
        initial = crossbar.read(cells).conductance
        state = ProgramState.fresh(targets, rules.tolerance.half_width(targets), initial)
        if prep is not None:
            # Energy of the preparation, estimated from the conductance it left behind.
            state.totals[:2] += (prep.width.sum(),
                                 cost.pulse_energy(initial, prep.amplitude, prep.width).sum())
        state.memory = protocol.init_memory(state)
        if observer:
            observer(RoundRecord(0, np.arange(len(cells)), None, initial, state))
    while True:
        active = np.flatnonzero(~state.done & ~state.failed & (state.pulses < budget))
        if active.size:
            _run_round(protocol, crossbar, cells, state, active, rules, cost, observer, journal)
            continue
        change = retarget(state) if retarget else None
        if change is None:
            break
        positions, targets = change
        state.retarget(positions, targets, rules.tolerance.half_width(targets))
        if observer:
            observer(RoundRecord(state.rounds, positions, None, state.read[positions], state))
    return _result(protocol, crossbar, cells, state, cost)


def _run_round(protocol: ProgrammingProtocol, crossbar: Crossbar, cells: Cells, state: ProgramState,
               active: np.ndarray, rules: StopRules, cost: CostModel,
               observer: Observer | None, journal: Journal | None) -> None:
    plan = protocol.plan(state, active)
    pulses = plan.to_batch(cells.subset(active))
    before = state.read[active]
    if journal:
        journal(state.rounds + 1, active, pulses)
    crossbar.apply(pulses)
    after = crossbar.read(pulses.cells).conductance

    state.record_reads(active, after)
    targets = state.targets[active]
    streak = state.stalled[active]
    reference = np.where(streak == 0, before, state.stall_ref[active])
    progress = (after - reference) * np.sign(targets - reference)
    scale = np.maximum(reference, targets)
    unanswered = plan.at_limit & (progress < rules.stall_response * scale)
    state.stalled[active] = np.where(unanswered, streak + 1, 0)
    state.stall_ref[active] = reference
    state.failed[active] |= (state.stalled[active] >= rules.stall_pulses) & ~state.done[active]
    state.totals += (plan.width.sum(),
                     cost.pulse_energy(before, plan.amplitude, plan.width).sum(),
                     active.size, 1)
    protocol.learn(state, active, plan, before, after)
    if observer:
        observer(RoundRecord(state.rounds, active, pulses, after, state))


def _result(protocol: ProgrammingProtocol, crossbar: Crossbar, cells: Cells, state: ProgramState,
            cost: CostModel) -> ProgramResult:
    true_final = None
    if isinstance(crossbar, KnowsTrueConductance):
        true_final = crossbar.sim_true_conductance(cells)
    return ProgramResult(
        protocol=protocol.name, cells=cells, targets=state.targets, band=state.band,
        initial=state.initial, after_first_pulse=state.after_first_pulse,
        final_read=state.read.copy(), true_final=true_final, success=state.done.copy(),
        failed=state.failed.copy(), pulses=state.pulses.copy(), rounds=state.rounds,
        pulse_time_s=float(state.totals[0]), reads=int(state.totals[2]),
        energy_J=float(state.totals[1]), cost_model=cost, block_reset=protocol.block_reset,
    )
