"""Programming a 1T1R array (preset ``hfox-1t1r``) to 2 bits per cell, and one-shot planning on
the gate: the numbers of the 1T1R issue.

1. A gate-sweep pulse-response table from the simulated array, as a lab records it: each round
   a full RESET (V_SL 2 V, 10 us, gate 3.5 V), then one SET at a random gate, V_BL 2 V and 1 us
   fixed (the set-up of Le et al., "RADAR", IEEE TED 2021); RESET rows from a random SET level
   at a random source-line amplitude, gate and width fixed. A training array and a held-out
   array (other devices, other seed).
2. The gate-knob predictor (``set=gate,reset=amplitude``) trained on it, and one-shot from the
   high-resistance state to targets 30-210 uS: neural against lookup against the hindsight
   ceiling (``hilctl.predictor.evaluation``), all scored on the same held-out outcomes.
3. 2 bits per cell with the bands of ``shared/real-data/1t1r-facts`` section 5 on a 64x128 array
   (levels assigned in turn, 2048 cells each): ``write-verify-wl``, ``fppv`` and planned
   write-verify, share in band (verify read; true conductance; healthy cells only, i.e. the
   1.5 % stuck devices left out) and pulses per cell (mean, median, p95) per level.

    python bench/bench_1t1r_program.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hilctl.drivers import Cells, Polarity, PulseBatch, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.predictor.evaluation import evaluate
from hilctl.predictor.lookup import LookupTable
from hilctl.predictor.training import train_predictor
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice

SHAPE = (64, 128)
LIMITS = SafetyLimits(reset_max_V=4.0)
SET_V, SET_WIDTH_S = 2.0, 1e-6
FULL_RESET = (2.0, 10e-6, 3.5)  # V_SL, width, gate
RESET_GATE_V, RESET_WIDTH_S = 3.5, 1e-6
SWEEP_GATES_V = (1.55, 2.6)
SWEEP_RESET_V = (0.6, 2.0)


def array(seed: int) -> SimulatedCrossbar:
    return SimulatedCrossbar(SHAPE, limits=LIMITS, model=OneTOneRDevice(), seed=seed)


def _pulse(xb, cells, polarity, amplitude, width, gate) -> tuple[np.ndarray, np.ndarray]:
    """Apply one pulse per cell; (read before, read after)."""
    before = xb.read(cells).conductance
    n = len(cells)
    xb.apply(PulseBatch(cells, polarity, np.broadcast_to(amplitude, n).copy(),
                        np.broadcast_to(width, n).copy(), np.broadcast_to(gate, n).copy()))
    return before, xb.read(cells).conductance


def _full_reset(xb, cells) -> None:
    v, w, gate = FULL_RESET
    xb.apply(PulseBatch(cells, Polarity.RESET, v, w, np.full(len(cells), gate)))


def sweep_table(seed: int, rounds: int) -> PulseTable:
    """``rounds`` SET rows and ``rounds // 2`` RESET rows per cell of a fresh array."""
    xb, rng = array(seed), np.random.default_rng(seed)
    cells = Cells.all(SHAPE)
    n = len(cells)
    names = np.char.add(np.char.add(cells.rows.astype(str), ":"), cells.cols.astype(str))
    parts = []
    for k in range(rounds + rounds // 2):
        _full_reset(xb, cells)
        gate = rng.uniform(*SWEEP_GATES_V, n)
        if k < rounds:
            before, after = _pulse(xb, cells, Polarity.SET, SET_V, SET_WIDTH_S, gate)
            parts.append((before, 1, SET_V, SET_WIDTH_S, gate, after))
            continue
        _pulse(xb, cells, Polarity.SET, SET_V, SET_WIDTH_S, gate)
        amplitude = rng.uniform(*SWEEP_RESET_V, n)
        before, after = _pulse(xb, cells, Polarity.RESET, amplitude, RESET_WIDTH_S,
                               RESET_GATE_V)
        parts.append((before, -1, amplitude, RESET_WIDTH_S, np.full(n, RESET_GATE_V), after))
    columns = [np.concatenate([np.broadcast_to(p[i], n) for p in parts]) for i in range(6)]
    return PulseTable(np.tile(names, len(parts)), *columns)


def from_hrs(table: PulseTable) -> PulseTable:
    return table.subset(table.polarity == Polarity.SET)


def one_shot_table(result: dict) -> None:
    shot = result["one_shot"]
    print(f"one-shot from HRS, {len(shot['targets_S'])} targets "
          f"{shot['targets_S'][0] * 1e6:.0f}-{shot['targets_S'][-1] * 1e6:.0f} uS "
          f"(held-out outcomes; neural snapped {shot['neural_snap_median']:.3f} V median)")
    print("planner     ±10 %   ±20 %   ±50 %")
    for name in ("neural", "lookup", "hindsight"):
        row = shot[name]
        print(f"{name:10s} " + " ".join(f"{row[f'mean_within_{t}pct']:6.3f} "
                                        for t in (10, 20, 50)))
    ratio = [shot["neural"][f"mean_within_{t}pct"] / shot["hindsight"][f"mean_within_{t}pct"]
             for t in (10, 20, 50)]
    print("neural / hindsight " + " ".join(f"{r:.3f}" for r in ratio))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="SET rows per cell of the table")
    args = parser.parse_args()
    started = time.perf_counter()
    train, held_out = sweep_table(1, args.rounds), sweep_table(2, args.rounds)
    print(f"tables: {len(train)} + {len(held_out)} rows ({time.perf_counter() - started:.0f} s)")
    predictor = train_predictor(train, "set=gate,reset=amplitude", seed=0,
                                fixed={"SET": SET_WIDTH_S, "RESET": RESET_WIDTH_S})
    print(f"predictor trained in {predictor.spec.training['seconds']} s")
    lookup = LookupTable(from_hrs(train))
    targets = np.geomspace(30e-6, 210e-6, 9)
    one_shot_table(evaluate(predictor, from_hrs(held_out), lookup, targets))


if __name__ == "__main__":
    main()
