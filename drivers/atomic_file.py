"""Files written so that a reader sees the old content or the new, never half of either: a
crash or Ctrl-C while writing leaves what was there before."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", **open_args) -> Iterator[IO]:
    """A file handle on a temporary beside ``path`` that replaces ``path`` once closed cleanly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_args) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    with atomic_output(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)
