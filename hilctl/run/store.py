"""The run store: every round's pulses and reads, and checkpoints of the simulator's devices.

    with RunStore(run_dir / "store.sqlite") as store:
        for stored in store.rounds():   # StoredRound: number, pulses, changes, checkpoint
            ...

Format 2 (this code). Payloads go to an append-only file beside the index (``store.rounds``,
see ``payload_file.py``), each written once and fsynced before SQLite commits its index row
(round, offset, length, sha256), so a run killed at any moment loses at most the rounds in
flight (``grouped`` commits several at once), no payload is written twice (SQLite's journal
only sees the small index rows) and no payload comes near SQLite's blob limit. Payloads are
packed by ``round_codec``: positions as bitmasks or narrow integers, pulse settings as one code
per cell into the round's table of distinct settings (exact), reads as float32 in a lean store.

A store holds a run in one of two ways (``meta.rounds_hold``):

- ``changes``: each round also keeps what the state changed beyond its reads, at full
  precision; replaying the rounds in order rebuilds the state after the last one. A rig's runs
  and characterizations are stored so; on a simulator each round also has its devices'
  checkpoint.
- ``checkpoints`` (lean; a program run on a simulator): round 0 keeps the whole starting state
  and later rounds only their pulses and reads; the state and devices come back from the last
  checkpoint and the engine re-runs the rounds after it (see ``checkpoints.py``).

On a rig the pulses of a round are also journaled as an *intent*, committed before they are
sent and deleted in the transaction that stores the round; ``unconfirmed`` hands back one left
behind, so resume can re-read its cells and count its pulses instead of pulsing them again.

Every payload is checked against its checksum when read; a gap in the rounds, a round without
its checkpoint in a store of changes, or changed bytes are refused rather than resumed from a
state the run never had. A store of format 1 (``store_v1.py``) still reads; resuming it is
refused with a line naming its format.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from hilctl.drivers import PulseBatch, ResumeError
from hilctl.protocols import ProgramState, RoundRecord

from . import round_codec, store_v1
from .checkpoints import restored_arrays
from .payload_file import PayloadFile
from .stored_round import (
    CHANGE_PREFIX,
    Checkpoint,
    EncodedRound,
    StoredRound,
    capture_round,
    encode_round,
    pulse_arrays,
    round_checksum,
)

FORMAT = 2
PAYLOADS_SUFFIX = ".rounds"
CHANGES, CHECKPOINTS = "changes", "checkpoints"  # what a store's rounds hold (module docstring)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, cells INTEGER NOT NULL,
    offset INTEGER NOT NULL, length INTEGER NOT NULL, checksum TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (round INTEGER PRIMARY KEY, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, checksum TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intents (round INTEGER PRIMARY KEY, pulses BLOB NOT NULL);
"""
_DEVICE, _STATE = "backend.", "state."  # prefixes among a checkpoint's arrays


class StoredState(Protocol):
    """What the store asks of a run's state (``ProgramState`` or a characterization's)."""

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> StoredState: ...

    def to_arrays(self) -> dict[str, np.ndarray]: ...

    def record_reads(self, index: np.ndarray, reading: np.ndarray) -> None: ...

    def changes(self, index: np.ndarray, retargeted: bool = False) -> dict[str, np.ndarray]: ...

    def apply_changes(self, index: np.ndarray, changed: dict[str, np.ndarray]) -> None: ...


class RunStore:
    """One run's store (``store.sqlite`` in the run directory, payloads beside it)."""

    def __init__(self, path: str | Path, create: bool = False, holds: str = CHANGES) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ResumeError(f"{self.path.parent}: not a run directory (no {self.path.name})")
        # A ``BackgroundWriter`` writes from its own thread, one thread at a time.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._payloads = PayloadFile(self.path.with_suffix(PAYLOADS_SUFFIX))
        self._end: int | None = None
        self._grouped = False
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if create:
                self._db.executescript(_SCHEMA)
                self.set_meta(format=FORMAT, rounds_hold=holds)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ResumeError(f"{self.path}: not a run store ({exc})") from None
        meta = self.meta()
        self.format = int(meta.get("format", 1))
        self.holds = meta.get("rounds_hold", CHANGES)
        if self.format > FORMAT:
            self.close()
            raise ResumeError(f"{self.path}: store format {self.format} is newer than this "
                              f"hilctl reads (format {FORMAT}); upgrade hilctl")

    def _check_schema(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if not {"meta", "rounds"} <= tables:
            raise ResumeError(f"{self.path}: not a run store (tables missing)")

    def close(self) -> None:
        self._db.close()
        self._payloads.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def refuse_old_format(self) -> None:
        """Only a store of this format can go on being written."""
        if self.format != FORMAT:
            raise ResumeError(f"{self.path}: holds a run in store format {self.format}, which "
                              f"this hilctl reads but does not resume (it writes format "
                              f"{FORMAT}); export it, or start the run again")

    # -- metadata ---------------------------------------------------------------------------
    def set_meta(self, **values) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def meta(self) -> dict:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    # -- writing ----------------------------------------------------------------------------
    def append(self, record: RoundRecord) -> None:
        """Store one round of a store of changes, as ``StoreWriter`` does."""
        self.write(encode_round(record.round, capture_round(record, self.holds == CHANGES),
                                cells=self.cell_count()))

    def write(self, encoded: EncodedRound) -> None:
        """Store one round encoded by ``encode_round``: payload on disk, then its index row."""
        offset = self._append(encoded.blob)
        with self._transaction():
            self._db.execute(
                "INSERT INTO rounds (round, cells, offset, length, checksum) VALUES (?, ?, ?, "
                "?, ?)", (encoded.number, encoded.cells, offset, len(encoded.blob),
                          encoded.checksum))
            self._db.execute("DELETE FROM intents WHERE round <= ?", (encoded.number,))
        self._end = offset + len(encoded.blob)

    def write_checkpoint(self, number: int, checkpoint: Checkpoint) -> None:
        """Store the checkpoint taken after round ``number``, before the round itself
        (replacing one a run killed before it stored that round left behind)."""
        arrays = {} if checkpoint.positions is None else {"index": checkpoint.positions}
        arrays.update({_DEVICE + k: v for k, v in checkpoint.backend.items()})
        arrays.update({_STATE + k: v for k, v in checkpoint.state.items()})
        blob = round_codec.encode(arrays, cells=self.cell_count())
        offset = self._append(blob)
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO checkpoints (round, offset, length, "
                             "checksum) VALUES (?, ?, ?, ?)",
                             (number, offset, len(blob), round_checksum(number, 0, blob)))
        self._end = offset + len(blob)

    def _append(self, blob: bytes) -> int:
        self.refuse_old_format()
        if self._end is None:
            self._end = self._db.execute(
                "SELECT MAX(e) FROM (SELECT MAX(offset + length) AS e FROM rounds UNION ALL "
                "SELECT MAX(offset + length) FROM checkpoints)").fetchone()[0] or 0
        return self._payloads.append(blob, self._end, sync=not self._grouped)

    def journal(self, number: int, index: np.ndarray, pulses: PulseBatch) -> None:
        """Commit round ``number``'s pulses before they are sent (see the module docstring)."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO intents (round, pulses) VALUES (?, ?)",
                             (number, round_codec.encode(pulse_arrays(index, pulses))))

    def unconfirmed(self) -> dict[str, np.ndarray] | None:
        """The journaled pulses of a round sent but never stored (``index``, ``polarity``,
        ``amplitude``, ``width``), or None."""
        last = self.last_round()
        row = self._db.execute("SELECT round, pulses FROM intents WHERE round > ? ORDER BY round",
                               (-1 if last is None else last,)).fetchone()
        if row is None:
            return None
        if last is None or row[0] != last + 1:
            raise ResumeError(f"{self.path}: journaled round {row[0]} does not follow the "
                              f"last stored round {last}; the store is damaged")
        return round_codec.decode(row[1])

    # -- reading ----------------------------------------------------------------------------
    def round_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]

    def last_round(self) -> int | None:
        return self._db.execute("SELECT MAX(round) FROM rounds").fetchone()[0]

    def last_checkpoint(self) -> int | None:
        if self.format == 1:
            return None
        return self._db.execute("SELECT MAX(round) FROM checkpoints WHERE round <= (SELECT "
                                "MAX(round) FROM rounds)").fetchone()[0]

    def round_checksum(self, number: int) -> str | None:
        row = self._db.execute("SELECT checksum FROM rounds WHERE round = ?",
                               (number,)).fetchone()
        return None if row is None else row[0]

    def rounds(self, checkpoints: bool = True) -> Iterator[StoredRound]:
        """Every stored round in order, each with its checkpoint if it has one, one round at a
        time (a reader of a large run holds one round)."""
        if self.format == 1:
            yield from store_v1.read_rounds(self._db, self.path)
            return
        kept = self._checkpoint_rows() if checkpoints else {}
        previous, cells = None, None
        for expected, (number, count, offset, length, checksum) in enumerate(self._index()):
            self._check_sequence(expected, number)
            blob = self._read(offset, length, checksum, f"round {number}", number, count)
            cells = count if number == 0 else cells
            arrays = round_codec.decode(blob, previous, cells)
            previous = arrays["index"]
            checkpoint = None if number not in kept else self._checkpoint(number, *kept[number])
            yield _split_round(number, arrays, checkpoint)

    def pulse_rounds(self) -> Iterator[dict[str, np.ndarray]]:
        """Each stored round's pulses and reads (see ``StoredRound``), in order."""
        for stored in self.rounds(checkpoints=False):
            yield stored.pulses

    def iter_rounds(self) -> Iterator[tuple[int, dict[str, np.ndarray], Checkpoint | None]]:
        """``(round, pulses, checkpoint)`` of every stored round in order."""
        for stored in self.rounds():
            yield stored.number, stored.pulses, stored.checkpoint

    def pulse_counts(self, cells: int) -> np.ndarray:
        """Pulses each of the run's ``cells`` got per polarity over every stored round (2,
        cells; row 0 RESET, row 1 SET), for the device book."""
        counts = np.zeros((2, cells), np.int64)
        for pulses in self.pulse_rounds():
            if "polarity" in pulses:
                np.add.at(counts, ((pulses["polarity"] > 0).astype(np.intp),
                                   pulses["index"].astype(np.intp)), 1)
        return counts

    def replay(self, state_type: type[StoredState] = ProgramState
               ) -> tuple[StoredState | None, list[tuple[np.ndarray | None, dict]]]:
        """The state (a ``state_type``) the stored run comes back to, and the devices'
        checkpoints to restore in order, each with the positions (in the run's cell list) of
        the cells it covers (None: all).

        A store of changes comes back to the state after its last round; a lean store to the
        state of its last checkpoint (the engine re-runs the rounds after it). A run stopped
        before round 0 was stored has no state yet (None): resuming it starts it again."""
        try:
            if self.holds == CHECKPOINTS:
                return self._replay_checkpoints(state_type)
            return self._replay_changes(state_type)
        except sqlite3.DatabaseError as exc:
            raise ResumeError(f"{self.path}: the store is damaged ({exc})") from None

    def _replay_changes(self, state_type):
        state, devices, rounds = None, [], 0
        for stored in self.rounds():
            rounds += 1
            index = stored.pulses["index"]
            if stored.number == 0:
                state = state_type.from_arrays(stored.changes)
            else:
                if "polarity" in stored.pulses:
                    state.record_reads(index, stored.pulses["reading"])
                state.apply_changes(index, stored.changes)
            if stored.checkpoint is not None:
                devices.append((stored.checkpoint.positions, stored.checkpoint.backend))
            elif devices:
                raise ResumeError(f"{self.path}: round {stored.number} has no device "
                                  "snapshot; it cannot be resumed")
        if devices and len(devices) != rounds:
            raise ResumeError(f"{self.path}: holds {rounds} rounds but {len(devices)} device "
                              "snapshots; a simulated array cannot be rebuilt from it")
        return state, devices

    def _replay_checkpoints(self, state_type):
        for expected, (number, *_) in enumerate(self._index()):
            self._check_sequence(expected, number)
        first = next(self.rounds(checkpoints=False), None)
        if first is None:
            return None, []
        kept = [self._checkpoint(number, *row) for number, row in
                self._checkpoint_rows().items()]
        if not kept or kept[0].positions is not None:
            raise ResumeError(f"{self.path}: round 0 has no device checkpoint; it cannot be "
                              "resumed")
        state = state_type.from_arrays(restored_arrays(first.changes, kept[1:]))
        return state, [(c.positions, c.backend) for c in kept]

    def _index(self) -> list[tuple]:
        return self._db.execute("SELECT round, cells, offset, length, checksum FROM rounds "
                                "ORDER BY round").fetchall()

    def _checkpoint_rows(self) -> dict[int, tuple]:
        # A checkpoint of a round the run was killed before storing is not the run's yet.
        rows = self._db.execute("SELECT round, offset, length, checksum FROM checkpoints WHERE "
                                "round <= (SELECT MAX(round) FROM rounds) ORDER BY round")
        return {number: rest for number, *rest in rows}

    def _checkpoint(self, number: int, offset: int, length: int, checksum: str) -> Checkpoint:
        blob = self._read(offset, length, checksum, f"the checkpoint of round {number}",
                          number, 0)
        arrays = round_codec.decode(blob, cells=self.cell_count())
        return Checkpoint(arrays.get("index"), _prefixed(arrays, _DEVICE),
                          _prefixed(arrays, _STATE))

    def _read(self, offset: int, length: int, checksum: str, what: str, number: int,
              cells: int) -> bytes:
        blob = self._payloads.read(offset, length)
        if round_checksum(number, cells, blob) != checksum:
            raise ResumeError(f"{self.path}: {what} does not match its checksum (the store's "
                              "bytes were changed); it cannot be resumed")
        return blob

    def cell_count(self) -> int | None:
        """The run's cells (round 0 reads them all), or None before round 0 is stored."""
        row = self._db.execute("SELECT cells FROM rounds WHERE round = 0").fetchone()
        return None if row is None else row[0]

    def _check_sequence(self, expected: int, number: int) -> None:
        if number != expected:
            raise ResumeError(f"{self.path}: round {expected} is missing from the store "
                              f"(next stored: {number}); it cannot be resumed")

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """Rounds and checkpoints written inside share one fsync of their payloads and one
        commit: the payloads still reach the disk before the index rows that point at them,
        and a kill loses the whole group or none of it."""
        self._grouped = True
        try:
            with Transaction(self._db):
                yield
                self._payloads.sync()
        except BaseException:
            self._end = None  # the rolled-back rows' payloads are a tail to overwrite
            raise
        finally:
            self._grouped = False

    def _transaction(self):
        return contextlib.nullcontext() if self._grouped else Transaction(self._db)


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _split_round(number: int, arrays: dict[str, np.ndarray],
                 checkpoint: Checkpoint | None) -> StoredRound:
    changes = _prefixed(arrays, CHANGE_PREFIX)
    pulses = round_codec.untabulate({k: v for k, v in arrays.items()
                                     if not k.startswith(CHANGE_PREFIX)})
    return StoredRound(number, pulses, changes, checkpoint)


class Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *rest) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
