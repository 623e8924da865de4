"""The device book: what an array has shown about each of its devices, kept across runs.

A planner that knows only the device type is capped below the oracle that knows each device:
most of a device's one-shot spread is its own and repeats from run to run. The book keeps,
per device and polarity (row 0 RESET, row 1 SET, as the neural planner), the planner's
posterior knob shift ``s`` (the device answers a knob ``u`` like the average device answers
``u + s``) and the information of the looks behind it (1 / knob unit^2, the inverse variance
the looks gave beyond the planner's generic prior), with the pulses the book has seen and when
it was last updated (Unix seconds). A planner's prior for the next run is that posterior, the
information of its looks discounted by age, in time and in the pulses the device received
since (runs whose planner learns nothing still count their pulses into the book):

    keep = keep_per_run * 0.5 ** (age_s / half_life_s) * 0.5 ** (pulses_since / half_life_pulses),

so a device the book last saw long ago, or cycled often since, counts for less, and a book on
a drifting array follows it. A fresh read of the array (``hilctl infer --fresh-reads``) is no
look at how a device answers a pulse: it leaves the looks and their age alone and keeps only
when each device was last read and what it read (``read_s``, ``g_read_S``).

The store is one SQLite file: a ``meta`` table (format version, the array's identity, the
knob coordinate of each polarity), an ``arrays`` table of whole (2, n) arrays as raw bytes with
dtype and shape (``store.pack``, no pickle) and a sha256 each, and the runs already absorbed
(a run absorbed twice would count its looks twice). Every update is one transaction, so the
book is never half-written, and a process holds ``<book>.lock`` while it uses the book, so a
second run on the same book refuses at once instead of overwriting what the first learns.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers import DataError
from hilctl.drivers.atomic_file import refuse_links

from .array_blob import pack, unpack
from .lock import book_lock
from .store import Transaction

FORMAT_VERSION = 2  # 2: looked_pulses, read_s, g_read_S (a format-1 book reads as 2)
SIDES = ("reset", "set")  # row 0, row 1
# name: (dtype, rows); rows 2 are per polarity (SIDES), 1 per device. ``looked_pulses``: the
# device's pulses (both polarities) when that polarity's look was last taken.
_ARRAYS = {"shift": (np.float64, 2), "information": (np.float64, 2), "pulses": (np.int64, 2),
           "updated_s": (np.float64, 2), "looked_pulses": (np.int64, 2),
           "read_s": (np.float64, 1), "g_read_S": (np.float64, 1)}
_NEVER = ("updated_s", "read_s", "g_read_S")  # NaN until set
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS arrays (name TEXT PRIMARY KEY, data BLOB NOT NULL,
                                   checksum TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (run TEXT PRIMARY KEY, absorbed_s REAL NOT NULL);
"""


@dataclass(frozen=True)
class Discount:
    """How much of a stored look a new run keeps (see the module docstring)."""

    keep_per_run: float = 1.0
    half_life_s: float = float("inf")
    half_life_pulses: float = float("inf")

    def keep(self, age_s: np.ndarray, pulses_since: np.ndarray | float = 0) -> np.ndarray:
        return (self.keep_per_run * 0.5 ** (np.maximum(age_s, 0.0) / self.half_life_s)
                * 0.5 ** (np.maximum(pulses_since, 0) / self.half_life_pulses))


@dataclass
class Beliefs:
    """Per device and polarity (2, m): the posterior knob shift, the information of the looks
    behind it, and the share of that information a new run keeps (1 as stored)."""

    shift: np.ndarray
    information: np.ndarray
    keep: np.ndarray | float = 1.0


class DeviceBook:
    """One array's book file. Use it as a context manager: it holds the book's lock.

    Parameters
    ----------
    path : path of the SQLite file
    identity : dict, optional
        The array's identity (``array_identity``); a new book is made for it, an existing one
        of another array is refused. None opens an existing book as it is (inspection).
    """

    def __init__(self, path: str | Path, identity: dict | None = None) -> None:
        self.path = Path(path)
        refuse_links(self.path)
        if identity is None and not self.path.is_file():
            raise DataError(f"{self.path}: no device book there")
        self._lock = book_lock(self.path)
        self._lock.__enter__()
        try:
            self._db = self._connect(identity)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise

    def _connect(self, identity: dict | None) -> sqlite3.Connection:
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if fresh and identity is None:
            raise DataError(f"{self.path}: an empty file, not a device book")
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            if fresh:
                db.executescript(_SCHEMA)
                _write_meta(db, {"format_version": FORMAT_VERSION, "identity": identity,
                                 "knobs": None})
            self._db = db
            self.meta = self._read_meta()
            if identity is not None:
                self._check_identity(identity)
            return db
        except (sqlite3.DatabaseError, ValueError) as exc:  # ValueError: meta not JSON
            db.close()
            raise DataError(f"{self.path}: not a device book, or a damaged one ({exc})") from None
        except BaseException:
            db.close()
            raise

    def _read_meta(self) -> dict:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if not {"meta", "arrays", "runs"} <= tables:
            raise DataError(f"{self.path}: not a device book (tables missing)")
        meta = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
        version = meta.get("format_version")
        if not isinstance(version, int):
            raise DataError(f"{self.path}: not a device book (no format version)")
        if version > FORMAT_VERSION:
            raise DataError(f"{self.path}: a device book of format {version}, made by a newer "
                            f"hilctl; this one reads format {FORMAT_VERSION}: upgrade hilctl")
        return meta

    def _check_identity(self, identity: dict) -> None:
        stored = self.meta.get("identity")
        if stored != identity:
            raise DataError(f"{self.path}: the device book of another array "
                            f"({describe_identity(stored)}), not of this one "
                            f"({describe_identity(identity)}); give this array its own book")

    def close(self) -> None:
        self._db.close()
        self._lock.__exit__(None, None, None)

    def __enter__(self) -> DeviceBook:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Devices in the array the book is for."""
        rows, cols = self.meta["identity"]["shape"]
        return int(rows) * int(cols)

    def arrays(self) -> dict[str, np.ndarray]:
        """The whole book: ``shift``, ``information``, ``pulses``, ``updated_s``,
        ``looked_pulses``, each (2, n), and ``read_s``, ``g_read_S`` (1, n) (an empty book: no
        looks, no pulses, never updated or read)."""
        try:
            rows = self._db.execute("SELECT name, data, checksum FROM arrays").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: the device book is damaged ({exc})") from None
        out = {name: np.zeros((n, self.size), dtype) for name, (dtype, n) in _ARRAYS.items()}
        for name in _NEVER:
            out[name][:] = np.nan
        for name, data, checksum in rows:
            if checksum != hashlib.sha256(data).hexdigest():
                raise DataError(f"{self.path}: array {name!r} does not match its checksum "
                                "(the book's bytes were changed)")
            value = unpack(data)["value"]
            if name in out and value.shape == out[name].shape:
                out[name] = value
            else:
                raise DataError(f"{self.path}: array {name!r} has shape {value.shape}, the "
                                f"book's array has {self.size} devices")
        if "looked_pulses" not in {row[0] for row in rows}:  # format 1: no pulse since a look
            out["looked_pulses"][:] = out["pulses"].sum(axis=0)
        return out

    def prior(self, flat: np.ndarray, discount: Discount, now_s: float | None = None) -> Beliefs:
        """What the book knows of devices ``flat``, with the share of its information a run
        keeps at their age, for a planner's prior."""
        arrays = self.arrays()
        now_s = time.time() if now_s is None else now_s
        age = now_s - arrays["updated_s"][:, flat]
        since = arrays["pulses"][:, flat].sum(axis=0) - arrays["looked_pulses"][:, flat]
        keep = np.where(np.isfinite(age), discount.keep(np.nan_to_num(age), since), 0.0)
        return Beliefs(arrays["shift"][:, flat], arrays["information"][:, flat], keep)

    def check_knobs(self, knobs: list[str]) -> None:
        """Refuse looks in another knob coordinate than the book holds (ln width vs volts)."""
        stored = self.meta.get("knobs")
        if stored is not None and stored != knobs:
            raise DataError(f"{self.path}: the book holds shifts of the {'/'.join(stored)} "
                            f"knobs (RESET/SET); this planner plans {'/'.join(knobs)}")

    def run_count(self) -> int:
        """Runs (and characterizations) absorbed so far."""
        return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def absorbed(self, run: str) -> bool:
        return self._db.execute("SELECT 1 FROM runs WHERE run = ?", (run,)).fetchone() is not None

    # -- writing ---------------------------------------------------------------------------
    def absorb(self, run: str, flat: np.ndarray, beliefs: Beliefs | None, pulses: np.ndarray,
               knobs: list[str] | None, now_s: float | None = None) -> bool:
        """Replace the looks at devices ``flat`` with a run's posterior and add its pulses
        (2, m), in one transaction; ``beliefs`` None (a run whose planner learns nothing):
        add the pulses only, so the looks age by them. A run already absorbed is skipped
        (False)."""
        if beliefs is not None:
            self.check_knobs(knobs)
        now_s = time.time() if now_s is None else now_s
        with Transaction(self._db):
            if self.absorbed(run):
                return False
            arrays = self.arrays()
            arrays["pulses"][:, flat] += pulses
            if beliefs is not None:
                arrays["shift"][:, flat] = beliefs.shift
                arrays["information"][:, flat] = beliefs.information
                arrays["updated_s"][:, flat] = now_s
                arrays["looked_pulses"][:, flat] = arrays["pulses"][:, flat].sum(axis=0)
                _write_meta(self._db, {"knobs": knobs})
            self._write_arrays(arrays)
            self._db.execute("INSERT INTO runs (run, absorbed_s) VALUES (?, ?)", (run, now_s))
        if beliefs is not None:
            self.meta["knobs"] = knobs
        return True

    def saw_reads(self, flat: np.ndarray, conductance: np.ndarray,
                  now_s: float | None = None) -> None:
        """Keep when devices ``flat`` were last read and what they read (S), in one
        transaction; the looks and their age stay as they are (a read is no look at how a
        device answers a pulse)."""
        now_s = time.time() if now_s is None else now_s
        with Transaction(self._db):
            arrays = self.arrays()
            arrays["read_s"][0, flat] = now_s
            arrays["g_read_S"][0, flat] = conductance
            self._write_arrays(arrays)

    def forget(self, flat: np.ndarray | None = None) -> None:
        """Drop what the book knows of devices ``flat`` (all of them if None)."""
        with Transaction(self._db):
            arrays = self.arrays()
            index = slice(None) if flat is None else flat
            for name in ("shift", "information", "pulses", "looked_pulses"):
                arrays[name][:, index] = 0
            for name in _NEVER:
                arrays[name][:, index] = np.nan
            self._write_arrays(arrays)

    def _write_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        rows = []
        for name, value in arrays.items():
            data = pack({"value": value.astype(_ARRAYS[name][0])})
            rows.append((name, data, hashlib.sha256(data).hexdigest()))
        self._db.executemany("INSERT OR REPLACE INTO arrays (name, data, checksum) "
                             "VALUES (?, ?, ?)", rows)


def _write_meta(db: sqlite3.Connection, values: dict) -> None:
    db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                   [(k, json.dumps(v)) for k, v in values.items()])


def describe_identity(identity: dict | None) -> str:
    if not identity:
        return "no identity"
    shape = "x".join(str(v) for v in identity.get("shape", ()))
    if identity.get("kind") == "rig":
        return f"rig array {identity.get('array')!r}, {shape}"
    return f"simulated {identity.get('preset')} seed {identity.get('seed')}, {shape}"
