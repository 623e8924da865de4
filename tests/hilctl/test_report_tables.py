"""Report tables fit 100 columns without cutting a number or a protocol name; ``--wide``
shows every column."""

from __future__ import annotations

from rich.console import Console

from hilctl.commands.demo import print_story
from hilctl.registry import PLANNED
from hilctl.report.console import COMPARISON_COLUMNS, TABLE_WIDTH, WIDE_WIDTH, comparison_table


def _entry(scale: float) -> dict:
    return {"success_1pulse": 0.109 * scale, "success_1pulse_10pct": 0.266 * scale,
            "success_1pulse_50pct": 0.938, "success_final": 1.0, "true_success_final": 0.906,
            "pulses_mean": 18.86 / scale, "pulses_median": 17.0, "pulses_p95": 30.85,
            "program_time_s": 1.39e-3, "energy_J": 223.7e-9,
            "ratio_to_oracle": {"pulses_mean": 11.07, "program_time_s": 1.5,
                                "energy_J": 123.4, "success_1pulse_10pct": 0.41},
            "ratio_to_ispp": {"pulses_mean": 0.13 * scale, "program_time_s": 0.92,
                              "energy_J": 20.6}}


REPORT = {"cells": 4096, "tolerance": 0.05, "ispp": "write-verify",
          "energy_model": "sinh I-V, V0 = 1 V (device parameters)",
          "cost_settings": {"schedule": "none", "read_time_s": 1e-6, "round_trip_s": 1e-4},
          "protocols": {"write-verify": _entry(1), "write-verify-planned": _entry(2),
                        "write-verify-wl": _entry(1.5), "one-shot": _entry(3)},
          "oracle": {"write-verify-planned": _entry(3), "one-shot": _entry(2.5)}}


def _render(table, width: int) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text().splitlines()


def test_the_comparison_fits_100_columns_with_every_number_whole():
    lines = _render(comparison_table(REPORT, PLANNED), TABLE_WIDTH)
    assert max(map(len, lines)) <= TABLE_WIDTH
    text = "\n".join(lines)
    assert "…" not in text
    assert "18.86" in text and "11/1.50/123" in text and "0.13/0.92/21" in text
    names = [line.split()[0] for line in lines if line.strip().startswith(("wv", "one-shot"))]
    assert names == ["wv", "wv-planned", "wv-wl", "one-shot", "wv-planned", "one-shot"]


def test_wide_shows_every_column():
    text = "\n".join(_render(comparison_table(REPORT, PLANNED, wide=True), WIDE_WIDTH))
    for column in COMPARISON_COLUMNS:
        assert column.header in text


def test_the_demo_table_tells_the_verify_protocols_apart_in_100_columns():
    rows = [{"protocol": name, "cells": 4096, "success_rate": 0.97, "pulses_mean": 18.5,
             "program_time_s": 0.05, "energy_J": 2e-6, "accuracy_software": 0.95,
             "accuracy_ideal": 0.94, "accuracy_measured": 0.93, "energy_model": "ohmic",
             "cost_settings": {"schedule": "none"},
             "ratio_to_ispp": {"pulses_mean": 0.135, "program_time_s": 1.0, "energy_J": 21.2},
             "variant": "write-verify-wl" if name == "write-verify" else name}
            for name in ("write-verify", "write-verify-planned", "one-shot")]
    console = Console(width=TABLE_WIDTH, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_story(rows, "64-32-10 mlp", "hfox-1t1r", console)
    text = console.export_text()
    assert "…" not in text
    assert max(map(len, text.splitlines())) <= TABLE_WIDTH
    assert "wv-planned" in text and " wv (wv-wl) " in text and "0.14/1.00/21" in text
