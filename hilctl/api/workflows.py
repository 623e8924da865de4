"""The other steps of a lab's workflow from Python, each calling what its command calls:
``characterize`` (a pulse-response table), ``train_predictor``, ``compare`` (protocols against
the oracle), ``train`` (a network for a crossbar) and ``infer`` (accuracy from a run's
conductances). torch is imported only by the steps that train."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols.characterize import characterize as run_characterization

from ..config import build_config, merge
from ..registry import PLANNED
from ..run.compare import run_comparison
from ..targets import targets_for
from .backends import Array, open_array
from .runs import Run, load_run, tolerance_settings


def characterize(array: Array | str, pulses: int = 50_000, out: str | Path | None = None,
                 seed: int | None = None) -> PulseTable:
    """Random pulses (polarity, amplitude, log-uniform width over the safe ranges) across the
    array, read before and after; the pulse-response table, also written to ``out`` (CSV)."""
    array = array if isinstance(array, Array) else open_array(array)
    rng = np.random.default_rng(array.config.array.seed if seed is None else seed)
    with array.open() as crossbar:
        table = run_characterization(crossbar, pulses, rng)
    if out is not None:
        table.write_csv(out)
    return table


def train_predictor(table: PulseTable | str | Path, out: str | Path, knob: str = "width",
                    epochs: int | None = None, seed: int = 0) -> Path:
    """Train the neural pulse predictor on a pulse-response table (or its CSV) and save it
    to ``out``; pass ``out`` as ``predictor=`` to ``hilctl.program``."""
    from ..predictor.training import train_predictor as train_on  # torch: import late

    source = str(table) if not isinstance(table, PulseTable) else "pulse table"
    table = table if isinstance(table, PulseTable) else PulseTable.read_csv(table)
    return train_on(table, knob=knob, epochs=epochs, seed=seed, source=source).save(out)


def compare(array: Array | str, protocols: tuple[str, ...] = ("write-verify",
                                                               "write-verify-planned"),
            predictor: str | Path | None = None, tolerance: float | str = "5%",
            oracle: bool = True) -> dict:
    """Program identical copies of a simulated array with each protocol (and, with ``oracle``,
    the planned ones with the oracle planner); the report ``hilctl compare`` writes."""
    array = array if isinstance(array, Array) else open_array(array)
    config = build_config(merge(array.config.model_dump(mode="json"),
                                {"protocol": tolerance_settings(tolerance)}), "hilctl.compare()")
    planner_for = None
    if any(name in PLANNED for name in protocols):
        if predictor is None:
            raise ConfigError("compare(): planned protocols need predictor= (a trained "
                              "predictor directory, see hilctl.train_predictor)")
        from ..predictor.model import Predictor  # torch: import late
        from ..predictor.planner import NeuralPlanner

        loaded = Predictor.load(predictor)

        def planner_for(name, crossbar):
            return NeuralPlanner(loaded, crossbar.shape)

    comparison = run_comparison(config, list(protocols), targets_for(config), planner_for,
                                oracle)
    return {**comparison.report(), "predictor": None if predictor is None
            else {"source": str(predictor)}}


def train(out: str | Path, dataset: str = "digits", mode: str = "voltage",
          hidden: int | None = None, epochs: int = 60, seed: int = 0,
          iv_aware: bool = False) -> Path:
    """Train a network for a crossbar (``mode`` ``"voltage"`` or ``"current"``) on ``dataset``
    and save it to ``out``; pass ``out`` as ``weights=`` to ``hilctl.program``."""
    from ..weights.datasets import load_dataset
    from ..weights.model_files import save_model
    from ..weights.network import DEFAULT_HIDDEN, TrainConfig, train_model  # torch: import late

    config = TrainConfig(mode=mode, hidden=(hidden or DEFAULT_HIDDEN.get(dataset, 64),),
                         epochs=epochs, seed=seed, iv_aware=iv_aware)
    return save_model(train_model(config, load_dataset(dataset)), out)


def infer(run: Run | str | Path, dataset: str | None = None, fresh_reads: bool = False,
          relax_s: float | None = None, device_book: str | Path | None = None) -> dict:
    """Accuracy of a weights run's network in software, with ideal targets and with the
    conductances the run measured (its last verify reads), or with ``fresh_reads`` of the
    array now (after ``relax_s`` seconds of relaxation on a simulated array; with
    ``device_book``, the book keeps when each device was last read); the report ``hilctl
    infer`` prints."""
    from ..run.fresh_reads import conductance_source, read_again
    from ..weights.datasets import load_dataset
    from ..weights.inference import evaluate
    from ..weights.inference import load_run as load_weights  # torch: import late

    if not fresh_reads and (relax_s is not None or device_book is not None):
        raise ConfigError("infer(): relax_s= and device_book= need fresh_reads=True (only "
                          "new reads show relaxation or tell a device book anything)")
    path = run.path if isinstance(run, Run) else load_run(run).path
    weights = load_weights(path)
    booked = {}
    if fresh_reads:
        weights.conductance, booked = read_again(path, relax_s, device_book)
    return {**evaluate(weights, load_dataset(dataset or weights.model.dataset)), **booked,
            "conductance_source": conductance_source(fresh_reads, relax_s)}
