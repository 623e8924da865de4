"""Where reports are printed, and the tables they print: sized to fit 100 columns (short
protocol names, units in the headers) also when output is piped; ``--wide`` shows every column
at full width. ``--json`` always carries every figure."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

# What a report table may take: a terminal of 100 columns, or a file or pipe (where rich would
# otherwise assume 80 and squeeze every column to an ellipsis).
TABLE_WIDTH = 100
# Most a narrow table's column takes (its header wraps): room for the cost ratios.
NARROW = 6
# ``--wide``: every column of the widest table (the comparison's) at full width.
WIDE_WIDTH = 280


def report_console(wide: bool = False) -> Console:
    """A console on stdout: ``WIDE_WIDTH`` with ``wide``, else the terminal's width, or
    ``TABLE_WIDTH`` when not a terminal."""
    if wide:
        return Console(width=WIDE_WIDTH)
    return Console(width=None if sys.stdout.isatty() else TABLE_WIDTH)


def short_protocol(name: str) -> str:
    """``write-verify-planned`` as ``wv-planned``: the verify protocols stay apart in a
    narrow column (the legend under a table says what ``wv`` stands for)."""
    return name.replace("write-verify", "wv")


PROTOCOL_LEGEND = "wv: write-verify"


@dataclass(frozen=True)
class Column:
    """One report column: its header (with its unit), how a row's entry shows in it, and
    whether only ``--wide`` shows it."""

    header: str
    show: Callable[[dict], str]
    wide_only: bool = False
    min_width: int | None = None  # for entries that cannot wrap (``0.13/0.92/21``)


def report_table(title: str, first: str, columns: list[Column],
                 rows: list[tuple[str, dict]], wide: bool = False) -> Table:
    """A table with one labelled row per (label, entry); narrow columns unless ``wide``."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True)
    table.add_column(first, no_wrap=True)
    shown = [c for c in columns if wide or not c.wide_only]
    for column in shown:
        table.add_column(column.header, justify="right", no_wrap=wide,
                         min_width=column.min_width,
                         max_width=None if wide else max(column.min_width or 0, NARROW))
    for label, entry in rows:
        table.add_row(label, *(column.show(entry) for column in shown))
    return table


def percent(key: str) -> Callable[[dict], str]:
    """A share in [0, 1] as a percentage without the sign (the header carries it)."""
    return lambda e: "-" if e.get(key) is None else f"{100 * e[key]:.1f}"


def scaled(key: str, scale: float, digits: str = ".2f") -> Callable[[dict], str]:
    return lambda e: "-" if e.get(key) is None else f"{e[key] * scale:{digits}}"


# The three axes of cost every comparison row is measured on, against each reference.
COST_AXES = ("pulses_mean", "program_time_s", "energy_J")


def compact(value: float) -> str:
    """At most six characters for 0.0001 to 999999: 223.7, 0.0149, 32100."""
    return f"{value:.0f}" if value >= 1000 else f"{value:.4g}"


def ratios(reference: str) -> Callable[[dict], str]:
    """Pulses, time and energy as ratios to ``reference`` (``ratio_to_ispp``, ...): 0.13/1.0/21."""
    def show(e: dict) -> str:
        ratios = e.get(reference) or {}
        values = [ratios.get(axis) for axis in COST_AXES]
        if all(v is None for v in values):
            return "-"
        return "/".join("-" if v is None else f"{v:.2f}" if v < 9.95 else f"{v:.0f}"
                        for v in values)
    return show


def _term(name: str) -> Callable[[dict], str]:
    return lambda e: "-" if name not in e.get("time_terms_s", {}) else \
        f"{e['time_terms_s'][name] * 1e3:.2f}"


COMPARISON_COLUMNS = [
    Column("planner", lambda e: e["planner"], min_width=7),
    Column("1 pulse in tol %", percent("success_1pulse"), wide_only=True),
    Column("1 pulse <=10% %", percent("success_1pulse_10pct"), wide_only=True),
    Column("1 pulse <=50% %", percent("success_1pulse_50pct"), wide_only=True),
    Column("final in tol %", percent("success_final")),
    Column("true final %", percent("true_success_final")),
    Column("pulses mean", scaled("pulses_mean", 1.0)),
    Column("pulses median", scaled("pulses_median", 1.0, "g"), wide_only=True),
    Column("pulses p95", scaled("pulses_p95", 1.0, ".3g"), wide_only=True),
    Column("time ms", lambda e: compact(e["program_time_s"] * 1e3)),
    Column("pulses ms", _term("pulses_s"), wide_only=True),
    Column("set-up ms", _term("set_up_s"), wide_only=True),
    Column("reads ms", _term("reads_s"), wide_only=True),
    Column("round trips ms", _term("round_trips_s"), wide_only=True),
    Column("settling ms", _term("settling_s"), wide_only=True),
    Column("energy nJ", lambda e: compact(e["energy_J"] * 1e9)),
    Column("x ISPP p/t/E", ratios("ratio_to_ispp"), min_width=14),
    Column("x oracle p/t/E", ratios("ratio_to_oracle"), min_width=14),
]


def comparison_table(report: dict, planned: tuple[str, ...], wide: bool = False) -> Table:
    """``hilctl compare``'s table: each protocol, then the baseline- and oracle-planned ones."""
    rows = [(short_protocol(name), {**e, "planner": "neural" if name in planned else "-"})
            for name, e in report["protocols"].items()]
    for planner in (*report.get("baselines", ()), "oracle"):  # lookup beside the oracle
        rows += [(short_protocol(name), {**e, "planner": planner})
                 for name, e in report[planner].items()]
    title = (f"{report['cells']} cells, tolerance {report['tolerance']:.3g}; relative "
             f"difference |G - G_target| / G_target; p/t/E: pulses, modelled time, energy "
             f"({PROTOCOL_LEGEND}; ISPP: {report.get('ispp', 'write-verify')})")
    return report_table(title, "protocol", COMPARISON_COLUMNS, rows, wide)


def cost_caption(report: dict) -> str:
    """The line under a cost table: which energy model and which time settings it used."""
    settings = report.get("cost_settings") or {}
    times = ", ".join(f"{key} = {value:.3g}" for key, value in settings.items()
                      if key != "schedule")
    return (f"energy: {report.get('energy_model', '?')}; time: schedule "
            f"{settings.get('schedule', '?')}, {times}")
