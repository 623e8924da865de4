"""Writes a run's rounds into its store as the engine sends them, on a thread for a simulator.

    writer = make_writer(store, crossbar, cells)   # a Subscriber of the run's engine
    engine.subscribe(writer)
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable

import numpy as np

from hilctl.drivers import Cells, Checkpointable, ResumeError
from hilctl.protocols import RoundRecord, StartRecord, StopRecord, Subscriber

from .checkpoints import Checkpointer
from .store import CHECKPOINTS, RunStore
from .stored_round import EncodedRound, capture_round, encode_round


class BackgroundWriter:
    """Runs a store's writes on a thread, in order, so the next rounds are computed while
    these are committed. At most ``depth`` writes wait behind those in progress; the writes
    waiting when the thread gets to them run as one ``group`` (one fsync and one commit for a
    burst of small rounds). A write error surfaces on the next ``submit`` or on ``close``. Use
    it where the array can be rebuilt from the store (a simulator): rounds lost in a crash are
    then recomputed identically.
    """

    def __init__(self, group: Callable[[], contextlib.AbstractContextManager] = (
            contextlib.nullcontext), depth: int = 2) -> None:
        self._group = group
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="run-store-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Callable, *args) -> None:
        """Call ``write(*args)`` on the thread, after every write submitted before it."""
        self._raise_if_failed()
        self._queue.put((write, args))

    def close(self) -> None:
        """Write what is queued, stop the thread, and raise a write error if there was one."""
        self._queue.put(None)
        self._thread.join()
        self._raise_if_failed()

    def _run(self) -> None:
        closing = False
        while not closing:
            jobs = [self._queue.get()]
            while jobs[-1] is not None and not self._queue.empty():
                jobs.append(self._queue.get())
            closing = jobs[-1] is None
            jobs = [job for job in jobs if job is not None]
            if self._error is None and jobs:
                try:
                    with self._group():
                        for write, args in jobs:
                            write(*args)
                except BaseException as exc:  # handed to the producing thread
                    self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


class StoreWriter(Subscriber):
    """Subscribes a ``RunStore`` to a run: writes each round and, on a simulator
    (``checkpointer``), its checkpoints, in the order they come.

    ``background`` writes on a thread (``BackgroundWriter``), for an array the store can
    rebuild; otherwise each round is committed before the next is sent. On a resumed lean run
    the engine re-runs the rounds after the last checkpoint: those the store holds are checked
    against their checksums instead of written again. Every write is done when the run stops.
    """

    def __init__(self, store: RunStore, background: bool,
                 checkpointer: Checkpointer | None = None) -> None:
        self.store, self.background, self.checkpointer = store, background, checkpointer
        self._writer: BackgroundWriter | None = None
        self._lean = store.holds == CHECKPOINTS
        self._previous: np.ndarray | None = None
        self._stored = self._checkpointed = -1
        self._cells: int | None = None

    def start(self, record: StartRecord) -> None:
        self.store.refuse_old_format()
        self._stored = _or_minus_one(self.store.last_round())
        self._checkpointed = _or_minus_one(self.store.last_checkpoint())
        self._previous = None
        self._cells = self.store.cell_count()
        if self.background:
            self._writer = BackgroundWriter(self.store.grouped, _queue_depth(record.cells))

    def _submit(self, write: Callable, *args) -> None:
        if self._writer is None:
            write(*args)
        else:
            self._writer.submit(write, *args)

    def round(self, record: RoundRecord) -> None:
        arrays = capture_round(record, not self._lean)
        checkpoint = None if self.checkpointer is None else self.checkpointer.take(record)
        if record.round == 0:
            self._cells = int(record.index.size)
        # The checkpoint first, so a stored round always has the checkpoint it was given.
        if checkpoint is not None and record.round > self._checkpointed:
            self._submit(self.store.write_checkpoint, record.round, checkpoint)
        if record.round <= self._stored:
            self._submit(self._check, record.round, arrays)
        else:
            self._submit(self._write, record.round, arrays)
        if checkpoint is not None or not self._lean:
            self._submit(self._forget_previous)

    def _encode(self, number: int, arrays: dict[str, np.ndarray]) -> EncodedRound:
        encoded = encode_round(number, arrays, self._previous, self._cells)
        self._previous = arrays["index"]
        return encoded

    def _write(self, number: int, arrays: dict[str, np.ndarray]) -> None:
        self.store.write(self._encode(number, arrays))

    def _check(self, number: int, arrays: dict[str, np.ndarray]) -> None:
        if self._encode(number, arrays).checksum != self.store.round_checksum(number):
            raise ResumeError(f"{self.store.path}: round {number} came out differently when "
                              "the run was resumed from its checkpoint; the simulator or its "
                              "configuration changed since the run was made")

    def _forget_previous(self) -> None:
        """The round after a checkpoint is coded on its own, so a resume can start there."""
        self._previous = None

    def stop(self, record: StopRecord) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()  # every completed round is stored, also on an error


# Cells of queued rounds a writer may hold in memory (about 32 bytes each) beyond two rounds:
# small rounds queue up and are committed in groups, large ones keep the queue at two.
_QUEUED_CELLS = 1 << 20


def _queue_depth(cells: int) -> int:
    return int(np.clip(_QUEUED_CELLS // max(cells, 1), 2, 64))


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value


def make_writer(store: RunStore, crossbar, cells: Cells) -> StoreWriter:
    """The writer a run's crossbar asks for: on a simulator on a thread, with checkpoints."""
    if not isinstance(crossbar, Checkpointable):
        return StoreWriter(store, background=False)
    return StoreWriter(store, background=True,
                       checkpointer=Checkpointer(crossbar, cells, store.holds == CHECKPOINTS))
