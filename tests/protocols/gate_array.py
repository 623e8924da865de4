"""A small deterministic 1T1R array for protocol tests: the gate sets where a SET lands, the
source-line amplitude how far a RESET brings a cell down."""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, Crossbar, Polarity, PulseBatch, Reading, SafetyLimits

G_MIN = 2e-6
G_MAX = 300e-6
SLOPE = 200e-6  # S per volt of gate above the transistor's threshold
V_TH = 0.8


class GateArray(Crossbar):
    """SET: G = max(G, gain * SLOPE * (gate - V_TH)), times a cycle-to-cycle factor.
    RESET: G -> G_MIN + (G - G_MIN) * (1 - (amplitude - 0.6 V) / 1 V), floored at G_MIN.

    ``gain`` spreads device to device by ``spread``, the cycle factor by ``noise``; reads are
    exact. A pulse without a gate is refused, as a 1T1R array reached through its transistor.
    """

    def __init__(self, shape=(16, 16), spread=0.1, noise=0.005, seed=0) -> None:
        super().__init__(shape, SafetyLimits())
        self.rng = np.random.default_rng(seed)
        self.g = np.full(shape[0] * shape[1], 100e-6)
        self.gain = 1 + spread * self.rng.uniform(-1, 1, self.g.size)
        self.noise = noise
        self.batches: list[PulseBatch] = []

    def _apply(self, pulses: PulseBatch) -> None:
        assert pulses.gate is not None, "a 1T1R pulse needs a gate"
        self.batches.append(pulses)
        flat = pulses.cells.flat(self.shape)
        g = self.g[flat]
        cycle = 1 + self.noise * self.rng.standard_normal(flat.size)
        landed = self.gain[flat] * SLOPE * np.maximum(pulses.gate - V_TH, 0) * cycle
        kept = np.clip(1 - (pulses.amplitude - 0.6) / 1.0, 0, 1)
        reset = G_MIN + (g - G_MIN) * kept
        is_set = pulses.polarity == Polarity.SET
        self.g[flat] = np.clip(np.where(is_set, np.maximum(g, landed), reset), G_MIN, G_MAX)

    def _read(self, cells: Cells) -> Reading:
        return Reading(cells, self.g[cells.flat(self.shape)], np.zeros(len(cells), bool))

    def _make_safe(self) -> None:
        pass
