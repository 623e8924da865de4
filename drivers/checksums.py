"""sha256 checksums that tie a folder's description to the weights file it was saved with.

A predictor or model folder is two files written one after the other; a save torn between them
(a crash, a copy of half a folder) would pair new weights with old metadata and load silently.
The description carries the sha256 of the weights it describes, and loading refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from .atomic_file import write_atomic
from .errors import DataError


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as an npz atomically; returns the file's sha256."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    write_atomic(path, data)
    return sha256(data)


def verify(path: Path, expected: str | None, described_by: str) -> None:
    """Refuse ``path`` unless its sha256 is ``expected``; folders saved before checksums
    (``expected`` None) load as they always did."""
    if expected is not None and sha256(path.read_bytes()) != expected:
        raise DataError(f"{path}: does not match the checksum in {described_by} (a save torn "
                        "between the two files, or one replaced); save the folder again")
