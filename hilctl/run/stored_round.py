"""What a run store hands back of one round, whatever its format, and the checksum it keeps."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass
class Checkpoint:
    """The simulator's devices (``backend``) and, in a lean store, the run state's arrays
    (``state``) at ``positions`` in the run's cell list (None: every cell) after a round."""

    positions: np.ndarray | None
    backend: dict[str, np.ndarray]
    state: dict[str, np.ndarray]


@dataclass
class StoredRound:
    """One round: its ``pulses`` (``index``, ``reading`` and, for a pulsed round,
    ``polarity``, ``amplitude``, ``width``, maybe ``gate``), the state ``changes`` a store of
    changes keeps (round 0: the whole starting state), and its checkpoint if it has one."""

    number: int
    pulses: dict[str, np.ndarray]
    changes: dict[str, np.ndarray]
    checkpoint: Checkpoint | None


def round_checksum(number: int, cells: int, *blobs: bytes | None) -> str:
    """sha256 over a round's number, cell count and blobs, each blob prefixed by its length."""
    digest = hashlib.sha256(f"{number}:{cells}".encode())
    for blob in blobs:
        data = b"" if blob is None else bytes(blob)
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()
