"""The pulse-response table: one pulse per row, the exchange format between characterization,
a lab's measured data, the predictor and the empirical device model.

CSV columns: ``cell,g_before_S,polarity,amplitude_V,width_s,gate_V,g_after_S``. ``polarity`` is
``SET`` or ``RESET`` (``+1``/``-1`` are accepted on reading); ``gate_V`` may be empty. An
optional last column ``read_V``, the same on every row, is the read voltage the conductances
were measured at, so a fit of the table needs not be told it again.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from .atomic_file import atomic_output
from .errors import DataError
from .input_files import check_regular_file
from .vocabulary import Polarity

# What a measured pulse can be: conductances from 1 fS (10^15 ohm, below any SMU's floor) to
# 1 S (1 ohm, a short), pulses up to the 20 V and 1 s that any hilctl config allows. A value
# beyond is a unit slip or a corrupt file, and would overflow the predictor's arithmetic.
G_RANGE_S = (1e-15, 1.0)
MAX_VOLTS = 20.0
MAX_WIDTH_S = 1.0

READ_COLUMN = "read_V"
COLUMNS = ("cell", "g_before_S", "polarity", "amplitude_V", "width_s", "gate_V", "g_after_S")


@dataclass
class PulseTable:
    """Column arrays of a pulse-response table (SI units; ``gate`` is NaN where absent);
    ``read_V`` the read voltage of its conductances, if known."""

    cell: np.ndarray
    g_before: np.ndarray
    polarity: np.ndarray
    amplitude: np.ndarray
    width: np.ndarray
    gate: np.ndarray
    g_after: np.ndarray
    read_V: float | None = None

    def __post_init__(self) -> None:
        n = len(self.cell)
        self.cell = np.asarray(self.cell, dtype=str)
        for name in ("g_before", "amplitude", "width", "gate", "g_after"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64).reshape(n))
        self.polarity = np.asarray(self.polarity, dtype=np.int8).reshape(n)
        self.validate()

    def __len__(self) -> int:
        return int(self.cell.size)

    def __repr__(self) -> str:
        sets = int(np.count_nonzero(self.polarity == int(Polarity.SET)))
        span = (f", G {np.nanmin(self.g_after):.3g}..{np.nanmax(self.g_after):.3g} S after"
                if len(self) else "")
        return (f"<PulseTable {len(self)} pulses ({sets} SET, {len(self) - sets} RESET) on "
                f"{np.unique(self.cell).size} cells{span}>")

    def validate(self, where: str = "pulse table") -> None:
        """Raise ``DataError`` naming the first bad row (1-based, header excluded)."""
        g_range = f"in [{G_RANGE_S[0]:g}, {G_RANGE_S[1]:g}] S"
        checks = [
            (~np.isin(self.polarity, (Polarity.SET, Polarity.RESET)),
             "polarity must be SET or RESET"),
            (~_within(self.g_before, *G_RANGE_S), f"g_before_S must be {g_range}"),
            (~_within(self.g_after, *G_RANGE_S), f"g_after_S must be {g_range}"),
            (~_within(self.amplitude, 0.0, MAX_VOLTS),
             f"amplitude_V must be in [0, {MAX_VOLTS:g}] V"),
            (~_within(self.width, 0.0, MAX_WIDTH_S) | (self.width <= 0),
             f"width_s must be > 0 and at most {MAX_WIDTH_S:g} s"),
            (np.isinf(self.gate) | (np.abs(self.gate) > MAX_VOLTS),
             f"gate_V must be empty or within {MAX_VOLTS:g} V"),
        ]
        if self.read_V is not None and not 0 < self.read_V <= MAX_VOLTS:
            raise DataError(f"{where}: read_V = {self.read_V!r}; expected a voltage in "
                            f"(0, {MAX_VOLTS:g}] V")
        for bad, message in checks:
            if bad.any():
                rows = np.flatnonzero(bad)
                more = f" (and {rows.size - 1} more rows)" if rows.size > 1 else ""
                raise DataError(f"{where}: row {rows[0] + 1}: {message}{more}")

    def subset(self, index) -> PulseTable:
        return PulseTable(self.cell[index], self.g_before[index], self.polarity[index],
                          self.amplitude[index], self.width[index], self.gate[index],
                          self.g_after[index], self.read_V)

    @classmethod
    def concat(cls, tables: list[PulseTable]) -> PulseTable:
        """One table of all rows; its read voltage is theirs if they share one."""
        read = {t.read_V for t in tables}
        return cls(*(np.concatenate([getattr(t, name) for t in tables]) for name in _FIELDS),
                   read_V=read.pop() if len(read) == 1 else None)

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write atomically: a reader never sees half a file, an old file is kept on failure."""
        with atomic_output(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            read = () if self.read_V is None else (repr(float(self.read_V)),)
            writer.writerow(COLUMNS + (READ_COLUMN,) * bool(read))
            names = np.where(self.polarity > 0, "SET", "RESET")
            for i in range(len(self)):
                gate = "" if np.isnan(self.gate[i]) else repr(float(self.gate[i]))
                writer.writerow((self.cell[i], repr(float(self.g_before[i])), names[i],
                                 repr(float(self.amplitude[i])), repr(float(self.width[i])),
                                 gate, repr(float(self.g_after[i])), *read))

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> PulseTable:
        path = check_regular_file(path, "pulse-response table")
        try:  # utf-8-sig: a spreadsheet's export starts with a byte-order mark
            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read pulse table ({exc})") from None
        if not rows:
            raise DataError(f"{path}: empty file, expected a header {','.join(COLUMNS)}")
        header = [h.strip() for h in rows[0]]
        missing = [c for c in COLUMNS if c not in header and c != "gate_V"]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; "
                            f"expected {','.join(COLUMNS)}")
        col = {name: header.index(name) for name in (*COLUMNS, READ_COLUMN) if name in header}
        body = rows[1:]
        for i, row in enumerate(body):
            if len(row) != len(header):
                raise DataError(f"{path}: row {i + 1} has {len(row)} fields, header has "
                                f"{len(header)} (truncated file?)")

        def column(name: str) -> np.ndarray:
            values = [row[col[name]].strip() for row in body] if name in col else [""] * len(body)
            try:
                return np.array([float(v) if v else np.nan for v in values])
            except ValueError:
                bad = next(j for j, v in enumerate(values) if not _is_number(v))
                raise DataError(
                    f"{path}: row {bad + 1}: {name} = {values[bad]!r} is not a number"
                ) from None

        polarity = [Polarity.from_word(row[col["polarity"]], f"{path}: row {i + 1}")
                    for i, row in enumerate(body)]
        table = cls.__new__(cls)
        table.cell = np.array([row[col["cell"]].strip() for row in body], dtype=str)
        table.g_before, table.g_after = column("g_before_S"), column("g_after_S")
        table.amplitude, table.width, table.gate = (column("amplitude_V"), column("width_s"),
                                                    column("gate_V"))
        table.polarity = np.array(polarity, dtype=np.int8)
        table.read_V = _one_read_voltage(column(READ_COLUMN), path) if READ_COLUMN in col \
            else None
        table.validate(str(path))
        return table


def _one_read_voltage(values: np.ndarray, path) -> float | None:
    """The table's read voltage: one value on every row (or the column left empty)."""
    known = np.unique(values[~np.isnan(values)])
    if known.size > 1 or (known.size and np.isnan(values).any()):
        raise DataError(f"{path}: {READ_COLUMN} must be one voltage on every row (or empty)")
    return float(known[0]) if known.size else None


_FIELDS = ("cell", "g_before", "polarity", "amplitude", "width", "gate", "g_after")


def _within(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """True where a value is a finite number in [low, high] (NaN and inf are not)."""
    return np.isfinite(values) & (values >= low) & (values <= high)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
