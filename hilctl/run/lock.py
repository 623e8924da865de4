"""An exclusive lock on a run directory, held for the whole run.

Two processes driving one run (``--resume`` twice, or two fresh runs on one ``--out``) would
pulse the same cells twice and interleave their rounds in one store; SQLite's own locking only
guards single transactions. The lock is ``flock`` on ``run.lock`` inside the run directory, so
the kernel releases it when the holder exits, however it exits (SIGKILL included).
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
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock, or refuse at once if another process holds it."""
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResumeError(f"{run_dir}: another hilctl process is running this run; "
                              "wait for it to finish or choose another --out") from None
        yield
    finally:
        os.close(fd)
