"""The low level of ``hilctl data import``: delimited text files, units and conductances.

A lab file is comma, tab or whitespace separated, with or without a header row. Columns are
named by header text or by their 1-based number (``before=2``), so headerless files need no
invented names. Units come from the header (``width_ns``, ``R_pre [kOhm]``) or from the mapping;
when both are present they must agree.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError, DataError
from hilctl.drivers.input_files import check_regular_file

from ..units import PREFIX_CLASS, SI_PREFIX

MEASURES = {"resistance": "Ohm", "conductance": "S", "current": "A"}
_BASE = {"Ohm": "Ohm", "ohm": "Ohm", "Ω": "Ohm", "S": "S", "A": "A", "s": "s", "V": "V"}
_HEADER_UNIT = re.compile(rf"[\s_\[(]\s*({PREFIX_CLASS}?)(Ohm|ohm|Ω|S|A|s|V)\s*[\])]?\s*$")
_UNIT = re.compile(rf"^\s*({PREFIX_CLASS}?)(Ohm|ohm|Ω|S|A|s|V)\s*$")
@dataclass(frozen=True)
class Unit:
    """A unit as (base, scale to SI): ``kOhm`` is ("Ohm", 1e3)."""

    base: str
    scale: float
    text: str


def parse_unit(text: str, what: str) -> Unit:
    match = _UNIT.match(text)
    if not match:
        raise ConfigError(f"{what} = {text!r}: unknown unit; expected one such as ns, us, s, V, "
                          "uS, kOhm, uA")
    prefix, base = match.groups()
    return Unit(_BASE[base], SI_PREFIX[prefix], text.strip())


def header_unit(name: str) -> Unit | None:
    """The unit a column header carries (``width_ns``, ``R [kOhm]``), or None."""
    match = _HEADER_UNIT.search(name)
    if not match or match.start() == 0:
        return None
    prefix, base = match.groups()
    return Unit(_BASE[base], SI_PREFIX[prefix], prefix + base)


@dataclass
class TextTable:
    """A delimited file's fields as strings: ``header`` names each column (``column N`` for a
    headerless file), ``body`` holds the rows padded to the header's width."""

    path: Path
    header: list[str]
    body: list[list[str]]
    named: bool  # the header came from the file

    def index_of(self, ref: str, role: str) -> int:
        """The column a mapping names by header text or by 1-based number."""
        text = str(ref).strip()
        if text.isdigit():
            number = int(text)
            if not 1 <= number <= len(self.header):
                raise ConfigError(f"{self.path}: the mapping names column {number} for {role}, "
                                  f"but the file has {len(self.header)} columns")
            return number - 1
        if text not in self.header:
            known = ", ".join(self.header) if self.named else "none (headerless: use numbers)"
            raise ConfigError(f"{self.path}: the mapping names column {text!r} for {role}, but "
                              f"the file's columns are {known}")
        return self.header.index(text)

    def strings(self, j: int) -> np.ndarray:
        return np.array([row[j].strip() for row in self.body], dtype=str)

    def numbers(self, j: int) -> np.ndarray:
        """Column ``j`` as floats; empty or NaN fields are NaN, anything else non-numeric fails."""
        out = np.empty(len(self.body))
        for i, row in enumerate(self.body):
            text = row[j].strip()
            try:
                out[i] = float(text) if text else np.nan
            except ValueError:
                raise DataError(f"{self.path}: row {i + 1}, column {self.header[j]!r}: {text!r} "
                                "is not a number") from None
            if np.isinf(out[i]):
                raise DataError(f"{self.path}: row {i + 1}, column {self.header[j]!r}: "
                                f"{text!r} is not finite")
        return out


def _split(lines: list[str]) -> list[list[str]]:
    """Fields by the first line's separator: tab, else comma, else runs of whitespace (a
    blank line is a row of empty fields: in a one-column train it marks a missed read)."""
    first = lines[0]
    if "\t" in first or "," in first:
        return list(csv.reader(lines, delimiter="\t" if "\t" in first else ","))
    return [line.split() for line in lines]


def read_text_table(path: str | Path, header: bool = True) -> TextTable:
    """A delimited file; every row must have the same number of fields as the first."""
    path = check_regular_file(path, "data file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file")
    rows = _split(lines)
    width = len(rows[0])
    names = ([h.strip() for h in rows[0]] if header
             else [f"column {j + 1}" for j in range(width)])
    body = rows[1:] if header else rows
    for i, row in enumerate(body):
        if len(row) > width or (not header and 0 < len(row) < width and "".join(row)):
            raise DataError(f"{path}: row {i + 1} has {len(row)} fields, the file's first row "
                            f"has {width}")
    return TextTable(path, names, [row + [""] * (width - len(row)) for row in body], header)


def resolve_unit(table: TextTable, j: int, declared: str | None, role: str,
                 allowed: tuple[str, ...], default: str | None = None) -> Unit:
    """Column ``j``'s unit: the header's and the mapping's must agree; one of them is needed."""
    column = table.header[j]
    from_header = header_unit(column) if table.named else None
    from_mapping = parse_unit(declared, f"units.{role}") if declared else None
    if from_header and from_mapping and (from_header.base, from_header.scale) != (
            from_mapping.base, from_mapping.scale):
        raise ConfigError(f"{table.path}: units contradict for column {column!r}: its header "
                          f"says {from_header.text}, the mapping says units.{role} = "
                          f"{from_mapping.text}")
    unit = from_header or from_mapping or (parse_unit(default, role) if default else None)
    if unit is None:
        raise ConfigError(f"{table.path}: column {column!r} ({role}) carries no unit; put it in "
                          f"the header (e.g. {role}_{allowed[0]}) or give units.{role} "
                          f"(--{role}-unit)")
    if unit.base not in allowed:
        raise ConfigError(f"{table.path}: units contradict: column {column!r} ({role}) is in "
                          f"{unit.text}, expected a unit of {' or '.join(allowed)}")
    return unit


def measure_unit(table: TextTable, columns: list[int], measure: str | None,
                 declared: str | None, read_V: float | None) -> Unit:
    """One unit for every measurement column, consistent with the declared ``measure``."""
    allowed = (MEASURES[measure],) if measure else tuple(MEASURES.values())
    units = [resolve_unit(table, j, declared, "measure", allowed) for j in columns]
    first = units[0]
    for j, unit in zip(columns[1:], units[1:], strict=True):
        if (unit.base, unit.scale) != (first.base, first.scale):
            raise ConfigError(f"{table.path}: units contradict: column "
                              f"{table.header[columns[0]]!r} is in {first.text}, column "
                              f"{table.header[j]!r} in {unit.text}")
    if first.base == "A" and read_V is None:
        raise ConfigError(f"{table.path}: read currents need the read voltage (read_voltage / "
                          "--read-voltage)")
    return first


def to_conductance(values: np.ndarray, unit: Unit, read_V: float | None, where: str,
                   column: str) -> np.ndarray:
    """Siemens from resistance, conductance or read current; a value <= 0 is an error."""
    bad = np.flatnonzero(np.isfinite(values) & (values <= 0))
    if bad.size:
        kind = {"Ohm": "resistance", "S": "conductance", "A": "read current"}[unit.base]
        rows = ", ".join(str(i + 1) for i in bad[:5]) + (" ..." if bad.size > 5 else "")
        raise DataError(f"{where}: column {column!r}: zero or negative {kind} in row(s) {rows}")
    si = values * unit.scale
    if unit.base == "Ohm":
        return 1.0 / si
    if unit.base == "A":
        return si / read_V
    return si
