"""What a programming run knows between rounds, and which of it a run store must keep.

A round changes the state in two ways. What follows from its verify reads (the last read, the
read after each cell's first pulse, pulse counts, which cells are in band, how often each
overshot its band) ``record_reads`` rebuilds from the reads alone, so a store need not keep
it. What does not (stall counting, failures, the protocol's own memory, the running totals,
and on a retarget the new targets) ``changes`` hands out and ``apply_changes`` takes back. A
store therefore keeps the reads and the changes of each round, and replaying both in order
rebuilds the state exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from hilctl.drivers import DataError

# Prefix of the protocol's own per-cell arrays among the state's stored arrays.
_MEMORY = "memory."
# Name of the running totals among the stored arrays (as [pulse_time_s, energy_J, reads,
# rounds, pulse_groups, batches, round_trips]; older run stores hold the first four).
_TOTALS = "totals"


@dataclass
class Totals:
    """Running cost counters of a run: pulse time (s), pulse energy (J), cell reads, rounds,
    and what the time model counts beyond them: parallel pulse groups (one set-up each),
    batches sent (one settling each) and round trips to the rig."""

    pulse_time_s: float = 0.0
    energy_J: float = 0.0
    reads: int = 0
    rounds: int = 0
    pulse_groups: int = 0
    batches: int = 0
    round_trips: int = 0

    def add(self, pulse_time_s: float, energy_J: float, reads: int = 0, rounds: int = 0,
            pulse_groups: int = 0, batches: int = 0, round_trips: int = 0) -> None:
        self.pulse_time_s += float(pulse_time_s)
        self.energy_J += float(energy_J)
        self.reads += int(reads)
        self.rounds += int(rounds)
        self.pulse_groups += int(pulse_groups)
        self.batches += int(batches)
        self.round_trips += int(round_trips)

    def to_array(self) -> np.ndarray:
        return np.array([self.pulse_time_s, self.energy_J, self.reads, self.rounds,
                         self.pulse_groups, self.batches, self.round_trips])

    @classmethod
    def from_array(cls, values: np.ndarray) -> Totals:
        pulse_time_s, energy_J, *counts = (float(v) for v in np.asarray(values))
        return cls(pulse_time_s, energy_J, *(int(c) for c in counts))


@dataclass
class ProgramState:
    """Everything a run knows between rounds; per-cell arrays follow the order of the cells
    being programmed. ``memory`` holds the protocol's own per-cell arrays (current amplitude,
    width, ...)."""

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
    crossings: np.ndarray
    totals: Totals = field(default_factory=Totals)
    memory: dict[str, np.ndarray] = field(default_factory=dict)

    # Per-cell fields a pulsed round changes that its reads do not determine.
    STORED_PER_PULSE: ClassVar[tuple[str, ...]] = ("failed", "stalled", "stall_ref")
    # What a retarget round changes (new targets and bands, and a fresh chance).
    STORED_ON_RETARGET: ClassVar[tuple[str, ...]] = ("targets", "band", "done", "failed",
                                                     "stalled")

    @classmethod
    def fresh(cls, targets: np.ndarray, band: np.ndarray, initial: np.ndarray) -> ProgramState:
        n = targets.size
        return cls(targets=targets.copy(), band=band, initial=initial.copy(), read=initial.copy(),
                   after_first_pulse=initial.copy(), pulses=np.zeros(n, np.int32),
                   done=np.abs(initial - targets) <= band, failed=np.zeros(n, bool),
                   stalled=np.zeros(n, np.int32), stall_ref=initial.copy(),
                   crossings=np.zeros(n, np.int32), totals=Totals(reads=n, round_trips=1))

    @property
    def rounds(self) -> int:
        return self.totals.rounds

    def retarget(self, positions: np.ndarray, targets: np.ndarray, band: np.ndarray) -> None:
        """Give the cells at ``positions`` new targets (and bands) and another chance."""
        self.targets[positions] = targets
        self.band[positions] = band
        self.done[positions] = np.abs(self.read[positions] - targets) <= band
        self.failed[positions] = False
        self.stalled[positions] = 0
        self.crossings[positions] = 0
        self.totals.rounds += 1

    def record_reads(self, active: np.ndarray, after: np.ndarray) -> None:
        """Book one pulse and its verify read for the cells at ``active``: everything here
        follows from the reads alone, so replaying stored reads through it rebuilds it."""
        counts = self.pulses[active]
        first = counts == 0
        self.after_first_pulse[active[first]] = after[first]
        self.pulses[active] = counts + 1
        targets, band = self.targets[active], self.band[active]
        before = self.read[active]
        landed = np.abs(after - targets) <= band
        # From one side of the band to the other in one pulse: an overshoot.
        crossed = (~landed & (np.abs(before - targets) > band)
                   & ((before > targets) != (after > targets)))
        self.crossings[active] += crossed
        self.read[active] = after
        self.done[active] = landed

    def progress(self) -> tuple[int, int, str]:
        """(cells done, cells, what else a progress bar shows)."""
        return int(self.done.sum()), self.done.size, f"converged · failed {int(self.failed.sum())}"

    # -- what a store keeps -----------------------------------------------------------------
    def changes(self, index: np.ndarray, retargeted: bool = False) -> dict[str, np.ndarray]:
        """What the last round changed at ``index`` beyond its reads, as named arrays (copies,
        so the state may go on changing while they wait to be written)."""
        names = self.STORED_ON_RETARGET if retargeted else self.STORED_PER_PULSE
        changed = {name: getattr(self, name)[index] for name in names}
        if not retargeted:
            changed.update({_MEMORY + k: v[index] for k, v in self.memory.items()})
        changed[_TOTALS] = self.totals.to_array()
        return changed

    def apply_changes(self, index: np.ndarray, changed: dict[str, np.ndarray]) -> None:
        """Take back what ``changes`` handed out for the cells at ``index``."""
        per_cell = set(self.STORED_ON_RETARGET + self.STORED_PER_PULSE)
        for key, values in changed.items():
            if key == _TOTALS:
                self.totals = Totals.from_array(values)
            elif key.startswith(_MEMORY):
                self.memory[key[len(_MEMORY):]][index] = values
            elif key in per_cell:
                getattr(self, key)[index] = values
            else:
                raise DataError(f"stored program state change names an unknown field {key!r}")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The whole state as named arrays (what a store keeps of a run's start)."""
        arrays = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name not in ("memory", _TOTALS)}
        arrays[_TOTALS] = self.totals.to_array()
        arrays.update({_MEMORY + k: v for k, v in self.memory.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ProgramState:
        names = [f.name for f in fields(cls) if f.name != "memory"]
        arrays = dict(arrays)
        if "crossings" not in arrays and "targets" in arrays:  # stores made before they counted
            arrays["crossings"] = np.zeros(np.shape(arrays["targets"]), np.int32)
        missing = [n for n in names if n not in arrays]
        if missing:
            raise DataError(f"stored program state lacks {', '.join(missing)}")
        memory = {k[len(_MEMORY):]: np.array(v) for k, v in arrays.items()
                  if k.startswith(_MEMORY)}
        per_cell = {n: np.array(arrays[n]) for n in names if n != _TOTALS}
        return cls(**per_cell, totals=Totals.from_array(arrays[_TOTALS]), memory=memory)
