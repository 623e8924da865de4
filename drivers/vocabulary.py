"""The words every layer speaks: cell addresses, pulse batches and readings.

All are batches (arrays over cells), never one object per device, so a protocol hands a whole
round to a driver at once. SI units throughout: volts, seconds, siemens.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .errors import DataError


class Polarity(IntEnum):
    """Pulse polarity: SET raises conductance (positive bias), RESET lowers it (negative)."""

    RESET = -1
    SET = 1

    @classmethod
    def from_word(cls, text: str, where: str) -> Polarity:
        """The polarity a table spells as ``text`` (SET/RESET, +1/-1, potentiation/depression,
        ...; any case); an unknown word is a ``DataError`` naming ``where`` it was read."""
        try:
            return cls(_POLARITY_WORDS[str(text).strip().lower()])
        except KeyError:
            raise DataError(f"{where}: polarity {text!r}, expected SET or RESET") from None


_POLARITY_WORDS = {"set": 1, "+1": 1, "1": 1, "+": 1, "pot": 1, "ltp": 1, "potentiation": 1,
                   "reset": -1, "-1": -1, "-": -1, "dep": -1, "ltd": -1, "depression": -1}


def _int_array(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _float_array(values, name: str, size: int, dtype: type = np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 0:
        array = np.full(size, float(array))
    if array.shape != (size,):
        raise DataError(f"{name} must have one value per cell ({size}), got shape {array.shape}")
    return array


@dataclass(frozen=True)
class Cells:
    """A batch of (row, col) addresses, 0-indexed.

    A batch remembers its row-major flat indices for the array shape they were computed for,
    and whether ``check_cells`` found every address inside an array of a shape; a subset
    inherits both (its addresses are among the parent's), so a run's cells are turned into
    flat indices and bounds-checked once, not every round.
    """

    rows: np.ndarray
    cols: np.ndarray

    def __post_init__(self) -> None:
        rows = _int_array(self.rows, "Cells.rows").view()
        cols = _int_array(self.cols, "Cells.cols").view()
        if rows.shape != cols.shape:
            raise DataError(f"Cells.rows {rows.shape} and Cells.cols {cols.shape} differ in shape")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)
        object.__setattr__(self, "_flat", None)  # (shape, flat indices) once computed
        object.__setattr__(self, "_inside", None)  # the shape check_cells found them inside

    def __len__(self) -> int:
        return int(self.rows.size)

    @classmethod
    def all(cls, shape: tuple[int, int]) -> Cells:
        """Every cell of an array, row-major."""
        return cls.from_flat(np.arange(shape[0] * shape[1]), shape)

    @classmethod
    def from_flat(cls, flat: np.ndarray, shape: tuple[int, int]) -> Cells:
        flat = np.asarray(flat, dtype=np.int64)
        rows, cols = np.unravel_index(flat, shape)
        cells = cls(rows, cols)
        object.__setattr__(cells, "_flat", (tuple(shape), flat))
        return cells

    def flat(self, shape: tuple[int, int]) -> np.ndarray:
        """Row-major flat indices into an array of ``shape``."""
        shape = tuple(shape)
        if self._flat is None or self._flat[0] != shape:
            object.__setattr__(self, "_flat",
                               (shape, np.ravel_multi_index((self.rows, self.cols), shape)))
        return self._flat[1]

    def subset(self, mask_or_index) -> Cells:
        cells = Cells(self.rows[mask_or_index], self.cols[mask_or_index])
        if self._flat is not None:
            object.__setattr__(cells, "_flat", (self._flat[0], self._flat[1][mask_or_index]))
        object.__setattr__(cells, "_inside", self._inside)
        return cells

    def inside(self, shape: tuple[int, int]) -> bool:
        """Whether ``check_cells`` already found every address inside an array of ``shape``."""
        return self._inside == tuple(shape)

    def seal_inside(self, shape: tuple[int, int]) -> None:
        """Record that every address lies inside ``shape``; only ``check_cells`` calls this.
        The addresses become read-only, so the record cannot outlive a change to them."""
        self.rows.flags.writeable = self.cols.flags.writeable = False
        object.__setattr__(self, "_inside", tuple(shape))

    def describe(self, i: int) -> str:
        return f"cell ({int(self.rows[i])}, {int(self.cols[i])})"


@dataclass(frozen=True)
class PulseBatch:
    """One pulse per cell.

    Parameters
    ----------
    cells : Cells
        Where the pulses go.
    polarity : array of int
        ``Polarity.SET`` (+1) or ``Polarity.RESET`` (-1) per cell.
    amplitude : array of float
        Pulse magnitude in volts (>= 0); the sign comes from ``polarity``.
    width : array of float
        Pulse width in seconds.
    gate : array of float or None
        Gate voltage in volts for 1T1R arrays; None when the array has no access transistor.
    """

    cells: Cells
    polarity: np.ndarray
    amplitude: np.ndarray
    width: np.ndarray
    gate: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.cells)
        polarity = np.asarray(self.polarity)
        if polarity.ndim == 0:
            polarity = np.full(n, int(polarity))
        polarity = polarity.astype(np.int8)
        if polarity.shape != (n,):
            raise DataError(f"PulseBatch.polarity must have one value per cell ({n})")
        if not ((polarity == Polarity.SET) | (polarity == Polarity.RESET)).all():
            raise DataError("PulseBatch.polarity must be +1 (SET) or -1 (RESET)")
        object.__setattr__(self, "polarity", polarity)
        object.__setattr__(self, "amplitude", _float_array(self.amplitude, "amplitude", n).view())
        object.__setattr__(self, "width", _float_array(self.width, "width", n).view())
        if self.gate is not None:
            object.__setattr__(self, "gate", _float_array(self.gate, "gate", n).view())
        object.__setattr__(self, "_seal", None)

    def _parts(self) -> tuple:
        return (self.cells, self.polarity, self.amplitude, self.width, self.gate)

    def checked_for(self, limits, shape: tuple[int, int]) -> bool:
        """Whether ``SafetyLimits.check_pulses`` passed this very batch for ``limits`` and
        ``shape``: false for a batch never checked, or one whose parts were swapped since."""
        seal = self._seal
        return (seal is not None and seal[0] is limits and seal[1] == tuple(shape)
                and all(a is b for a, b in zip(seal[2], self._parts(), strict=True)))

    def seal(self, limits, shape: tuple[int, int]) -> None:
        """Record that ``limits`` passed this batch on ``shape``; only
        ``SafetyLimits.check_pulses`` calls this. The pulse arrays become read-only, so a
        batch cannot be changed in place after its check."""
        for part in self._parts()[1:]:
            if part is not None:
                part.flags.writeable = False
        object.__setattr__(self, "_seal", (limits, tuple(shape), self._parts()))

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def signed_voltage(self) -> np.ndarray:
        """Voltage across the cell in volts: positive for SET, negative for RESET."""
        return self.polarity * self.amplitude

    def subset(self, index) -> PulseBatch:
        gate = None if self.gate is None else self.gate[index]
        return PulseBatch(
            self.cells.subset(index),
            self.polarity[index],
            self.amplitude[index],
            self.width[index],
            gate,
        )


@dataclass(frozen=True)
class Reading:
    """Measured conductance per cell (siemens) and whether the read hit current compliance.

    Conductances are float64, or float32 as the simulator reads them (seven digits, far
    below any read's noise), kept as given rather than doubled in size.
    """

    cells: Cells
    conductance: np.ndarray
    compliance: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.cells)
        single = np.asarray(self.conductance).dtype == np.float32
        object.__setattr__(self, "conductance", _float_array(
            self.conductance, "conductance", n, np.float32 if single else np.float64))
        compliance = np.asarray(self.compliance, dtype=bool)
        if compliance.ndim == 0:
            compliance = np.full(n, bool(compliance))
        object.__setattr__(self, "compliance", compliance)

    def __len__(self) -> int:
        return len(self.cells)
