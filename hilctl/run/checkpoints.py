"""When a run store keeps the simulated array's devices, and how a run comes back from them.

A store of changes (a characterization, whose table needs every round exactly) keeps the
devices the round touched after every round, as it keeps the state's changes. A lean store (a
program run on a simulator) keeps, after round 0, every device, and later, once the pulses
since the last checkpoint reach ``PULSES_PER_CHECKPOINT`` times the cells they touched, the
devices and the run state of those cells. A checkpoint of a touched cell costs about 45 bytes
(its device and state in float64), so checkpoints add at most about 45 / 24 ≈ 2 bytes per
pulse+read operation, and a resume re-runs at most that many pulses per touched cell.

A lean resume restores the state and the devices of the last checkpoint and lets the engine
run again from there; the simulator's physics and the protocol are deterministic given them,
so the rounds the store holds beyond the checkpoint come out again bit for bit (the store's
writer checks each against its checksum). A reader that needs the devices after a round
between checkpoints (true conductances, the array as the run left it) restores the checkpoint
before it and replays the stored pulses through the physics (``replay_pulses``).
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, Checkpointable, DataError, PulseBatch

from .stored_round import Checkpoint

PULSES_PER_CHECKPOINT = 24
# A program state's arrays that only round 0 or a retarget sets, and its running totals
# (an array of four, not one value per cell).
_SET_BY_RETARGET = ("targets", "band", "initial")
_TOTALS = "totals"


class Checkpointer:
    """Takes a round's checkpoint, or None when the policy (module docstring) skips it."""

    def __init__(self, crossbar: Checkpointable, cells: Cells, lean: bool) -> None:
        self.crossbar, self.cells, self.lean = crossbar, cells, lean
        self._touched = np.zeros(len(cells), bool)
        self._reset()

    def _reset(self) -> None:
        self._touched[:] = False
        self._count = self._pulses = 0
        self._retargeted = False

    def take(self, record) -> Checkpoint | None:
        if record.round == 0:
            self._reset()
            return Checkpoint(None, self._devices(None), {})
        if not self.lean:
            return Checkpoint(record.index, self._devices(record.index), {})
        index = record.index
        self._count += int(np.count_nonzero(~self._touched[index]))
        self._touched[index] = True
        if record.pulses is None:
            self._retargeted = True
        else:
            self._pulses += index.size
        if self._count == 0 or self._pulses < PULSES_PER_CHECKPOINT * self._count:
            return None
        positions = np.flatnonzero(self._touched)
        state = {name: value if name == _TOTALS else value[positions]
                 for name, value in record.state.to_arrays().items()
                 if self._retargeted or name not in _SET_BY_RETARGET}
        checkpoint = Checkpoint(positions, self._devices(positions), state)
        self._reset()
        return checkpoint

    def _devices(self, positions: np.ndarray | None) -> dict[str, np.ndarray]:
        cells = None if positions is None else self.cells.subset(positions)
        devices = self.crossbar.sim_snapshot(cells)
        devices.pop("index", None)  # the checkpoint's own positions say which cells
        return devices


def restored_arrays(start: dict[str, np.ndarray],
                    checkpoints: list[Checkpoint]) -> dict[str, np.ndarray]:
    """A lean store's state arrays after its last checkpoint: round 0's whole state with each
    later checkpoint's cells written over it, in order."""
    arrays = dict(start)
    for checkpoint in checkpoints:
        for name, values in checkpoint.state.items():
            if name == _TOTALS or name not in arrays:
                arrays[name] = values
            else:
                arrays[name][checkpoint.positions] = values
    return arrays


def replay_pulses(crossbar, cells: Cells, pulses: dict[str, np.ndarray]) -> np.ndarray:
    """Apply a stored round's pulses and read its cells again, as the engine did (S); the
    read must be the stored one (at its stored precision), or the replay has left the run."""
    batch = PulseBatch(cells, pulses["polarity"], pulses["amplitude"], pulses["width"],
                       pulses.get("gate"))
    crossbar.apply(batch)
    reading = crossbar.read(cells).conductance
    stored = pulses["reading"]
    if not np.array_equal(reading.astype(stored.dtype), stored):
        raise DataError("the stored pulses do not replay to the stored reads: the simulator "
                        "or its configuration changed since the run was made")
    return reading
