"""Named arrays as compact bytes, for the run store's rounds and checkpoints.

    blob = encode({"index": index, "reading": reading}, previous=last_index, cells=n)
    arrays = decode(blob, previous=last_index, cells=n)

Each array is kept in the cheapest exact form that fits it: one value repeated (``const``), a
bool as bits (``bits``), an integer in the narrowest integer type that holds its range
(``narrow``), or as it is (``raw``). The ``index`` of a round (increasing positions in the
run's cell list) is every cell (``all``), a bitmask over the previous round's positions when it
is a subset of them (``subset``), a bitmask over all cells (``mask``), or narrow integers. A
round's pulse settings become one small code per cell into a table of the round's distinct
(polarity, amplitude, width, gate) settings (``tabulate``), exact to the bit, so replaying them
through the simulator's physics gives the same devices.

The header is JSON (name, form, dtype, shape); payloads are plain numeric buffers, so reading
a store can never execute code.
"""

from __future__ import annotations

import json

import numpy as np

from hilctl.drivers import DataError

PULSE_COLUMNS = ("polarity", "amplitude", "width", "gate")
_TABLE = "table."  # prefix of a pulse table's columns among a round's arrays
_CODE = "pulse_code"
# A column with more distinct values than this, or than a sixteenth of its cells, is kept per
# cell (a planner's continuous settings): a table would be as large as the column.
_MAX_DISTINCT = 4096
# Joint codes are counted with a bincount up to this many combinations, else sorted.
_BINCOUNT_LIMIT = 1 << 22


def encode(arrays: dict[str, np.ndarray], previous: np.ndarray | None = None,
           cells: int | None = None) -> bytes:
    """``arrays`` as one blob; ``previous`` (the last round's index) and ``cells`` (the run's
    cell count) let the ``index`` array be coded against them."""
    header, buffers, kept = [], [], {}
    for name, value in arrays.items():
        value = np.asarray(value)
        if name == "index" and cells is not None:
            form, extra, payload = _encode_index(value, previous, cells)
        else:
            form, extra, payload = _encode_array(value)
        if form == "raw":
            twin = _twin(value, kept)
            if twin is None:
                kept[name] = value
            else:
                form, extra, payload = "alias", twin, b""
        header.append([name, form, value.dtype.str, list(value.shape), extra])
        buffers.append(payload)
    head = json.dumps(header).encode()
    return b"".join([len(head).to_bytes(4, "little"), head, *buffers])


def decode(blob: bytes | memoryview, previous: np.ndarray | None = None,
           cells: int | None = None) -> dict[str, np.ndarray]:
    """The arrays ``encode`` packed (writable copies), with the same ``previous`` and
    ``cells``."""
    blob = memoryview(blob)
    size = int.from_bytes(blob[:4], "little")
    offset = 4 + size
    arrays = {}
    for name, form, dtype, shape, extra in json.loads(bytes(blob[4:offset])):
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise DataError("run store holds an object array; refusing to read it")
        if form == "alias":
            arrays[name] = arrays[extra].copy()
            continue
        value, offset = _decode_array(blob, offset, form, dtype, tuple(shape), extra,
                                      previous, cells)
        arrays[name] = value
    return arrays


# -- pulse tables ----------------------------------------------------------------------------
def tabulate(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A round's pulse columns as a table of distinct settings and one code per cell; a
    column with too many distinct values (or NaN) stays per cell."""
    coded, kept = {}, {}
    for name, column in columns.items():
        factors = _factorize(column)
        if factors is None:
            kept[name] = column
        else:
            coded[name] = factors
    if not coded:
        return kept
    sizes = [values.size for values, _ in coded.values()]
    joint = np.ravel_multi_index([codes for _, codes in coded.values()], sizes)
    present, code = _compact(joint, int(np.prod(sizes)))
    combos = np.unravel_index(present, sizes)
    table = {_TABLE + name: values[combo]
             for (name, (values, _)), combo in zip(coded.items(), combos, strict=True)}
    return {**kept, **table, _CODE: code}


def untabulate(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-cell pulse columns back from ``tabulate``'s table and codes."""
    if _CODE not in arrays:
        return arrays
    arrays = dict(arrays)
    code = arrays.pop(_CODE)
    for name in [n for n in arrays if n.startswith(_TABLE)]:
        arrays[name[len(_TABLE):]] = arrays.pop(name)[code]
    return arrays


def _factorize(column: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(distinct values, code per element), found from a sample and checked on every element,
    or None if there are too many or NaN."""
    if column.size == 0 or (column.dtype.kind == "f" and np.isnan(column).any()):
        return None
    most = min(_MAX_DISTINCT, max(16, column.size // 16))
    values = np.unique(column[:: max(1, column.size // 4096)])
    for _ in range(2):
        if values.size > most:
            return None
        codes = np.minimum(np.searchsorted(values, column), values.size - 1)
        missed = values[codes] != column
        if not missed.any():
            return values, codes
        values = np.union1d(values, column[missed])
    return None


def _compact(joint: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """(joint codes present, each element's position among them), smallest code type."""
    if space <= _BINCOUNT_LIMIT:
        present = np.flatnonzero(np.bincount(joint, minlength=space))
        remap = np.zeros(space, np.int64)
        remap[present] = np.arange(present.size)
        code = remap[joint]
    else:
        present, code = np.unique(joint, return_inverse=True)
    return present, code.astype(_uint_for(present.size))


def _uint_for(count: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if count <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


# -- one array -------------------------------------------------------------------------------
def _encode_array(value: np.ndarray) -> tuple[str, object, bytes]:
    flat = value.ravel()
    if _is_constant(flat):
        return "const", None, flat[:1].tobytes()
    if value.dtype == np.bool_:
        return "bits", None, np.packbits(flat).tobytes()
    if value.dtype.kind in "iu" and flat.size:
        narrow = _narrow_int(int(flat.min()), int(flat.max()))
        if narrow.itemsize < value.dtype.itemsize:
            return "narrow", narrow.str, flat.astype(narrow).tobytes()
    return "raw", None, np.ascontiguousarray(flat).tobytes()


def _twin(value: np.ndarray, kept: dict[str, np.ndarray]) -> str | None:
    """The name of an array already packed with the same dtype, shape and bytes, if any (a
    fresh state's reads, first reads and stall references are one array four times)."""
    for name, other in kept.items():
        if other.dtype == value.dtype and other.shape == value.shape and np.array_equal(
                _bytes_of(other), _bytes_of(value)):
            return name
    return None


def _bytes_of(value: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(value).reshape(-1).view(np.uint8)


def _is_constant(flat: np.ndarray) -> bool:
    """Every element the same bits (so -0.0 and 0.0, or NaNs, stay what they were)."""
    if flat.size < 2 or flat.dtype.itemsize not in (1, 2, 4, 8):
        return False
    bits = flat.view(f"u{flat.dtype.itemsize}")
    return bool((bits == bits[0]).all())


def _narrow_int(low: int, high: int) -> np.dtype:
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _encode_index(index: np.ndarray, previous: np.ndarray | None,
                  cells: int) -> tuple[str, object, bytes]:
    """The cheapest exact form of a round's positions (the bitmasks: increasing ones)."""
    if not _increasing(index):
        return _encode_array(index)
    if index.size == cells:
        return "all", None, b""
    mask = np.zeros(cells, bool)
    mask[index] = True
    options = [_encode_array(index), ("mask", None, np.packbits(mask).tobytes())]
    if previous is not None and previous.size < cells and _increasing(previous):
        before = np.zeros(cells, bool)
        before[previous] = True
        if before[index].all():
            options.append(("subset", None, np.packbits(mask[previous]).tobytes()))
    return min(options, key=lambda option: len(option[2]))


def _increasing(index: np.ndarray) -> bool:
    """Strictly increasing, as a bitmask gives positions back (a retarget's are not)."""
    return index.size < 2 or bool((np.diff(index) > 0).all())


def _decode_array(blob: memoryview, offset: int, form: str, dtype: np.dtype,
                  shape: tuple[int, ...], extra, previous: np.ndarray | None,
                  cells: int | None) -> tuple[np.ndarray, int]:
    count = int(np.prod(shape))
    if form == "all":
        return np.arange(count, dtype=dtype), offset
    if form in ("mask", "subset"):
        over = cells if form == "mask" else previous.size
        if over is None:
            raise DataError("run store: a round's cells are coded against what is not given")
        size = (over + 7) // 8
        bits = np.unpackbits(np.frombuffer(blob, np.uint8, size, offset), count=over)
        chosen = np.flatnonzero(bits) if form == "mask" else previous[bits.astype(bool)]
        return chosen.astype(dtype), offset + size
    if form == "bits":
        size = (count + 7) // 8
        bits = np.unpackbits(np.frombuffer(blob, np.uint8, size, offset), count=count)
        return bits.astype(bool).reshape(shape), offset + size
    stored = np.dtype(extra) if form == "narrow" else dtype
    stored_count = 1 if form == "const" else count
    value = np.frombuffer(blob, stored, stored_count, offset)
    offset += stored_count * stored.itemsize
    if form == "const":
        return np.full(shape, value[0], dtype=dtype), offset
    if form not in ("raw", "narrow"):
        raise DataError(f"run store holds an array in an unknown form {form!r}")
    return value.astype(dtype).reshape(shape), offset
