"""``hilctl.compare``: protocols on identical simulated arrays, against the oracle.

    report = hilctl.compare("sim://?rows=16&cols=16", ("write-verify", "one-shot"),
                            tolerance="5%", out="runs/cmp")     # compare.json and PNGs in out
    report["protocols"]["one-shot"]["success_final"]   # share in band at the end

The ``hilctl compare`` command is this call. Without ``predictor`` the planned protocols get
one trained on a separate array of the same preset (never on the devices it is compared on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hilctl.drivers.atomic_file import check_output_directory, write_atomic
from hilctl.drivers.pulse_table import PulseTable

from ..assemble import Job
from ..config import merge
from ..config_tables import ProtocolConfig
from ..registry import PLANNED
from ..run.book_link import seeded_from_book
from ..run.compare import run_comparison
from ..targets import targets_for
from .backends import Array, open_array
from .parameters import check_protocol_names, configure, silent
from .runs import check_targets, tolerance_settings

DEFAULT_PROTOCOLS = (ProtocolConfig().name, *PLANNED)


def compare(array: Array | str, protocols: tuple[str, ...] | list[str] = DEFAULT_PROTOCOLS, *,
            targets: object = None, tolerance: float | str = "5%",
            predictor: str | Path | None = None,
            oracle: bool = True, lookup: bool = True, table: str | Path | None = None,
            training_pulses: int | None = None, device_book: str | Path | None = None,
            out: str | Path | None = None, plots: bool = True,
            say: Callable[..., None] | None = None) -> dict:
    """Program identical copies of a simulated array with each protocol; the report.

    ``targets``: as for ``hilctl.program`` (siemens shaped like the array, or a pattern name)
    [the array's configured targets].
    ``oracle``: also run the planned protocols with the oracle planner (the physical limit).
    ``lookup``: also with the lookup planner, on ``table`` (a pulse-response CSV; without
    ``predictor``, the separate array's table). ``predictor``: a trained predictor directory;
    None trains one on ``training_pulses`` (50 000) of a separate array. ``device_book``: the book
    every neural planner starts from (read only). ``out``: a directory for ``compare.json``
    and the figures (``plots=False``: no figures). ``say``: where progress lines go (e.g.
    ``print``); None is silent.
    """
    say = say or silent
    names = check_protocol_names(protocols)
    array = array if isinstance(array, Array) else open_array(array)
    pattern = targets if isinstance(targets, str) else None
    given = {"protocol": tolerance_settings(tolerance), "targets": {"pattern": pattern},
             "device_book": {"path": device_book and str(Path(device_book).resolve())},
             "output": {"plots": plots}}
    job = Job(configure(merge(array.config.model_dump(mode="json"), given), given,
                        "hilctl.compare()"))
    targets = (targets_for(job) if targets is None or pattern
               else check_targets(targets, job.shape, job.window))
    if out is not None:
        out = check_output_directory(out, None, "comparison", create=False)
    predictor_info, planner_for, baselines = None, None, {}
    if any(name in PLANNED for name in names):
        planner_for, baselines, predictor_info = _planners(
            job, predictor, table, lookup, training_pulses, say)
    comparison = run_comparison(job, names, targets, planner_for, oracle, say, baselines)
    report = {**comparison.report(), "predictor": predictor_info}
    if out is not None:
        _write(comparison, report, out, job.config.output.plots)
    return report


def _planners(job: Job, predictor_dir, table_file, lookup: bool, pulses: int, say) -> tuple:
    """The neural planner (seeded from the device book) and the lookup baseline: from what
    was given, or both made from one separate array of the same preset."""
    from ..predictor.lookup import LookupPlanner, LookupTable  # torch: import late
    from ..predictor.model import Predictor
    from ..registry import neural_planner
    from ..run.sibling_predictor import TRAINING_PULSES, sibling_table, train_for_array

    if predictor_dir:
        table = PulseTable.read_csv(table_file) if table_file and lookup else None
        predictor, info = Predictor.load(predictor_dir), {"source": str(predictor_dir)}
    else:
        say("no predictor given:", end=" ")
        table, info = sibling_table(job, pulses or TRAINING_PULSES, say)
        predictor = train_for_array(table, info["training_array_seed"])
        table = PulseTable.read_csv(table_file) if table_file else table

    def planner_for(name, crossbar):
        return seeded_from_book(job.config, crossbar, neural_planner(job, crossbar, predictor))

    baselines = {}
    if lookup and table is not None:
        lookup_table = LookupTable(table)
        baselines["lookup"] = lambda name, crossbar: LookupPlanner(lookup_table)
    elif lookup:
        say("no lookup planner: it needs a pulse-response table (--table)")
    return planner_for, baselines, info


def _write(comparison, report: dict, out: Path, figures: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "compare.json", json.dumps(report, indent=2) + "\n")
    labelled = {**comparison.results,
                **{f"{k} (oracle)": v for k, v in comparison.oracle_results.items()}}
    if figures:
        from ..report import plots  # matplotlib: import late

        plots.compare_figures(labelled, out)
