"""Exclusive locks held for a whole run: on a run directory, and on a device book.

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
