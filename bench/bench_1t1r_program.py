"""Programming a 1T1R array (preset ``hfox-1t1r``) to 2 bits per cell, and one-shot planning on
the gate: the numbers of the 1T1R issue.

1. A gate-sweep pulse-response table from the simulated array, as a lab records it: each round
   a full RESET (V_SL 2 V, 10 us, gate 3.5 V), then one SET at a random gate (three quarters
   in 1.55-2 V, where the level moves), V_BL 2 V and 1 us fixed (the set-up of Le et al.,
   "RADAR", IEEE TED 2021). A training array and a held-out array (other devices, other seed).
2. The gate-knob predictor (SET only) trained on it, and one-shot from the high-resistance
   state to targets 30-210 uS: neural against lookup against the hindsight ceiling
   (``hilctl.predictor.evaluation``), all scored on the same held-out outcomes.
3. The L0 ceiling: how many healthy cells reach 200 uS at all, after 1, 10 and 100 SETs at the
   strongest gate the limits allow.
4. 2 bits per cell with the bands of ``shared/real-data/1t1r-facts`` section 5 on a 64x128 array
   (levels assigned in turn, 2048 cells each): ``write-verify-wl``, ``fppv`` with level gates,
   ``fppv`` with the neural planner and ``write-verify-planned``, share in band (verify read,
   and the true conductance), over all cells and over healthy ones (the 1.5 % stuck devices
   left out), and pulses per cell (mean, median, p95) per level; then the same verifying
   against bands narrowed by a 1 % margin (2.5 sigma of the read noise) on each closed side,
   the true conductance still judged against the levels' bands.

    python bench/bench_1t1r_program.py [--rounds 8] [--predictor DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hilctl.drivers import Cells, Polarity, PulseBatch, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.levels import parse_levels
from hilctl.predictor.evaluation import evaluate
from hilctl.predictor.lookup import LookupTable
from hilctl.predictor.model import Predictor
from hilctl.predictor.planner import NeuralPlanner
from hilctl.predictor.training import train_predictor
from hilctl.protocols import StopRules, program
from hilctl.protocols.fallback import FixedPulse, PolarityFallback
from hilctl.protocols.fppv import FixedPulseVerify, LevelGates
from hilctl.protocols.planned import PlannedWriteVerify
from hilctl.protocols.settings import ResetPulse
from hilctl.protocols.tolerance import Bands
from hilctl.protocols.write_verify_wl import GateIspp
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice
from hilctl.targets import nominal_window

SHAPE = (64, 128)
LIMITS = SafetyLimits()  # what a user gets
SET_V, SET_WIDTH_S = 2.0, 1e-6
FULL_RESET = (2.0, 10e-6, 3.5)  # V_SL, width, gate
SWEEP_GATES_V = (1.55, 2.0, 3.3)  # three quarters below 2 V, where the level moves


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


def sweep_gates(rng: np.random.Generator, n: int) -> np.ndarray:
    low, mid, high = SWEEP_GATES_V
    return np.where(rng.random(n) < 0.75, rng.uniform(low, mid, n), rng.uniform(mid, high, n))


def sweep_table(seed: int, rounds: int) -> PulseTable:
    """Per cell of a fresh array and round: a full RESET, then one SET at a random gate (V_BL
    and width fixed), read before and after; ``rounds`` rows per cell."""
    xb, rng = array(seed), np.random.default_rng(seed)
    cells = Cells.all(SHAPE)
    n = len(cells)
    names = np.char.add(np.char.add(cells.rows.astype(str), ":"), cells.cols.astype(str))
    parts = []
    for _ in range(rounds):
        _full_reset(xb, cells)
        gate = sweep_gates(rng, n)
        before, after = _pulse(xb, cells, Polarity.SET, SET_V, SET_WIDTH_S, gate)
        parts.append((before, after, gate))
    before, after, gate = (np.concatenate(c) for c in zip(*parts, strict=True))
    rows = before.size
    return PulseTable(np.tile(names, rounds), before, np.ones(rows), np.full(rows, SET_V),
                      np.full(rows, SET_WIDTH_S), gate, after)


def one_shot_table(result: dict) -> None:
    shot = result["one_shot"]
    print(f"one-shot from HRS, {len(shot['targets_S'])} targets "
          f"{shot['targets_S'][0] * 1e6:.0f}-{shot['targets_S'][-1] * 1e6:.0f} uS "
          "(scored on the held-out array's outcomes)")
    print("planner     ±10 %   ±20 %   ±50 %")
    for name in ("neural", "lookup", "hindsight"):
        row = shot[name]
        print(f"{name:10s} " + " ".join(f"{row[f'mean_within_{t}pct']:6.3f} "
                                        for t in (10, 20, 50)))
    ratio = [shot["neural"][f"mean_within_{t}pct"] / shot["hindsight"][f"mean_within_{t}pct"]
             for t in (10, 20, 50)]
    print("neural / hindsight " + " ".join(f"{r:.3f}" for r in ratio))


LEVELS = {"L0": {"lower": 200e-6}, "L1": {"lower": 166.4e-6, "upper": 173.3e-6},
          "L2": {"lower": 107.4e-6, "upper": 117.5e-6}, "L3": {"upper": 12.5e-6}}
BANDS = parse_levels(LEVELS, nominal_window(OneTOneRDevice(), LIMITS.read_V))
MAX_PULSES = 100
WL_START_GATES_V = (2.6, 1.70, 1.63, 1.58)  # per level; L3 is reached by the block RESET
FPPV_GATES_V = (2.5, 1.755, 1.67, 1.58)


def planner(predictor: Predictor, bands: Bands) -> NeuralPlanner:
    """The neural planner aimed at each cell's band, adapting per device; its noise model is
    that of a gate-limited SET (about 2 % cycle-to-cycle on the level, 0.4 % read noise)."""
    return NeuralPlanner(predictor, SHAPE, bands=bands, memory=1.0, noise_relative=0.02,
                         read_noise_relative=0.005)


def programmers(predictor: Predictor, bands: Bands):
    """(label, protocol) of every 2-bit run, with the tuned settings, verifying ``bands``."""
    reset = ResetPulse(*FULL_RESET)
    yield "write-verify-wl", GateIspp(
        set_V=SET_V, gate_start_V=1.58, gate_step_V=0.005, gate_max_V=3.3, width_s=SET_WIDTH_S,
        reset=reset, reset_start_V=0.8, reset_step_V=0.05, reset_gate_V=3.5,
        start_gates=LevelGates(bands.targets_S, WL_START_GATES_V))
    yield "fppv (level gates, nudge)", FixedPulseVerify(
        LevelGates(bands.targets_S, FPPV_GATES_V, SET_V, SET_WIDTH_S), reset, max_tries=30,
        nudge_V=0.005, reset_on_undershoot=False)
    yield "fppv (neural planner)", FixedPulseVerify(planner(predictor, bands), reset,
                                                    max_tries=30)
    # The predictor knows SET only (the table has no RESET rows): RESETs are the full one.
    full = FixedPulse(SET_V, FULL_RESET[0], FULL_RESET[1], FULL_RESET[2])
    yield "write-verify-planned", PlannedWriteVerify(
        PolarityFallback(planner(predictor, bands), Polarity.SET, full), reset=reset)


def with_margin(bands: Bands, margin: float) -> Bands:
    """``bands`` narrowed by ``margin`` (relative) on each side closed by the level itself,
    so that a verify read just inside a band does not accept a cell that is just outside."""
    lower = np.where(bands.lower_S > 0, bands.lower_S * (1 + margin), 0.0)
    upper = np.where(np.arange(lower.size) == 0, bands.upper_S, bands.upper_S * (1 - margin))
    return Bands(bands.names, lower, upper)


def two_bit(label: str, protocol, verified: Bands, seed: int = 0) -> float:
    """Program every level onto a quarter of a fresh array, verifying against ``verified``;
    print the per-level table (the true conductance judged against the levels' own bands)
    and return the mean pulses per healthy cell."""
    xb = array(seed)
    cells = Cells.all(SHAPE)
    level = np.arange(len(cells)) % len(BANDS.names)
    started = time.perf_counter()
    result = program(protocol, xb, cells, verified.targets_S[level],
                     StopRules(verified, max_pulses=MAX_PULSES))
    seconds = time.perf_counter() - started
    healthy = xb.model.healthy
    true = (BANDS.lower_S[level] <= result.true_final) & (result.true_final
                                                          <= BANDS.upper_S[level])
    print(f"\n{label} ({seconds:.1f} s)\n"
          "level  all cells: in band  true   healthy: in band  true   pulses mean median  p95")
    for i, name in enumerate(BANDS.names):
        mine, ok = level == i, (level == i) & healthy
        p = result.pulses[ok]
        print(f"{name:5s}             {result.success[mine].mean():7.4f} {true[mine].mean():6.4f}"
              f"           {result.success[ok].mean():7.4f} {true[ok].mean():6.4f}"
              f"         {p.mean():5.2f} {np.median(p):6.0f} {np.percentile(p, 95):4.0f}")
    mean = float(result.pulses[healthy].mean())
    print(f"mean pulses per healthy cell {mean:.2f}")
    return mean


def two_bit_tables(predictor: Predictor, margin: float = 0.0) -> None:
    verified = with_margin(BANDS, margin)
    print(f"\n=== 2 bits per cell, verify margin {margin:.0%} "
          f"({verified.describe()}) ===")
    means = {label: two_bit(label, protocol, verified)
             for label, protocol in programmers(predictor, verified)}
    wl = means["write-verify-wl"]
    print("\nmean pulses per healthy cell / write-verify-wl's: " + ", ".join(
        f"{label} {m / wl:.2f}" for label, m in means.items()))


def plateau_ceiling(seed: int = 0, pulses: int = 100) -> None:
    """Share of healthy cells that read >= 200 uS (L0) after n SETs at the strongest gate the
    limits allow: a SET never lowers a cell, so repeated pulses keep the best of their
    cycle-to-cycle draws, but a device whose own plateau sits low stays below."""
    xb = array(seed)
    cells = Cells.all(SHAPE)
    _full_reset(xb, cells)
    healthy = xb.model.healthy
    shares = {}
    for k in range(1, pulses + 1):
        xb.apply(PulseBatch(cells, Polarity.SET, SET_V, SET_WIDTH_S,
                            np.full(len(cells), LIMITS.gate_set_max_V)))
        if k in (1, 10, pulses):
            g = xb.sim_true_conductance(cells)[healthy]
            shares[k] = np.mean(g >= BANDS.lower_S[0])
    print(f"\nL0 ceiling: healthy cells >= 200 uS (noise-free read) after n SETs at "
          f"{LIMITS.gate_set_max_V} V: " + ", ".join(f"n={k}: {v:.4f}" for k, v in shares.items()))


def trained(train: PulseTable, directory: str | None) -> Predictor:
    """The gate-knob predictor: loaded from ``directory`` if one was saved there, else
    trained (and saved there when given)."""
    if directory and Path(directory, "predictor.json").exists():
        return Predictor.load(directory)
    predictor = train_predictor(train, "gate", polarities=("SET",), seed=0, epochs=80,
                                fixed={"SET": SET_WIDTH_S})
    print(f"predictor trained in {predictor.spec.training['seconds']} s")
    if directory:
        predictor.save(directory)
    return predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="table rounds per cell")
    parser.add_argument("--predictor", help="directory to keep the trained predictor in")
    args = parser.parse_args()
    started = time.perf_counter()
    train, held_out = sweep_table(1, args.rounds), sweep_table(2, args.rounds)
    print(f"tables: {len(train)} + {len(held_out)} rows ({time.perf_counter() - started:.0f} s)")
    predictor = trained(train, args.predictor)
    lookup = LookupTable(train)
    targets = np.geomspace(30e-6, 210e-6, 9)
    one_shot_table(evaluate(predictor, held_out, lookup, targets))
    plateau_ceiling()
    for margin in (0.0, 0.01):
        two_bit_tables(predictor, margin)


if __name__ == "__main__":
    main()
