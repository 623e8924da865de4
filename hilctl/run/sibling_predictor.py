"""A predictor trained on the spot: characterize a separate, differently seeded array of the
same device type and train on its pulse-response table, so a planner is never evaluated on the
devices it learned from.

On bare (1R) devices the table is random pulses over every setting and the predictor plans the
width. Behind an access transistor (1T1R) it is a gate sweep, as labs measure such arrays:
each round RESETs the cells (the configured block RESET), SETs each at a random gate over the
write-verify-wl ramp (its bit-line amplitude and width), RESETs each at a random source-line
amplitude over that protocol's RESET range (its RESET gate), and SETs each again at a random
gate from where that left it (a SET from an intermediate state may not switch: the predictor
must see it); the predictor plans the gate for SET and the source-line amplitude for RESET.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hilctl.drivers import Cells, Crossbar, Polarity, PulseBatch
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols.characterize import characterize, table_rows
from hilctl.protocols.settings import ResetPulse

from ..assemble import Job
from ..config_tables import WlConfig

if TYPE_CHECKING:
    from ..predictor.model import Predictor

TRAINING_PULSES = 50_000
TRAINING_SEED_OFFSET = 1000


def train_on_sibling_array(job: Job, pulses: int = TRAINING_PULSES,
                           say: Callable[[str], None] = print) -> tuple[Predictor, dict]:
    """A predictor for the configured preset, and a note of how it was made."""
    table, info = sibling_table(job, pulses, say)
    started = time.perf_counter()
    predictor = train_for_array(table, info["training_array_seed"])
    return predictor, {**info, "training_seconds": round(time.perf_counter() - started, 2)}


def sibling_table(job: Job, pulses: int = TRAINING_PULSES,
                  say: Callable[[str], None] = print) -> tuple[PulseTable, dict]:
    """The pulse-response table of a separate array of the configured preset (the training
    data of a predictor and of a lookup planner), and a note of how it was made."""
    seed = job.config.array.seed + TRAINING_SEED_OFFSET
    kind = "gate-sweep" if job.gated else "random"
    say(f"characterizing a separate array (seed {seed}) with {pulses} {kind} pulses and "
        "training a predictor on it")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with job.open_crossbar(seed=seed) as crossbar:
        table = (gate_sweep(crossbar, pulses, rng, job.config.protocol.wl, job.block_reset)
                 if job.gated else characterize(crossbar, pulses, rng))
    info = {"source": "trained on a separate array", "training_array_seed": seed,
            "training_pulses": pulses, "table": kind,
            "characterize_seconds": round(time.perf_counter() - started, 2)}
    return table, info


def train_for_array(table: PulseTable, seed: int) -> Predictor:
    """A predictor of the knob the table teaches (the gate on a 1T1R gate sweep)."""
    from ..predictor.training import default_knob, train_predictor  # torch: only to train

    return train_predictor(table, knob=default_knob(table), seed=seed,
                           source=f"characterized array seed {seed}")


def gate_sweep(crossbar: Crossbar, pulses: int, rng: np.random.Generator, wl: WlConfig,
               reset: ResetPulse) -> PulseTable:
    """``pulses`` table rows of the 1T1R gate sweep above (with the write-verify-wl settings
    ``wl`` and the block RESET ``reset``), two thirds SET (fewer where a read was at or below
    0 S, as ``characterize`` leaves those out)."""
    cells = Cells.all(crossbar.shape)
    n = len(cells)
    tables = []
    for _ in range(max(1, -(-pulses // (3 * n)))):
        crossbar.apply(reset.batch(cells))
        before = crossbar.read(cells).conductance
        gate = _sweep_gates(rng, wl, n)
        tables.append(_pulse(crossbar, PulseBatch(cells, Polarity.SET, wl.set_V, wl.width_s,
                                                  gate), before))
        amplitude = rng.uniform(wl.reset_start_V, reset.amplitude_V, n)
        tables.append(_pulse(crossbar, PulseBatch(cells, Polarity.RESET, amplitude, wl.width_s,
                                                  np.full(n, wl.reset_gate_V)),
                             tables[-1].g_after))
        gate = _sweep_gates(rng, wl, n)
        tables.append(_pulse(crossbar, PulseBatch(cells, Polarity.SET, wl.set_V, wl.width_s,
                                                  gate), tables[-1].g_after))
    table = PulseTable.concat(tables)
    return table.subset(np.arange(len(table)) < pulses)  # the last round's surplus


# The sweep's gates: most of them over the first 0.6 V above the ramp's start, where the SET
# level climbs through most of the window, the rest up to the ramp's top, where it creeps
# towards its plateau (targets there were beyond a predictor that never saw those gates).
_SWEEP_SPAN_V, _TOP_SHARE = 0.6, 0.15


def _sweep_gates(rng: np.random.Generator, wl: WlConfig, n: int) -> np.ndarray:
    low, top = wl.gate_start_V, wl.gate_max_V
    high = min(top, low + _SWEEP_SPAN_V)
    gates = rng.uniform(low, high, n)
    upper = rng.random(n) < _TOP_SHARE
    gates[upper] = rng.uniform(high, top, int(upper.sum()))
    return gates


def _pulse(crossbar: Crossbar, pulses: PulseBatch, before: np.ndarray) -> PulseTable:
    crossbar.apply(pulses)
    return table_rows(pulses, before, crossbar.read(pulses.cells).conductance)
