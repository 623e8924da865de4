"""A round as a run store takes it (captured, encoded, checksummed) and hands it back, whatever
its format."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import PulseBatch
from hilctl.protocols import RoundRecord

from . import round_codec

CHANGE_PREFIX = "change."  # prefix of the state's changes among a round's arrays


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


@dataclass(frozen=True)
class EncodedRound:
    """A round as its payload and index row, ready to write."""

    number: int
    cells: int
    blob: bytes
    checksum: str


def capture_round(record: RoundRecord, exact: bool) -> dict[str, np.ndarray]:
    """Copies of what a round stores (the caller may go on changing the state): its cells,
    pulse settings and reads (float32 after round 0 unless ``exact``), and, for round 0 or
    when ``exact``, what the state says the round changed beyond its reads (round 0: the
    whole starting state)."""
    arrays = {"index": record.index.copy()}
    if record.pulses is not None:
        arrays.update(pulse_arrays(record.index, record.pulses))
    # Round 0's reads are the starting state's too, so they cost nothing at full precision.
    full = exact or record.round == 0
    arrays["reading"] = record.reading.astype(np.float64 if full else np.float32)
    if record.round == 0:
        changed = record.state.to_arrays()
    elif exact:
        changed = record.state.changes(record.index, retargeted=record.pulses is None)
    else:
        changed = {}
    arrays.update({CHANGE_PREFIX + k: np.array(v) for k, v in changed.items()})
    return arrays


def encode_round(number: int, arrays: dict[str, np.ndarray],
                 previous: np.ndarray | None = None, cells: int | None = None) -> EncodedRound:
    """Round ``number`` captured by ``capture_round`` as its payload (pulse settings
    tabulated, positions coded against ``previous`` and the run's ``cells``) and checksum."""
    count = int(arrays["index"].size)
    pulses = {k: arrays[k] for k in round_codec.PULSE_COLUMNS if k in arrays}
    rest = {k: v for k, v in arrays.items() if k not in pulses}
    blob = round_codec.encode({**round_codec.tabulate(pulses), **rest}, previous,
                              count if cells is None else cells)
    return EncodedRound(number, count, blob, round_checksum(number, count, blob))


def pulse_arrays(index: np.ndarray, pulses: PulseBatch) -> dict[str, np.ndarray]:
    """A round's pulses as stored, exactly as sent: the positions of its cells and what each
    got."""
    arrays = {"index": np.array(index), "polarity": np.array(pulses.polarity),
              "amplitude": np.array(pulses.amplitude), "width": np.array(pulses.width)}
    if pulses.gate is not None:
        arrays["gate"] = np.array(pulses.gate)
    return arrays
