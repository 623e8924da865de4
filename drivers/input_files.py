"""Input files checked before they are read: only regular files (a FIFO would hang the read
forever, a device would never end), and arrays whose stated size the file really holds.

A ``.npy`` header, or an ``.npz`` member's, names the array's shape; numpy allocates that much
before it reads a byte of data, so a header that claims 2**40 elements in a file of a few
bytes ends in a ``MemoryError``. Comparing the stated size with the bytes the file has refuses
such a file before anything is allocated.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from .errors import DataError

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def check_regular_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a ``Path`` if it names a regular file; a ``DataError`` naming ``what``
    otherwise (missing, a directory, a FIFO, a device)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such {what}")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file; expected a {what}")
    return path


def load_npy(path: str | os.PathLike, what: str) -> np.ndarray:
    """A ``.npy`` array (never pickled objects) whose header is checked against the file."""
    path = check_regular_file(path, what)
    try:
        with open(path, "rb") as fh:
            _check_stated_size(fh, path.stat().st_size, f"{path}")
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: unreadable or truncated {what} ({exc})") from None


def load_npz(path: str | os.PathLike, names: list[str] | None, what: str) -> dict[str, np.ndarray]:
    """Members ``names`` of an ``.npz`` (all of them for ``None``), each checked against the
    size the archive says it unpacks to before it is read."""
    path = check_regular_file(path, what)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            missing = [n for n in names or () if n not in members]
            if missing:
                raise DataError(f"{path}: no {', '.join(missing)} in the {what}")
            return {name: _member(archive, members[name], f"{path}:{name}")
                    for name in (names if names is not None else members)}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable or truncated {what} ({exc})") from None


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    with archive.open(info) as fh:
        _check_stated_size(fh, info.file_size, where)
    with archive.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def _check_stated_size(fh: IO[bytes], available: int, where: str) -> None:
    """Refuse an array header whose shape needs more bytes than the file holds."""
    version = np.lib.format.read_magic(fh)
    reader = _HEADER_READERS.get(version)
    if reader is None:
        raise DataError(f"{where}: .npy format version {version} is not supported")
    shape, _, dtype = reader(fh)
    stated = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if stated > available - fh.tell():
        raise DataError(f"{where}: the header states an array of shape {shape} "
                        f"({stated:.3g} bytes), but the file holds {available} bytes")
