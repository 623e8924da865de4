"""Pulse-response tables measured on the simulated 1T1R array (``OneTOneRDevice``, the
``hfox-1t1r`` physics), as a lab would record them: every pulse has its own read before and
read after (separate reads, so they differ by the read noise), the gate column filled.

Each cycle gives every cell two SETs, at a random bit-line amplitude, width and gate of the
grids below (the first from wherever the last RESET left it, the second from wherever the first
SET did: high-resistance and intermediate states), then one RESET at a random source-line
amplitude, width and gate.
"""

import numpy as np

from hilctl.drivers import Cells, Polarity, PulseBatch, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice

SET_V = (1.2, 2.0)
SET_GATES = np.round(np.r_[0.8, 1.5, np.arange(1.58, 1.805, 0.02), 2.0], 2)
RESET_V = (0.8, 1.0, 1.2, 1.5, 2.0)
RESET_GATES = (1.7, 3.0)
WIDTHS = (2e-7, 1e-6)


def one_t_one_r_table(shape=(48, 48), cycles: int = 3, seed: int = 1,
                      polarities=(Polarity.SET, Polarity.RESET)) -> PulseTable:
    """Rows of ``cycles`` SET, SET, RESET rounds over every cell (only ``polarities`` kept)."""
    lab = SimulatedCrossbar(shape, limits=SafetyLimits(), model=OneTOneRDevice(), seed=seed)
    cells = Cells.all(shape)
    n = len(cells)
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(cycles):
        for polarity, amplitudes, gates in ((Polarity.SET, SET_V, SET_GATES),
                                            (Polarity.SET, SET_V, SET_GATES),
                                            (Polarity.RESET, RESET_V, RESET_GATES)):
            pulses = PulseBatch(cells, polarity, rng.choice(amplitudes, n), rng.choice(WIDTHS, n),
                                rng.choice(gates, n))
            before = lab.read(cells).conductance
            lab.apply(pulses)
            after = lab.read(cells).conductance
            parts.append(PulseTable(np.arange(n).astype(str), before, pulses.polarity,
                                    pulses.amplitude, pulses.width, pulses.gate, after))
    table = PulseTable.concat(parts)
    return table.subset(np.flatnonzero(np.isin(table.polarity, polarities)))
