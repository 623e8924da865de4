"""How a run uses its device book: the array's identity, seeding the planner, absorbing a run.

The planner that learns per device is the neural one (also as the primary of a polarity
fallback); a protocol without it leaves the book untouched, and says so in the summary.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

from hilctl.drivers import Cells, ConfigError, Crossbar, PulseBatch
from hilctl.drivers.checksums import sha256
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols.characterize import table_rows
from hilctl.protocols.fallback import PolarityFallback

from ..assemble import Job
from ..config import RunConfig
from ..config_tables import DeviceBookConfig
from ..registry import build_planner
from .device_book import Beliefs, DeviceBook, Discount
from .lock import book_lock

POLARITY_NAMES = ("RESET", "SET")  # book rows 0, 1


def array_identity(config: RunConfig, crossbar: Crossbar) -> dict:
    """What makes two runs the same array: a simulator's preset (name, or the preset file's
    sha256), ``[device]`` overrides, measured table, seed and shape; a rig's SMU and board
    identity strings and the user's array name, and its shape."""
    shape = list(crossbar.shape)
    if config.rig is not None:
        name = config.device_book.array_name
        if name is None:
            raise ConfigError("device_book.array_name: missing; a rig's book needs the name of "
                              "the array on the board ([device_book] array_name)")
        ids = crossbar.identify()
        return {"kind": "rig", "smu": ids["smu"], "board": ids["board"], "array": name,
                "shape": shape}
    preset, table = config.array.preset, config.array.empirical_table
    return {"kind": "simulated", "preset": _file_or_name(preset),
            "device": dict(sorted(config.device.items())),
            "empirical_table": table and _file_or_name(table),
            "seed": config.array.seed, "shape": shape}


def _file_or_name(text: str) -> str:
    path = Path(text)
    return f"sha256:{sha256(path.read_bytes())}" if path.is_file() else text


def held_book(book: DeviceBookConfig) -> AbstractContextManager:
    """The lock of the configured device book (if any), held from before a run makes its
    directory, so a book in use elsewhere refuses the run with nothing made."""
    return nullcontext() if book.path is None else book_lock(Path(book.path))


def discount_of(book: DeviceBookConfig) -> Discount:
    return Discount(book.keep_per_run, book.half_life_s or float("inf"),
                    book.half_life_pulses or float("inf"))


def planner_of(protocol):
    """The planner a protocol plans with, or None (a protocol that plans by itself)."""
    return getattr(protocol, "planner", None)


def neural_of(planner):
    """``planner`` if it is the neural one (or a fallback's primary), else None: the one that
    learns per device, so the book takes its posterior."""
    return _primary_if(planner, "hilctl.predictor.planner", "NeuralPlanner")


def lookup_of(planner):
    """``planner`` if it is the lookup one (or a fallback's primary), else None: it follows
    the book's shifts without learning."""
    return _primary_if(planner, "hilctl.predictor.lookup", "LookupPlanner")


def _primary_if(planner, module: str, kind: str):
    """``planner`` (or a fallback's primary) if it is a ``module.kind``; a module never
    imported holds no planner, and asking does not import it (torch stays unloaded)."""
    loaded = sys.modules.get(module)
    if loaded is None:
        return None
    if isinstance(planner, PolarityFallback):
        planner = planner.primary
    return planner if isinstance(planner, getattr(loaded, kind)) else None


def knobs_of(planner) -> list[str]:
    """The knob of each book row, so a book never mixes ln width with volts."""
    return [planner.predictor.spec.knob.get(name, "none") for name in POLARITY_NAMES]


class RunBook:
    """A run's hold on its book: seeds the planner when made (the neural planner's prior, or
    the lookup planner's per-device shift), absorbs the run in ``finish`` (the neural
    planner's posterior, and every run's pulses).

    Use it as a context manager; without a configured book every method does nothing.
    """

    def __init__(self, config: RunConfig, crossbar: Crossbar, planner, cells: Cells) -> None:
        """``config`` names the book and the array (``array_identity``)."""
        self.planner, self.cells, self.book = neural_of(planner), cells, None
        if config.device_book.path is None:
            return
        self.book = DeviceBook(config.device_book.path, array_identity(config, crossbar))
        lookup, knobs = lookup_of(planner), self.book.meta.get("knobs")
        if self.planner is not None:
            self.book.check_knobs(knobs_of(self.planner))
        elif lookup is None or knobs is None:
            return  # a planner the book cannot tell anything, or a book without looks
        prior = self.book.prior(cells.flat(crossbar.shape), discount_of(config.device_book))
        if self.planner is not None:
            self.planner.seed_belief(cells, prior.shift, prior.information, prior.keep)
        else:
            lookup.follow_book(cells, crossbar.shape, prior.shift, prior.keep, knobs)

    def finish(self, run: str, pulses: Callable[[], np.ndarray]) -> dict:
        """Store the planner's posterior of the run's cells (if it learns) and their pulses (2,
        m, counted only if there is a book); a summary of what the book took (for
        ``result.json``)."""
        if self.book is None:
            return {}
        flat = self.cells.flat(self.book_shape)
        if self.planner is None:  # no looks; the pulses still age the book's looks
            counted = self.book.absorb(run, flat, None, pulses(), None)
            return {"device_book": str(self.book.path), "device_book_updated": False,
                    "device_book_pulses_counted": counted}
        taken = self.book.absorb(run, flat, Beliefs(*self.planner.belief(self.cells)),
                                 pulses(), knobs_of(self.planner))
        return {"device_book": str(self.book.path), "device_book_updated": taken,
                "device_book_pulses_counted": taken}

    @property
    def book_shape(self) -> tuple[int, int]:
        return tuple(self.book.meta["identity"]["shape"])

    def __enter__(self) -> RunBook:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.book is not None:
            self.book.close()


def seeded_from_book(config: RunConfig, crossbar: Crossbar, planner):
    """``planner`` started from ``config``'s device book (if one is configured), without
    updating the book: for runs on copies of the array (``compare``)."""
    with RunBook(config, crossbar, planner, Cells.all(crossbar.shape)):
        return planner


def probe(crossbar: Crossbar, planner, cells: Cells, pulses_per_cell: int,
          rng: np.random.Generator) -> tuple[PulseTable, np.ndarray]:
    """``pulses_per_cell`` pulses per device towards random targets (log-uniform over the
    middle 80 % of the predictor's conductance range, in ln G), each planned by ``planner``
    and its answer taught back to it as a look at the device's shift.

    Random targets rather than random knob values: a knob drawn uniformly over its range
    mostly lands where the response is flat (below the SET threshold, on the plateau, at a
    bound), and such a look says little about the device; a planned pulse aims where the
    response is steep, at the levels a later run will program. Only pulses at the
    predictor's own settings teach the planner (others are not its response), so the
    polarity and knob are the planner's. Returns the pulse-response table and the pulses per
    polarity (2, cells).
    """
    g_lo, g_hi = np.log(planner.predictor.spec.g_range_S)
    lo, mid, hi = g_lo + 0.1 * (g_hi - g_lo), (g_lo + g_hi) / 2, g_hi - 0.1 * (g_hi - g_lo)
    counts = np.zeros((2, len(cells)), np.int64)
    last, tables = crossbar.read(cells).conductance, []
    for k in range(pulses_per_cell):
        bounds = (mid, hi) if k % 2 == 0 else (lo, mid)
        planned = planner.plan(cells, last, np.exp(rng.uniform(*bounds, len(cells))))
        batch = PulseBatch(cells, planned.polarity, planned.amplitude, planned.width,
                           planned.gate)
        crossbar.apply(batch)
        after = crossbar.read(cells).conductance
        planner.observe(cells, planned, last, after)
        tables.append(table_rows(batch, last, after))
        np.add.at(counts, ((planned.polarity > 0).astype(np.intp), np.arange(len(cells))), 1)
        last = after
    return PulseTable.concat(tables), counts


def characterize_into_book(job: Job, pulses_per_cell: int,
                           rng: np.random.Generator) -> tuple[PulseTable, dict, tuple]:
    """Fill the job's device book from ``probe`` of every device of the configured array
    (the one that will be programmed); the table, what the book took and the array's shape."""
    with job.open_crossbar() as crossbar:
        planner = neural_of(build_planner(job, crossbar))
        if planner is None:
            raise ConfigError("characterize --device-book learns through the neural planner: "
                              "give --predictor DIR (a trained predictor)")
        cells = Cells.all(crossbar.shape)
        with RunBook(job.config, crossbar, planner, cells) as book:
            table, counts = probe(crossbar, planner, cells, pulses_per_cell, rng)
            booked = book.finish(f"characterize:{uuid.uuid4().hex}", lambda: counts)
        return table, booked, crossbar.shape
