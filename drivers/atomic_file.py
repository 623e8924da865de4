"""Files written so that a reader sees the old content or the new, never half of either: a
crash or Ctrl-C while writing leaves what was there before."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import DataError

# Temporaries are hidden (a leading dot) and carry this suffix, so no file of a user's matches.
TMP_SUFFIX = ".hilctl-tmp"
ORPHAN_AGE_S = 60.0


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", **open_args) -> Iterator[IO]:
    """A file handle on a temporary beside ``path`` that replaces ``path`` once closed cleanly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, mode, **open_args) as fh:
            # mkstemp makes the file 0600; a result is as readable as any file the user creates.
            os.chmod(tmp, 0o666 & ~user_umask())
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_umask_lock = threading.Lock()


def user_umask() -> int:
    """The process's umask. It can only be read by setting it, so it is set back at once; the
    stand-in for that instant is the strictest usual mask, so a file another thread creates
    meanwhile is never looser than the user asked."""
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def remove_orphans(directory: Path) -> None:
    """Delete the temporaries that killed writers left in ``directory`` (a kill skips the
    clean-up above; a model's weights can leave tens of MB). One untouched for
    ``ORPHAN_AGE_S`` has no writer left: a live writer keeps its temporary's time fresh."""
    now = time.time()
    for orphan in directory.glob(f".*{TMP_SUFFIX}"):
        try:
            if orphan.is_file() and now - orphan.stat().st_mtime > ORPHAN_AGE_S:
                orphan.unlink()
        except OSError:
            pass  # gone already, or not ours to delete: the write goes on


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    with atomic_output(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)


def check_output_directory(directory: str | os.PathLike, marker: str | None, what: str,
                           create: bool = True) -> Path:
    """Make ``directory`` ready to hold a ``what`` whose files include ``marker``.

    A new or empty directory, or one that already holds a ``what`` (it has ``marker``; never
    with ``marker=None``), is fine; a directory holding anything else is refused, so that
    saving never overwrites files of another kind (a user's targets, a model's weights, a run).
    ``create=False`` leaves making the directory to the caller.
    """
    path = Path(directory)
    refuse_links(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"{path} is a file; expected a directory for the {what}")
    if path.is_dir() and any(path.iterdir()) and not (marker and (path / marker).exists()):
        held = f" (no {marker})" if marker else ""
        raise DataError(f"{path} already holds other files{held}; write the {what} to a new "
                        "or empty directory")
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def check_output_file(path: str | os.PathLike, force: bool, flag: str = "--out") -> Path:
    """Refuse to replace an existing file unless ``force`` (the user's ``--force``), and
    anything that is not a regular file whatever ``force`` says (a link would write elsewhere,
    a FIFO would hang)."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise DataError(f"{flag} {path} is not a regular file; refusing to write it")
    if path.exists() and not force:
        raise DataError(f"{flag} {path} exists; refusing to overwrite it (use --force)")
    return path


def refuse_links(directory: Path) -> None:
    """Refuse a directory that is, or holds, a symlink or anything but files and directories.

    Writing through a link would replace or corrupt a file outside the directory (another
    run's store, a model's weights); a FIFO or device would hang or swallow the write.
    """
    if directory.is_symlink():
        raise DataError(f"{directory} is a symbolic link; give the real directory")
    if not directory.is_dir():
        return
    for entry in directory.rglob("*"):
        if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
            kind = "a symbolic link" if entry.is_symlink() else "not a regular file"
            raise DataError(f"{entry} is {kind}; refusing to write into {directory}")
