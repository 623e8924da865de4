"""Read a lab's measured pulse responses into the pulse-response table (DESIGN.md section 7).

Two layouts:

- ``rows``: one pulse per row, with a conductance, resistance or read-current column before
  and after the pulse, the pulse amplitude and width, the polarity (a column or the amplitude's
  sign) and, for 1T1R cells, a gate voltage.
- ``pulse-train``: one column per train of identical pulses on a device, each value the read
  after a pulse; consecutive reads give (g_before, g_after) pairs. Such files do not record the
  pulse, so the user states it per polarity.

Units come from the column headers (``width_ns``, ``R_pre [kOhm]``, ``I_read_uA``) or from the
mapping; when both are present they must agree. Everything is checked before anything is
written, so a bad file leaves no half-written table behind.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError, DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable

from .config import read_toml
from .units import PREFIX_CLASS, SI_PREFIX, parse_quantity

LAYOUTS = ("rows", "pulse-train")
MEASURES = {"resistance": "Ohm", "conductance": "S", "current": "A"}
ROLES = ("cell", "before", "after", "amplitude", "width", "polarity", "gate")
_BASE = {"Ohm": "Ohm", "ohm": "Ohm", "Ω": "Ohm", "S": "S", "A": "A", "s": "s", "V": "V"}
_HEADER_UNIT = re.compile(rf"[\s_\[(]\s*({PREFIX_CLASS}?)(Ohm|ohm|Ω|S|A|s|V)\s*[\])]?\s*$")
_UNIT = re.compile(rf"^\s*({PREFIX_CLASS}?)(Ohm|ohm|Ω|S|A|s|V)\s*$")
_POLARITY_WORDS = {"set": 1, "+1": 1, "1": 1, "+": 1, "pot": 1, "ltp": 1, "potentiation": 1,
                   "reset": -1, "-1": -1, "-": -1, "dep": -1, "ltd": -1, "depression": -1}


@dataclass(frozen=True)
class Unit:
    """A unit as (base, scale to SI): ``kOhm`` is ("Ohm", 1e3)."""

    base: str
    scale: float
    text: str


def parse_unit(text: str, what: str) -> Unit:
    match = _UNIT.match(text)
    if not match:
        raise ConfigError(f"{what} = {text!r}: expected a unit such as ns, us, s, V, uS, kOhm, uA")
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
class Mapping:
    """How a lab file maps onto the pulse-response table.

    ``columns`` maps a role (cell, before, after, amplitude, width, polarity, gate) to a header;
    ``units`` maps measure/width/amplitude/gate to a unit text; ``pulse`` maps SET/RESET to
    (amplitude V, width s) for files that do not record the pulse; ``gate_V`` is a constant gate.
    """

    layout: str = "rows"
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


_MAPPING_KEYS = {"layout", "measure", "read_voltage", "columns", "units", "pulse", "gate"}


def load_mapping(path: str | Path) -> Mapping:
    """A mapping from a small TOML file; an unknown key is a ``ConfigError`` naming it."""
    data = read_toml(path)
    for key in data:
        if key not in _MAPPING_KEYS:
            known = ", ".join(sorted(_MAPPING_KEYS))
            raise ConfigError(f"{path}: unknown key {key!r}; known: {known}")
    pulse = {}
    for name, setting in data.get("pulse", {}).items():
        polarity = parse_polarity_word(name, f"{path}: pulse.{name}")
        unknown = set(setting) - {"amplitude", "width"}
        if unknown or len(setting) != 2:
            raise ConfigError(f"{path}: pulse.{name} needs exactly amplitude and width "
                              f"(got {', '.join(sorted(setting))})")
        pulse[polarity] = (parse_quantity(setting["amplitude"], "V", f"pulse.{name}.amplitude"),
                           parse_quantity(setting["width"], "s", f"pulse.{name}.width"))
    read_v = data.get("read_voltage")
    gate = data.get("gate")
    return Mapping(
        layout=data.get("layout", "rows"), measure=data.get("measure"),
        read_voltage_V=None if read_v is None else parse_quantity(read_v, "V", "read_voltage"),
        columns=dict(data.get("columns", {})), units=dict(data.get("units", {})), pulse=pulse,
        gate_V=None if gate is None else parse_quantity(gate, "V", "gate"))


def parse_polarity_word(text: str, where: str) -> int:
    try:
        return _POLARITY_WORDS[str(text).strip().lower()]
    except KeyError:
        raise DataError(f"{where}: polarity {text!r}, expected SET or RESET") from None


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
def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if not rows:
        raise DataError(f"{path}: empty file, expected a header row")
    header = [h.strip() for h in rows[0]]
    body = [row + [""] * (len(header) - len(row)) for row in rows[1:]]
    for i, row in enumerate(body):
        if len(row) > len(header):
            raise DataError(f"{path}: row {i + 1} has {len(row)} fields, header has {len(header)}")
    return header, body


def _numbers(path: Path, header: list[str], body: list[list[str]], name: str) -> np.ndarray:
    """Column ``name`` as floats; empty or NaN fields are NaN, anything else non-numeric fails."""
    j = header.index(name)
    out = np.empty(len(body))
    for i, row in enumerate(body):
        text = row[j].strip()
        try:
            out[i] = float(text) if text else np.nan
        except ValueError:
            raise DataError(f"{path}: row {i + 1}, column {name!r}: {text!r} is not a "
                            "number") from None
        if np.isinf(out[i]):
            raise DataError(f"{path}: row {i + 1}, column {name!r}: {text!r} is not finite")
    return out


def _resolve_unit(path: Path, column: str, declared: str | None, role: str,
                  allowed: tuple[str, ...], default: str | None = None) -> Unit:
    """The column's unit: the header's and the mapping's must agree; one of them is needed."""
    from_header = header_unit(column)
    from_mapping = parse_unit(declared, f"units.{role}") if declared else None
    if from_header and from_mapping and (from_header.base, from_header.scale) != (
            from_mapping.base, from_mapping.scale):
        raise ConfigError(f"{path}: units contradict for column {column!r}: its header says "
                          f"{from_header.text}, the mapping says units.{role} = "
                          f"{from_mapping.text}")
    unit = from_header or from_mapping or (parse_unit(default, role) if default else None)
    if unit is None:
        raise ConfigError(f"{path}: column {column!r} ({role}) carries no unit; put it in the "
                          f"header (e.g. {column}_{allowed[0]}) or give units.{role}")
    if unit.base not in allowed:
        raise ConfigError(f"{path}: units contradict: column {column!r} ({role}) is in "
                          f"{unit.text}, expected a unit of {' or '.join(allowed)}")
    return unit


def _measure_unit(path: Path, columns: list[str], mapping: Mapping) -> Unit:
    """One unit for every measurement column, consistent with ``mapping.measure``."""
    allowed = (MEASURES[mapping.measure],) if mapping.measure else tuple(MEASURES.values())
    units = [_resolve_unit(path, c, mapping.units.get("measure"), "measure", allowed)
             for c in columns]
    first = units[0]
    for column, unit in zip(columns[1:], units[1:], strict=True):
        if (unit.base, unit.scale) != (first.base, first.scale):
            raise ConfigError(f"{path}: units contradict: column {columns[0]!r} is in "
                              f"{first.text}, column {column!r} in {unit.text}")
    if first.base == "A" and mapping.read_voltage_V is None:
        raise ConfigError(f"{path}: read currents need the read voltage (read_voltage / "
                          "--read-voltage)")
    return first


def _to_conductance(values: np.ndarray, unit: Unit, read_V: float | None, where: str,
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


def _column(path: Path, header: list[str], mapping: Mapping, role: str) -> str | None:
    name = mapping.columns.get(role)
    if name is not None and name not in header:
        raise ConfigError(f"{path}: the mapping names column {name!r} for {role}, but the file's "
                          f"columns are {', '.join(header)}")
    return name


def read_rows(path: str | Path, mapping: Mapping) -> tuple[PulseTable, dict[str, list[str]]]:
    """A ``rows``-layout file as a pulse table, and the rows dropped with their reasons."""
    path = Path(path)
    header, body = _read_csv(path)
    names = {role: _column(path, header, mapping, role) for role in ROLES}
    for role in ("before", "after"):
        if names[role] is None:
            raise ConfigError(f"{path}: the mapping must name the {role!r} measurement column "
                              f"(columns: {', '.join(header)})")
    unit = _measure_unit(path, [names["before"], names["after"]], mapping)
    where = str(path)
    raw = {role: _numbers(path, header, body, names[role]) for role in ("before", "after")}
    g = {role: _to_conductance(raw[role], unit, mapping.read_voltage_V, where, names[role])
         for role in raw}
    polarity, amplitude, width = _pulse_columns(path, header, body, names, mapping)
    gate = _gate_column(path, header, body, names, mapping)
    cells = (np.array([row[header.index(names["cell"])].strip() for row in body])
             if names["cell"] else np.full(len(body), path.stem))
    dropped: dict[str, list[str]] = {}
    keep = np.ones(len(body), dtype=bool)
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


def _pulse_columns(path: Path, header: list[str], body: list[list[str]], names: dict,
                   mapping: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polarity (+1/-1), amplitude magnitude (V) and width (s) per row."""
    if names["amplitude"] is None or names["width"] is None:
        return _stated_pulses(path, header, body, names, mapping)
    amp_unit = _resolve_unit(path, names["amplitude"], mapping.units.get("amplitude"),
                             "amplitude", ("V",), default="V")
    width_unit = _resolve_unit(path, names["width"], mapping.units.get("width"), "width", ("s",))
    amplitude = _numbers(path, header, body, names["amplitude"]) * amp_unit.scale
    width = _numbers(path, header, body, names["width"]) * width_unit.scale
    bad = np.flatnonzero(np.isfinite(width) & (width <= 0))
    if bad.size:
        raise DataError(f"{path}: column {names['width']!r}: width <= 0 in row {bad[0] + 1}")
    if names["polarity"] is None:
        zero = np.flatnonzero(amplitude == 0)
        if zero.size:
            raise DataError(f"{path}: row {zero[0] + 1}: amplitude 0 V gives no polarity; map a "
                            "polarity column")
        polarity = np.where(amplitude < 0, -1, 1)
    else:
        j = header.index(names["polarity"])
        polarity = np.array([parse_polarity_word(row[j], f"{path}: row {i + 1}")
                             for i, row in enumerate(body)])
        against = np.flatnonzero((amplitude < 0) & (polarity > 0))
        if against.size:
            raise DataError(f"{path}: row {against[0] + 1}: polarity SET but amplitude "
                            f"{amplitude[against[0]]:g} V; give magnitudes or drop the sign")
    return polarity.astype(np.int8), np.abs(amplitude), width


def _stated_pulses(path: Path, header, body, names: dict, mapping: Mapping):
    """Rows without pulse columns take the pulse the user stated for their polarity."""
    if names["polarity"] is None:
        raise ConfigError(f"{path}: no amplitude/width columns mapped and no polarity column; "
                          "map them, or use the pulse-train layout")
    j = header.index(names["polarity"])
    polarity = np.array([parse_polarity_word(row[j], f"{path}: row {i + 1}")
                         for i, row in enumerate(body)], dtype=np.int8)
    amplitude, width = np.empty(len(body)), np.empty(len(body))
    for sign in np.unique(polarity):
        stated = _stated_pulse(path, mapping, int(sign))
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


def _gate_column(path: Path, header, body, names: dict, mapping: Mapping) -> np.ndarray:
    if names["gate"] is None:
        return np.full(len(body), np.nan if mapping.gate_V is None else mapping.gate_V)
    if mapping.gate_V is not None:
        raise ConfigError(f"{path}: both a gate column ({names['gate']!r}) and a constant gate "
                          "were given; keep one")
    unit = _resolve_unit(path, names["gate"], mapping.units.get("gate"), "gate", ("V",), "V")
    return _numbers(path, header, body, names["gate"]) * unit.scale


def read_trains(path: str | Path, polarity: int,
                mapping: Mapping) -> tuple[PulseTable, dict[str, list[str]]]:
    """A ``pulse-train`` file: each column one train of the stated pulse, reads in order."""
    path = Path(path)
    header, body = _read_csv(path)
    amplitude, width = _stated_pulse(path, mapping, polarity)
    unit = _measure_unit(path, header, mapping)
    parts, dropped = [], {"pairs across a gap in a train": []}
    for name in header:
        g = _to_conductance(_numbers(path, header, body, name), unit, mapping.read_voltage_V,
                            str(path), name)
        last = np.flatnonzero(np.isfinite(g))
        if last.size < 2:
            continue
        g = g[: last[-1] + 1]  # a ragged end is where the train stopped, not a dropped row
        pair = np.isfinite(g[:-1]) & np.isfinite(g[1:])
        dropped["pairs across a gap in a train"] += [f"{name} row {i + 1}"
                                                     for i in np.flatnonzero(~pair)]
        n = int(pair.sum())
        parts.append(PulseTable(np.full(n, f"{path.stem}:{name}"), g[:-1][pair],
                                np.full(n, polarity), np.full(n, amplitude), np.full(n, width),
                                np.full(n, np.nan if mapping.gate_V is None else mapping.gate_V),
                                g[1:][pair]))
    if not parts:
        raise DataError(f"{path}: no train holds two consecutive reads")
    return PulseTable.concat(parts), {k: v for k, v in dropped.items() if v}


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
        if mapping.layout == "pulse-train":
            if polarity is None:
                raise ConfigError(f"{path}: the pulse-train layout needs the polarity of each "
                                  "file (--polarity SET or RESET, one per file)")
            table, lost = read_trains(path, polarity, mapping)
        else:
            table, lost = read_rows(path, mapping)
        tables.append(table)
        for reason, where in lost.items():
            dropped.setdefault(reason, []).extend(f"{Path(path).name} {w}" for w in where)
    table = PulseTable.concat(tables)
    check_enough_rows(table, min_rows, ", ".join(str(p) for p, _ in inputs))
    return ImportReport(table, [str(p) for p, _ in inputs], dropped)


def check_enough_rows(table: PulseTable, min_rows: int, where: str) -> None:
    if len(table) == 0:
        raise DataError(f"{where}: no usable rows")
    for polarity in (Polarity.SET, Polarity.RESET):
        n = int((table.polarity == polarity).sum())
        if 0 < n < min_rows:
            raise DataError(f"{where}: only {n} {polarity.name} rows; at least {min_rows} are "
                            "needed to condition G_after on G_before")
