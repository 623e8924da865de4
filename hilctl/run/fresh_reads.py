"""Reading a programmed array again, for inference with the conductances it holds now.

    conductance, booked = read_again(run_dir, relax_s=1000.0, device_book="chip7.book")

A run's last verify reads are what the array held when programming stopped; states relax, so
inference may want the array read again (``hilctl infer --fresh-reads``). With a device book
the fresh reads are kept as when each device was last seen and what it read: a read is no
look at how a device answers a pulse, so the book's learned shifts and their age stay as they
are (``DeviceBook.saw_reads``).
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError

from ..assemble import Relaxable
from ..targets import programmed_cells
from .book_link import array_identity
from .device_book import DeviceBook
from .lock import book_lock
from .runner import load_run_config, reopen_run


class NoRelaxation(UserWarning):
    """``relax_s`` asked of an array whose devices do not relax."""


def read_again(run_dir: str | Path, relax_s: float | None = None,
               device_book: str | Path | None = None) -> tuple[np.ndarray, dict]:
    """Fresh reads of every programmed cell of the run at ``run_dir``, shaped like its target
    map (NaN: not programmed), after ``relax_s`` seconds of relaxation (simulated arrays
    only), and what ``device_book`` (if given) took of them."""
    with nullcontext() if device_book is None else book_lock(Path(device_book)):
        crossbar, cells, targets = reopen_run(Path(run_dir))
        with crossbar:
            if relax_s:
                _relax(crossbar, relax_s)
            reading = crossbar.read(cells)
            booked = {}
            if device_book is not None:
                identity = array_identity(load_run_config(Path(run_dir)), crossbar)
                with DeviceBook(device_book, identity) as book:
                    book.saw_reads(cells.flat(crossbar.shape), reading.conductance)
                booked = {"device_book": str(device_book), "device_book_reads": len(cells)}
    fresh = np.full(targets.size, np.nan)
    fresh[programmed_cells(targets)] = reading.conductance
    return fresh.reshape(targets.shape), booked


def conductance_source(fresh_reads: bool, relax_s: float | None) -> str:
    """Where an inference's conductances came from, for its report."""
    if not fresh_reads:
        return "last verify reads"
    return "fresh reads" + (f" after {relax_s:g} s" if relax_s else "")


def _relax(crossbar, relax_s: float) -> None:
    if not isinstance(crossbar, Relaxable):
        raise ConfigError("--relax works on a simulated array only; on a rig, wait")
    if not crossbar.sim_relax(relax_s):
        warnings.warn("--relax: this array's preset has no relaxation (relaxation_sigma = 0), "
                      "so the fresh reads are as without it; set [device] relaxation_sigma "
                      "to simulate it", NoRelaxation, stacklevel=3)
