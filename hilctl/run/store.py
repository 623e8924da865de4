"""The SQLite run store: every round's pulses and reads, appended in one transaction each.

A round is stored as arrays (one row per round, not per cell): its pulses and reads, and what
the state hands out as its changes beyond the reads (``changes``; round 0 holds the whole
starting state). A simulated array's device snapshot of each round goes to its own table,
written before the round's row, so a stored round always has its snapshot. Replaying the rounds
in order rebuilds the state after the last complete round, so a run killed at any moment loses
at most the round in flight and ``--resume`` continues it exactly. The store only packs and
unpacks: which fields a state keeps is the state's business (``ProgramState``, or a
characterization's state).

On a rig the pulses of a round are also journaled as an *intent*, committed before they are
sent and deleted in the transaction that stores the round. An intent left behind is a round the
rig may have applied (a lost reply, a kill between send and store): ``unconfirmed`` hands it
back so resume can re-read its cells and count its pulses instead of pulsing them again.

Each round and snapshot carries a sha256 of its bytes; replay refuses a gap in the rounds, a
round without its snapshot, or bytes that changed, rather than resuming from a state the run
never had.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from hilctl.drivers import DataError, PulseBatch, ResumeError
from hilctl.protocols import ProgramState, RoundRecord, StartRecord, StopRecord, Subscriber

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    cells INTEGER NOT NULL,
    pulses BLOB NOT NULL,
    state BLOB NOT NULL,
    backend BLOB,
    checksum TEXT
);
CREATE TABLE IF NOT EXISTS intents (round INTEGER PRIMARY KEY, pulses BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    round INTEGER PRIMARY KEY,
    backend BLOB NOT NULL,
    checksum TEXT NOT NULL
);
"""
# 64 KiB pages write large blobs about three times faster than the default 4 KiB.
_PAGE_SIZE = 65536


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays as one blob: a JSON header (names, dtypes, shapes) and the raw buffers.

    Plain numeric buffers only, so reading a store back can never execute code.
    """
    arrays = {name: np.asarray(value, order="C") for name, value in arrays.items()}
    header = json.dumps([[n, a.dtype.str, list(a.shape)] for n, a in arrays.items()]).encode()
    return b"".join([len(header).to_bytes(4, "little"), header,
                     *(a.tobytes() for a in arrays.values())])


def unpack(blob: bytes) -> dict[str, np.ndarray]:
    size = int.from_bytes(blob[:4], "little")
    offset = 4 + size
    arrays = {}
    for name, dtype, shape in json.loads(blob[4:offset]):
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise DataError("run store holds an object array; refusing to read it")
        count = int(np.prod(shape))
        arrays[name] = np.frombuffer(blob, dtype, count, offset).reshape(tuple(shape)).copy()
        offset += count * dtype.itemsize
    return arrays


class StoredState(Protocol):
    """What the store asks of a run's state (``ProgramState`` or a characterization's)."""

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> StoredState: ...

    def to_arrays(self) -> dict[str, np.ndarray]: ...

    def record_reads(self, index: np.ndarray, reading: np.ndarray) -> None: ...

    def changes(self, index: np.ndarray, retargeted: bool = False) -> dict[str, np.ndarray]: ...

    def apply_changes(self, index: np.ndarray, changed: dict[str, np.ndarray]) -> None: ...


class RunStore:
    """One run's store file (``store.sqlite`` in the run directory)."""

    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ResumeError(f"{self.path.parent}: not a run directory (no {self.path.name})")
        # A ``BackgroundWriter`` writes from its own thread, one thread at a time.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            if create:
                self._db.execute(f"PRAGMA page_size={_PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if not create:
                self._check_schema()
            self._db.executescript(_SCHEMA)  # adds the intents table to an older store
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(rounds)")}
            if "checksum" not in columns:  # a store from before checksums: its rounds have none
                self._db.execute("ALTER TABLE rounds ADD COLUMN checksum TEXT")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ResumeError(f"{self.path}: not a run store ({exc})") from None

    def _check_schema(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if not {"meta", "rounds"} <= tables:
            raise ResumeError(f"{self.path}: not a run store (tables missing)")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- metadata ---------------------------------------------------------------------------
    def set_meta(self, **values) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def meta(self) -> dict:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    # -- rounds -----------------------------------------------------------------------------
    def append(self, record: RoundRecord) -> None:
        """Store one round: its pulses and reads, and the state it changed, atomically."""
        self.write(encode_round(record))

    def write(self, row: tuple) -> None:
        """Store one round encoded by ``encode_round``, in one transaction."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO rounds (round, cells, pulses, state, backend, checksum) "
                "VALUES (?, ?, ?, ?, ?, ?)", row)
            self._db.execute("DELETE FROM intents WHERE round <= ?", (row[0],))

    def write_snapshot(self, number: int, backend: dict[str, np.ndarray]) -> None:
        """Store the device snapshot of round ``number`` (replacing one a run killed before
        storing that round left behind)."""
        blob = pack(backend)
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO snapshots (round, backend, checksum) "
                             "VALUES (?, ?, ?)", (number, blob, _checksum(number, 0, blob)))

    def journal(self, number: int, index: np.ndarray, pulses: PulseBatch) -> None:
        """Commit round ``number``'s pulses before they are sent (see the module docstring)."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO intents (round, pulses) VALUES (?, ?)",
                             (number, pack(_pulse_arrays(index, pulses))))

    def unconfirmed(self) -> dict[str, np.ndarray] | None:
        """The journaled pulses of a round sent but never stored (``index``, ``polarity``,
        ``amplitude``, ``width``), or None."""
        last = self._db.execute("SELECT MAX(round) FROM rounds").fetchone()[0]
        row = self._db.execute("SELECT round, pulses FROM intents WHERE round > ? ORDER BY round",
                               (-1 if last is None else last,)).fetchone()
        if row is None:
            return None
        if last is None or row[0] != last + 1:
            raise ResumeError(f"{self.path}: journaled round {row[0]} does not follow the "
                              f"last stored round {last}; the store is damaged")
        return unpack(row[1])

    def pulse_rounds(self) -> Iterator[dict[str, np.ndarray]]:
        """Each stored round's pulses and reads (``index``, ``reading``, and for a pulsed
        round ``polarity``, ``amplitude``, ``width``, maybe ``gate``), in order. ``replay``
        checks the rounds; call it first."""
        rows = self._db.execute("SELECT pulses FROM rounds ORDER BY round").fetchall()
        for (blob,) in rows:
            yield unpack(blob)

    def pulse_counts(self, cells: int) -> np.ndarray:
        """Pulses each of the run's ``cells`` got per polarity over every stored round (2,
        cells; row 0 RESET, row 1 SET), for the device book."""
        counts = np.zeros((2, cells), np.int64)
        for (blob,) in self._db.execute("SELECT pulses FROM rounds WHERE round > 0"):
            pulses = unpack(blob)
            if "polarity" in pulses:
                np.add.at(counts, ((pulses["polarity"] > 0).astype(np.intp),
                                   pulses["index"].astype(np.intp)), 1)
        return counts

    def iter_rounds(self):
        """``(round, pulses, backend)`` of every stored round in order, one at a time, as
        stored (``pulses``: ``index`` positions in the run's cell list, ``reading``, and for a
        pulse round ``polarity``, ``amplitude``, ``width`` and, with a gate, ``gate``;
        ``backend``: the simulator's snapshot or None), so a reader of a large run holds one
        round at a time."""
        rows = self._db.execute(  # a snapshot in its own table, or (older stores) in the round
            "SELECT r.round, r.pulses, COALESCE(s.backend, r.backend) FROM rounds r "
            "LEFT JOIN snapshots s ON s.round = r.round ORDER BY r.round")
        for number, pulses, backend in rows:
            yield number, unpack(pulses), None if backend is None else unpack(backend)

    def round_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]

    def replay(self, state_type: type[StoredState] = ProgramState
               ) -> tuple[StoredState | None, list[tuple[np.ndarray | None, dict]]]:
        """The state (a ``state_type``) after the last stored round, and the backend changes in
        order, each with the positions (in the run's cell list) of the cells it covers (None:
        all).

        A run stopped before round 0 was stored has no state yet (None): nothing of it was
        kept, so resuming it starts it again from its first read."""
        try:
            rows = self._db.execute("SELECT round, cells, pulses, state, backend, checksum "
                                    "FROM rounds ORDER BY round").fetchall()
            snapshots = self._snapshots()
        except sqlite3.DatabaseError as exc:
            raise ResumeError(f"{self.path}: the store is damaged ({exc})") from None
        state = None
        backend_changes = []
        for expected, row in enumerate(rows):
            number, _, pulses_blob, state_blob, backend_blob, _ = row
            self._check_row(expected, row)
            changed = unpack(state_blob)
            positions = None
            if number == 0:
                state = state_type.from_arrays(changed)
            else:
                pulses = unpack(pulses_blob)
                positions = pulses["index"]
                if "polarity" in pulses:
                    state.record_reads(positions, pulses["reading"])
                state.apply_changes(positions, changed)
            backend = backend_blob if backend_blob is not None else snapshots.get(number)
            if backend is None and snapshots:
                raise ResumeError(f"{self.path}: round {number} has no device snapshot; "
                                  "it cannot be resumed")
            if backend is not None:
                backend_changes.append((positions, unpack(backend)))
        return state, backend_changes

    def _snapshots(self) -> dict[int, bytes]:
        snapshots = {}
        for number, blob, checksum in self._db.execute(
                "SELECT round, backend, checksum FROM snapshots ORDER BY round"):
            if checksum != _checksum(number, 0, blob):
                raise ResumeError(f"{self.path}: the snapshot of round {number} does not match "
                                  "its checksum (the store's bytes were changed)")
            snapshots[number] = blob
        return snapshots

    def _check_row(self, expected: int, row: tuple) -> None:
        """Refuse a gap in the rounds or a round whose bytes are not the ones written."""
        if row[0] != expected:
            raise ResumeError(f"{self.path}: round {expected} is missing from the store "
                              f"(next stored: {row[0]}); it cannot be resumed")
        if row[-1] is not None and row[-1] != _checksum(*row[:-1]):
            raise ResumeError(f"{self.path}: round {expected} does not match its checksum "
                              "(the store's bytes were changed); it cannot be resumed")

    def _transaction(self):
        return Transaction(self._db)


class Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *rest) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


class BackgroundWriter:
    """Runs a store's writes on a thread, in order, so the next round is computed while this
    one is committed. At most a round and its snapshot wait behind the write in progress; a
    write error surfaces on the next ``submit`` or on ``close``. Use it where the array can be
    rebuilt from the store (a simulator): rounds lost in a crash are then recomputed
    identically.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=2)
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
        while (job := self._queue.get()) is not None:
            if self._error is None:
                try:
                    job[0](*job[1])
                except BaseException as exc:  # handed to the producing thread
                    self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


class StoreWriter(Subscriber):
    """Subscribes a ``RunStore`` to a run: writes each round, and the device snapshots handed
    to ``snapshot``, in the order they come.

    ``background`` writes on a thread (``BackgroundWriter``), for an array the store can
    rebuild; otherwise each round is committed before the next is sent. Pulse settings are
    kept as ``pulse_dtype`` (float32 is plenty to read a program run back; a
    characterization's table needs float64). Every write is done when the run stops.
    """

    def __init__(self, store: RunStore, background: bool,
                 pulse_dtype: type[np.floating] = np.float32) -> None:
        self.store, self.background, self.pulse_dtype = store, background, pulse_dtype
        self._writer: BackgroundWriter | None = None

    def start(self, record: StartRecord) -> None:
        if self.background:
            self._writer = BackgroundWriter()

    def _submit(self, write: Callable, *args) -> None:
        if self._writer is None:
            write(*args)
        else:
            self._writer.submit(write, *args)

    def snapshot(self, number: int, backend: dict[str, np.ndarray]) -> None:
        self._submit(self.store.write_snapshot, number, backend)

    def round(self, record: RoundRecord) -> None:
        self._submit(self.store.write, encode_round(record, self.pulse_dtype))

    def stop(self, record: StopRecord) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()  # every completed round is stored, also on an error


def encode_round(record: RoundRecord, pulse_dtype: type[np.floating] = np.float32) -> tuple:
    """One round as a row of the ``rounds`` table: its pulses and reads, and what the state
    says the round changed beyond them (round 0: the whole starting state). Copies
    everything, so the caller may go on changing the state while the row waits."""
    index = record.index
    if record.round == 0:
        changed = record.state.to_arrays()
    else:
        changed = record.state.changes(index, retargeted=record.pulses is None)
    if record.pulses is None:
        pulses = {"index": index.astype(np.int32)}
    else:
        pulses = _pulse_arrays(index, record.pulses, pulse_dtype)
    pulses["reading"] = record.reading
    row = (record.round, int(index.size), pack(pulses), pack(changed), None)
    return (*row, _checksum(*row))


def _checksum(number: int, cells: int, *blobs: bytes | None) -> str:
    """sha256 over a round's number, cell count and blobs, each blob prefixed by its length."""
    digest = hashlib.sha256(f"{number}:{cells}".encode())
    for blob in blobs:
        data = b"" if blob is None else bytes(blob)
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def _pulse_arrays(index: np.ndarray, pulses: PulseBatch,
                  dtype: type[np.floating] = np.float32) -> dict[str, np.ndarray]:
    """A round's pulses as stored: the positions of its cells and what each got."""
    arrays = {"index": index.astype(np.int32), "polarity": pulses.polarity,
              "amplitude": pulses.amplitude.astype(dtype), "width": pulses.width.astype(dtype)}
    if pulses.gate is not None:
        arrays["gate"] = pulses.gate.astype(dtype)
    return arrays
