"""Read a lab's measured pulse responses into the pulse-response table (DESIGN.md section 7).

Three layouts:

- ``rows``: one pulse per row, with a conductance, resistance or read-current column before
  and after the pulse, the pulse amplitude and width, the polarity (a column or the amplitude's
  sign) and, for 1T1R cells, a gate voltage. Columns are named by header or by 1-based number;
  ``header = false`` reads a file without a header row.
- ``pulse-train``: one column per train of identical pulses on a device, each value the read
  after a pulse; consecutive reads give (g_before, g_after) pairs. Such files do not record the
  pulse, so the user states it per polarity.
- ``pulse-table``: hilctl's own table (``drivers.pulse_table``), which needs no mapping; a
  ``rows`` file with no columns mapped whose header is that table's is read as one too.

Everything is checked before anything is written, so a bad file leaves no half-written table.
The file-level reading (separators, units, conductances) is in ``formats``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError, DataError, Polarity
from hilctl.drivers.pulse_table import COLUMNS as TABLE_COLUMNS
from hilctl.drivers.pulse_table import PulseTable
from hilctl.drivers.toml_file import read_toml

from ..units import parse_quantity
from .formats import (
    MEASURES,
    TextTable,
    header_unit,
    measure_unit,
    parse_unit,
    read_text_table,
    resolve_unit,
    to_conductance,
)

__all__ = ["LAYOUTS", "MEASURES", "Mapping", "header_unit", "import_table", "load_mapping",
           "parse_unit"]

LAYOUTS = ("rows", "pulse-train", "pulse-table")
# The devices hilctl knows (its presets) hold 2.5 nS (epiram, ag-asi) to 0.3 mS (taox-hfox);
# a table more than a decade beyond either was most likely read in the wrong unit.
PLAUSIBLE_G_S = (2.5e-10, 3e-3)


class ImplausibleConductance(UserWarning):
    """An imported table's conductances lie far outside every device hilctl knows."""
ROLES = ("cell", "before", "after", "amplitude", "width", "polarity", "gate")


@dataclass
class Mapping:
    """How a lab file maps onto the pulse-response table.

    ``columns`` maps a role (cell, before, after, amplitude, width, polarity, gate) to a header
    or a 1-based column number; ``header`` says whether the file's first row names its columns;
    ``units`` maps measure/width/amplitude/gate to a unit text; ``pulse`` maps SET/RESET to
    (amplitude V, width s) for files that do not record the pulse; ``gate_V`` is a constant gate.
    """

    layout: str = "rows"
    header: bool = True
    measure: str | None = None
    read_voltage_V: float | None = None
    columns: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    pulse: dict[int, tuple[float, float]] = field(default_factory=dict)
    gate_V: float | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout = {self.layout!r}: expected one of {', '.join(LAYOUTS)}")
        if self.measure is not None and self.measure not in MEASURES:
            raise ConfigError(f"measure = {self.measure!r}: expected one of {', '.join(MEASURES)}")
        for role in self.columns:
            if role not in ROLES:
                raise ConfigError(f"columns.{role}: unknown role; known: {', '.join(ROLES)}")
        for key in self.units:
            if key not in ("measure", "width", "amplitude", "gate"):
                raise ConfigError(f"units.{key}: unknown; known: measure, width, amplitude, gate")
        if self.read_voltage_V is not None and not self.read_voltage_V > 0:
            raise ConfigError(f"read_voltage = {self.read_voltage_V!r}: expected > 0 V")

    def merged(self, **overrides) -> Mapping:
        """This mapping with the non-empty ``overrides`` (command-line values) on top."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in overrides.items():
            if isinstance(value, dict):
                values[name] = {**values[name], **value}
            elif value is not None:
                values[name] = value
        return Mapping(**values)


_MAPPING_KEYS = {"layout", "header", "measure", "read_voltage", "columns", "units", "pulse", "gate"}


def load_mapping(path: str | Path) -> Mapping:
    """A mapping from a small TOML file; an unknown key is a ``ConfigError`` naming it."""
    data = read_toml(path)
    for key in data:
        if key not in _MAPPING_KEYS:
            known = ", ".join(sorted(_MAPPING_KEYS))
            raise ConfigError(f"{path}: unknown key {key!r}; known: {known}")
    pulse = {}
    for name, setting in data.get("pulse", {}).items():
        polarity = Polarity.from_word(name, f"{path}: pulse.{name}")
        unknown = set(setting) - {"amplitude", "width"}
        if unknown or len(setting) != 2:
            raise ConfigError(f"{path}: pulse.{name} needs exactly amplitude and width "
                              f"(got {', '.join(sorted(setting))})")
        pulse[polarity] = (parse_quantity(setting["amplitude"], "V", f"pulse.{name}.amplitude"),
                           parse_quantity(setting["width"], "s", f"pulse.{name}.width"))
    read_v = data.get("read_voltage")
    gate = data.get("gate")
    return Mapping(
        layout=data.get("layout", "rows"), header=bool(data.get("header", True)),
        measure=data.get("measure"),
        read_voltage_V=None if read_v is None else parse_quantity(read_v, "V", "read_voltage"),
        columns={k: str(v) for k, v in data.get("columns", {}).items()},
        units=dict(data.get("units", {})), pulse=pulse,
        gate_V=None if gate is None else parse_quantity(gate, "V", "gate"))


@dataclass
class ImportReport:
    """What was read: rows kept, cells, polarities, ranges, and rows dropped with the reason."""

    table: PulseTable
    sources: list[str]
    dropped: dict[str, list[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        t = self.table
        out = [f"read {', '.join(self.sources)}",
               f"rows: {len(t)}   cells: {np.unique(t.cell).size}"]
        for polarity in (Polarity.SET, Polarity.RESET):
            mask = t.polarity == polarity
            if not mask.any():
                out.append(f"{polarity.name}: no rows")
                continue
            out.append(
                f"{polarity.name}: {int(mask.sum())} rows; G {_span(t.g_before[mask], 1e6, 'uS')}"
                f" -> {_span(t.g_after[mask], 1e6, 'uS')}; amplitude "
                f"{_span(t.amplitude[mask], 1, 'V')}; width {_span(t.width[mask], 1e9, 'ns')}")
        gate = t.gate[np.isfinite(t.gate)]
        out.append(f"gate: {_span(gate, 1, 'V')}" if gate.size else "gate: none")
        total = sum(len(where) for where in self.dropped.values())
        out.append(f"dropped: {total} rows" + ("" if total else " (none)"))
        for reason, where in self.dropped.items():
            shown = ", ".join(where[:5]) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
            out.append(f"  {len(where)} {reason}: {shown}")
        return out


def _span(values: np.ndarray, scale: float, unit: str) -> str:
    lo, hi = float(values.min()) * scale, float(values.max()) * scale
    if math.isclose(lo, hi, rel_tol=1e-9):
        return f"{lo:.4g} {unit}"
    return f"{lo:.4g}..{hi:.4g} {unit}"


# -- reading ----------------------------------------------------------------------------------
def _mapped(table: TextTable, mapping: Mapping) -> dict[str, int | None]:
    """The column index of each role, checked against the file's width."""
    named = [role for role in ROLES if role in mapping.columns]
    if len(named) > len(table.header):
        raise ConfigError(f"{table.path}: the file has {len(table.header)} columns but the "
                          f"mapping needs {len(named)} ({', '.join(named)})")
    return {role: (table.index_of(mapping.columns[role], role) if role in named else None)
            for role in ROLES}


def _is_pulse_table(path: Path, mapping: Mapping) -> bool:
    """A ``rows`` file with nothing mapped whose header row is hilctl's own table's."""
    if mapping.layout == "pulse-table":
        return True
    if mapping.layout != "rows" or mapping.columns or not mapping.header:
        return False
    header = read_text_table(path).header
    return all(c in header for c in TABLE_COLUMNS if c != "gate_V")


def read_rows(path: str | Path, mapping: Mapping) -> tuple[PulseTable, dict[str, list[str]]]:
    """A ``rows``-layout file as a pulse table, and the rows dropped with their reasons."""
    text = read_text_table(path, mapping.header)
    index = _mapped(text, mapping)
    for role in ("before", "after"):
        if index[role] is None:
            known = ", ".join(text.header) if text.named else f"{len(text.header)} unnamed"
            raise ConfigError(f"{text.path}: the mapping must name the {role!r} measurement "
                              f"column, by header or number (columns: {known})")
    unit = measure_unit(text, [index["before"], index["after"]], mapping.measure,
                        mapping.units.get("measure"), mapping.read_voltage_V)
    g = {role: to_conductance(text.numbers(index[role]), unit, mapping.read_voltage_V,
                              str(text.path), text.header[index[role]])
         for role in ("before", "after")}
    polarity, amplitude, width = _pulse_columns(text, index, mapping)
    gate = _gate_column(text, index, mapping)
    cells = (text.strings(index["cell"]) if index["cell"] is not None
             else np.full(len(text.body), text.path.stem))
    dropped: dict[str, list[str]] = {}
    keep = np.ones(len(text.body), dtype=bool)
    empty_g = ~np.isfinite(g["before"]) | ~np.isfinite(g["after"])
    for reason, mask in (("empty measurement", empty_g),
                         ("empty pulse setting", ~np.isfinite(amplitude) | ~np.isfinite(width)),
                         ("empty cell", cells == "")):
        hit = keep & mask
        if hit.any():
            dropped[reason] = [f"row {i + 1}" for i in np.flatnonzero(hit)]
        keep &= ~mask
    table = PulseTable(cells[keep], g["before"][keep], polarity[keep], amplitude[keep],
                       width[keep], gate[keep], g["after"][keep])
    return table, dropped


def _polarity_words(text: TextTable, j: int) -> np.ndarray:
    return np.array([Polarity.from_word(word, f"{text.path}: row {i + 1}")
                     for i, word in enumerate(text.strings(j))], dtype=np.int8)


def _pulse_columns(text: TextTable, index: dict, mapping: Mapping):
    """Polarity (+1/-1), amplitude magnitude (V) and width (s) per row."""
    if index["amplitude"] is None or index["width"] is None:
        return _stated_pulses(text, index, mapping)
    amp_unit = resolve_unit(text, index["amplitude"], mapping.units.get("amplitude"),
                            "amplitude", ("V",), default="V")
    width_unit = resolve_unit(text, index["width"], mapping.units.get("width"), "width", ("s",))
    amplitude = text.numbers(index["amplitude"]) * amp_unit.scale
    width = text.numbers(index["width"]) * width_unit.scale
    bad = np.flatnonzero(np.isfinite(width) & (width <= 0))
    if bad.size:
        raise DataError(f"{text.path}: column {text.header[index['width']]!r}: width <= 0 in "
                        f"row {bad[0] + 1}")
    if index["polarity"] is None:
        zero = np.flatnonzero(amplitude == 0)
        if zero.size:
            raise DataError(f"{text.path}: row {zero[0] + 1}: amplitude 0 V gives no polarity; "
                            "map a polarity column")
        polarity = np.where(amplitude < 0, -1, 1)
    else:
        polarity = _polarity_words(text, index["polarity"])
        against = np.flatnonzero((amplitude < 0) & (polarity > 0))
        if against.size:
            raise DataError(f"{text.path}: row {against[0] + 1}: polarity SET but amplitude "
                            f"{amplitude[against[0]]:g} V; give magnitudes or drop the sign")
    return polarity.astype(np.int8), np.abs(amplitude), width


def _stated_pulses(text: TextTable, index: dict, mapping: Mapping):
    """Rows without pulse columns take the pulse the user stated for their polarity."""
    if index["polarity"] is None:
        raise ConfigError(f"{text.path}: no amplitude/width columns mapped and no polarity "
                          "column; map them, or use the pulse-train layout")
    polarity = _polarity_words(text, index["polarity"])
    amplitude, width = np.empty(polarity.size), np.empty(polarity.size)
    for sign in np.unique(polarity):
        stated = _stated_pulse(text.path, mapping, int(sign))
        amplitude[polarity == sign], width[polarity == sign] = stated
    return polarity, amplitude, width


def _stated_pulse(path: Path, mapping: Mapping, polarity: int) -> tuple[float, float]:
    name = Polarity(polarity).name
    if polarity not in mapping.pulse:
        raise ConfigError(f"{path}: the file does not record the {name} pulse; state it with "
                          f"--amplitude {name}=<V> --width {name}=<s> (or [pulse.{name}])")
    amplitude, width = mapping.pulse[polarity]
    if not (amplitude > 0 and width > 0):
        raise ConfigError(f"{name} pulse: amplitude {amplitude:g} V and width {width:g} s "
                          "must be > 0")
    return amplitude, width


def _gate_column(text: TextTable, index: dict, mapping: Mapping) -> np.ndarray:
    if index["gate"] is None:
        return np.full(len(text.body), np.nan if mapping.gate_V is None else mapping.gate_V)
    if mapping.gate_V is not None:
        raise ConfigError(f"{text.path}: both a gate column ({text.header[index['gate']]!r}) "
                          "and a constant gate were given; keep one")
    unit = resolve_unit(text, index["gate"], mapping.units.get("gate"), "gate", ("V",), "V")
    return text.numbers(index["gate"]) * unit.scale


def read_trains(path: str | Path, polarity: int,
                mapping: Mapping) -> tuple[PulseTable, dict[str, list[str]]]:
    """A ``pulse-train`` file: each column one train of the stated pulse, reads in order."""
    text = read_text_table(path, mapping.header)
    amplitude, width = _stated_pulse(text.path, mapping, polarity)
    columns = list(range(len(text.header)))
    unit = measure_unit(text, columns, mapping.measure, mapping.units.get("measure"),
                        mapping.read_voltage_V)
    parts, dropped = [], {"pairs across a gap in a train": []}
    for j in columns:
        name = text.header[j]
        g = to_conductance(text.numbers(j), unit, mapping.read_voltage_V, str(text.path), name)
        last = np.flatnonzero(np.isfinite(g))
        if last.size < 2:
            continue
        g = g[: last[-1] + 1]  # a ragged end is where the train stopped, not a dropped row
        pair = np.isfinite(g[:-1]) & np.isfinite(g[1:])
        dropped["pairs across a gap in a train"] += [f"{name} row {i + 1}"
                                                     for i in np.flatnonzero(~pair)]
        n = int(pair.sum())
        parts.append(PulseTable(np.full(n, f"{text.path.stem}:{name}"), g[:-1][pair],
                                np.full(n, polarity), np.full(n, amplitude), np.full(n, width),
                                np.full(n, np.nan if mapping.gate_V is None else mapping.gate_V),
                                g[1:][pair]))
    if not parts:
        raise DataError(f"{text.path}: no train holds two consecutive reads")
    return PulseTable.concat(parts), {k: v for k, v in dropped.items() if v}


def _read_one(path: str | Path, polarity: int | None, mapping: Mapping):
    if mapping.layout == "pulse-train":
        if polarity is None:
            raise ConfigError(f"{path}: the pulse-train layout needs the polarity of each "
                              "file (--polarity SET or RESET, one per file)")
        return read_trains(path, polarity, mapping)
    if _is_pulse_table(Path(path), mapping):
        return PulseTable.read_csv(path), {}
    return read_rows(path, mapping)


def import_table(inputs: list[tuple[str | Path, int | None]], mapping: Mapping,
                 min_rows: int = 20) -> ImportReport:
    """Read every input (path, train polarity) into one table and report what was read.

    Raises ``DataError`` when a polarity present has fewer than ``min_rows`` rows: a table that
    small cannot condition a response on G_before.
    """
    if not inputs:
        raise ConfigError("no input file given")
    tables, dropped = [], {}
    for path, polarity in inputs:
        table, lost = _read_one(path, polarity, mapping)
        tables.append(table)
        for reason, where in lost.items():
            dropped.setdefault(reason, []).extend(f"{Path(path).name} {w}" for w in where)
    table = PulseTable.concat(tables)
    if mapping.read_voltage_V is not None:  # carried into the table for hilctl device fit
        table.read_V = mapping.read_voltage_V
        table.validate(", ".join(str(p) for p, _ in inputs))
    check_enough_rows(table, min_rows, ", ".join(str(p) for p, _ in inputs))
    warn_if_implausible(table)
    return ImportReport(table, [str(p) for p, _ in inputs], dropped)


def warn_if_implausible(table: PulseTable) -> None:
    """Warn, with the range produced, when the conductances lie beyond ``PLAUSIBLE_G_S``: a
    current recorded in amperes and imported as microamperes gives picosiemens."""
    g = np.concatenate([table.g_before, table.g_after])
    lo, hi = float(g.min()), float(g.max())
    if lo < PLAUSIBLE_G_S[0] or hi > PLAUSIBLE_G_S[1]:
        warnings.warn(f"the imported conductances span {lo:.3g}..{hi:.3g} S, far outside the "
                      f"{PLAUSIBLE_G_S[0]:.2g}..{PLAUSIBLE_G_S[1]:.2g} S of any device hilctl "
                      "knows; check --measure-unit and --read-voltage", ImplausibleConductance,
                      stacklevel=2)


def check_enough_rows(table: PulseTable, min_rows: int, where: str) -> None:
    if len(table) == 0:
        raise DataError(f"{where}: no usable rows")
    for polarity in (Polarity.SET, Polarity.RESET):
        n = int((table.polarity == polarity).sum())
        if 0 < n < min_rows:
            raise DataError(f"{where}: only {n} {polarity.name} rows; at least {min_rows} are "
                            "needed to condition G_after on G_before")
