"""Named arrays as one plain blob: a JSON header (names, dtypes, shapes) and the raw buffers.

    blob = pack({"x": x}); arrays = unpack(blob)

Plain numeric buffers only, so reading a blob back can never execute code. The device book
keeps its records so, and so did run stores of format 1 (``store_v1.py``).
"""

from __future__ import annotations

import json

import numpy as np

from hilctl.drivers import DataError


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays as one blob: a JSON header (names, dtypes, shapes) and the raw buffers."""
    arrays = {name: np.asarray(value, order="C") for name, value in arrays.items()}
    header = json.dumps([[n, a.dtype.str, list(a.shape)] for n, a in arrays.items()]).encode()
    return b"".join([len(header).to_bytes(4, "little"), header,
                     *(a.tobytes() for a in arrays.values())])


def unpack(blob: bytes) -> dict[str, np.ndarray]:
    size = int.from_bytes(blob[:4], "little")
    offset = 4 + size
    arrays = {}
    for name, dtype, shape in json.loads(blob[4:offset]):
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise DataError("run store holds an object array; refusing to read it")
        count = int(np.prod(shape))
        arrays[name] = np.frombuffer(blob, dtype, count, offset).reshape(tuple(shape)).copy()
        offset += count * dtype.itemsize
    return arrays
