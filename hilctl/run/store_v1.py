"""Reading a run store of format 1 (what hilctl wrote before the lean store).

Format 1 keeps every round's arrays as SQLite blobs (``rounds.pulses``: the pulses and reads,
``rounds.state``: the state's changes) and a device snapshot per round (its own table, or in
older stores ``rounds.backend``), each blob made by ``pack``. Such a store still reads round by
round (export, the API, compare, infer, the device book); resuming it is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from hilctl.drivers import ResumeError

from .array_blob import unpack
from .stored_round import Checkpoint, StoredRound, round_checksum


def read_rounds(db: sqlite3.Connection, path) -> Iterator[StoredRound]:
    """Every round of a format-1 store in order, its bytes checked."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    columns = {r[1] for r in db.execute("PRAGMA table_info(rounds)")}
    own = "snapshots" in tables
    snapshot = "s.backend" if own else "NULL"
    join = "LEFT JOIN snapshots s ON s.round = r.round" if own else ""
    inline = "r.backend" if "backend" in columns else "NULL"
    checksum = "r.checksum" if "checksum" in columns else "NULL"
    rows = db.execute(
        f"SELECT r.round, r.cells, r.pulses, r.state, {inline}, {checksum}, {snapshot}, "
        f"{'s.checksum' if own else 'NULL'} FROM rounds r {join} ORDER BY r.round")
    for expected, row in enumerate(rows):
        number, cells, pulses, state, backend, checked, snapshot_blob, snapshot_sum = row
        if number != expected:
            raise ResumeError(f"{path}: round {expected} is missing from the store "
                              f"(next stored: {number})")
        if checked is not None and checked != round_checksum(number, cells, pulses, state,
                                                             backend):
            raise ResumeError(f"{path}: round {number} does not match its checksum (the "
                              "store's bytes were changed)")
        if snapshot_blob is not None and snapshot_sum != round_checksum(number, 0,
                                                                        snapshot_blob):
            raise ResumeError(f"{path}: the snapshot of round {number} does not match its "
                              "checksum (the store's bytes were changed)")
        device = backend if backend is not None else snapshot_blob
        arrays = unpack(pulses)
        checkpoint = None if device is None else Checkpoint(
            None if number == 0 else arrays["index"], unpack(device), {})
        yield StoredRound(number, arrays, unpack(state), checkpoint)
