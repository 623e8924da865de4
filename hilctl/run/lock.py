"""Exclusive locks held for a whole run: on a run directory, and on a device book.

    with run_lock(run_dir): ...          # refuses at once if another process runs it
    with book_lock(book_path): ...       # the same for a device book; re-entrant in-process

Two processes driving one run (``--resume`` twice, or two fresh runs on one ``--out``) would
pulse the same cells twice and interleave their rounds in one store; two runs on one device
book would each overwrite what the other learned. SQLite's own locking only guards single
transactions. A lock is ``flock`` on a lock file, so the kernel releases it when the holder
exits, however it exits (SIGKILL included).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hilctl.drivers import ResumeError

LOCK_NAME = "run.lock"
_BOOKS_HELD: set[Path] = set()  # book lock files this process holds


@contextmanager
def exclusive_lock(path: Path, refusal: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, or raise ``ResumeError(refusal)`` at once if
    another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResumeError(refusal) from None
        yield
    finally:
        os.close(fd)


def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock, or refuse at once if another process holds it."""
    return exclusive_lock(Path(run_dir) / LOCK_NAME,
                          f"{run_dir}: another hilctl process is running this run; "
                          "wait for it to finish or choose another --out")


@contextmanager
def book_lock(book: Path) -> Iterator[None]:
    """Hold the lock of the device book at ``book`` (``<book>.lock``), or refuse at once if
    another process holds it. Re-entrant within a process: a run takes it before it makes
    its directory (so a refusal leaves nothing behind), and the book takes it again when
    it opens."""
    path = Path(f"{book}.lock").absolute()
    if path in _BOOKS_HELD:
        yield
        return
    with exclusive_lock(path, f"{book}: another hilctl process is using this device book; "
                              "wait for it to finish"):
        _BOOKS_HELD.add(path)
        try:
            yield
        finally:
            _BOOKS_HELD.discard(path)
