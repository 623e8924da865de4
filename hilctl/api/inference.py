"""``hilctl.infer``: a programmed network's accuracy with the conductances its run measured.

    report = hilctl.infer("runs/weights", defects=[0, 0.05, 0.1], cost=True)
    report["accuracy_measured"], report["defects"], report["read_cost"]

The ``hilctl infer`` command is this call. torch and matplotlib are imported when used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..run.fresh_reads import conductance_source, read_again
from .parameters import SettingError
from .runs import Run


def infer(run: Run | str | Path, dataset: str | None = None, *, defects=(), trials: int = 3,
          seed: int = 0, out: str | Path | None = None, fresh_reads: bool = False,
          relax: float | None = None, device_book: str | Path | None = None,
          plots: bool = True, cost: bool = False, cost_config: str | None = None,
          adc: str | None = None, adc_bits: int | None = None, cost_sweep=(),
          sweep_bits=(4, 6, 8)) -> dict:
    """Accuracy in software, with ideal targets and with a weights run's conductances.

    ``dataset`` [the model's]. ``defects``: stuck fractions in [0, 1] to add, ``trials``
    seeded draws each (curve ``defects.png`` in ``out``, default the run directory).
    ``fresh_reads``: read every programmed cell again now instead of the run's last verify
    reads; ``relax`` (s): first let a simulated array's states relax this long;
    ``device_book``: the book keeps when each device was last read. ``plots=False``: no
    figures. ``cost``:
    the read path's energy and latency per inference (``cost_config``: a TOML's
    ``[read_cost]``; ``adc``, ``adc_bits``) beside what programming cost; ``cost_sweep``:
    accuracy against energy over read levels (V in voltage mode, full-scale row A in current
    mode) and ``sweep_bits``.
    """
    from ..weights.datasets import load_dataset
    from ..weights.inference import (  # torch: import late
        defect_sweep,
        evaluate,
        load_run,
        read_cost_report,
        read_cost_sweep,
    )

    fractions = _fractions(defects)
    levels, bits = _positive("cost_sweep", cost_sweep), _positive("sweep_bits", sweep_bits)
    if relax is not None and not relax > 0:
        raise SettingError("relax", relax, "expected a positive time in seconds")
    if relax is not None and not fresh_reads:
        raise SettingError("relax", relax, "needs fresh reads: relaxation shows only in new "
                           "reads")
    if device_book is not None and not fresh_reads:
        raise SettingError("device_book", device_book, "needs fresh reads: only new reads "
                           "tell a device book anything")
    settings = _cost_settings(cost_config, adc=adc, adc_bits=adc_bits)
    run_dir = Path(run.path if isinstance(run, Run) else run)
    weights = load_run(run_dir)
    data = load_dataset(dataset or weights.model.dataset)
    booked = {}
    if fresh_reads:
        weights.conductance, booked = read_again(run_dir, relax, device_book)
    report = {**evaluate(weights, data), **booked,
              "conductance_source": conductance_source(fresh_reads, relax)}
    where = Path(out or run_dir)
    if fractions:
        report["defects"] = defect_sweep(weights.model, weights.layout, weights.conductance,
                                         data, fractions, seed, trials)
        if plots:
            report["defect_plot"] = str(plot_defects([report], where))
    if cost or levels:
        report["read_cost"] = read_cost_report(weights, data, settings)
        report["programming"] = programming_ledger(run_dir)
    if levels:
        from ..report.plots import plot_accuracy_energy  # matplotlib: import late

        report["cost_sweep"] = read_cost_sweep(weights, data, settings, levels, bits)
        if plots:
            report["cost_plot"] = str(plot_accuracy_energy(report["cost_sweep"],
                                                           where / "accuracy_energy.png"))
    return report


def _fractions(values) -> list[float]:
    values = [float(v) for v in values]
    if not all(0.0 <= v <= 1.0 for v in values):
        raise SettingError("defects", values, "every fraction must lie in [0, 1]")
    return values


def _positive(parameter: str, values) -> list:
    values = list(values)
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise SettingError(parameter, values, "every value must be positive")
    return values


def _cost_settings(path: str | None, **overrides):
    """The read-path settings: the ``[read_cost]`` table of ``path`` (if any) and overrides."""
    from ..weights.interface_presets import load_read_cost_toml, read_cost_settings

    if path:
        return load_read_cost_toml(path, **overrides)
    return read_cost_settings(None, **overrides)


def programming_ledger(run_dir: Path) -> dict:
    """What loading the weights cost, as the run recorded it in ``result.json``."""
    try:
        result = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError):
        return {"recorded": False}
    return {"recorded": True, "protocol": result.get("protocol"),
            "program_time_s": result.get("program_time_s"), "energy_J": result.get("energy_J"),
            "pulses_mean": result.get("pulses_mean"), "cells": result.get("cells")}


def plot_defects(reports: list[dict], out_dir: Path) -> Path:
    """Accuracy against stuck fraction, one line per report (with the min-max band of the
    draws), as ``defects.png`` in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..report.plots import save_figure

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for report in reports:
        rows = report["defects"]
        p = [100 * r["fraction"] for r in rows]
        line, = ax.plot(p, [100 * r["accuracy"] for r in rows], "o-",
                        label=f"{report['mode']} mode")
        ax.fill_between(p, [100 * r["accuracy_min"] for r in rows],
                        [100 * r["accuracy_max"] for r in rows], alpha=0.2,
                        color=line.get_color())
        ax.axhline(100 * report["accuracy_software"], ls="--", c=line.get_color(), lw=0.8)
    ax.set(xlabel="further devices stuck (%)", ylabel="test accuracy (%)",
           title=f"{reports[0]['dataset']}: accuracy vs stuck devices (dashed: software)")
    ax.legend()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "defects.png"
    save_figure(fig, path, plt, dpi=120)
    return path
