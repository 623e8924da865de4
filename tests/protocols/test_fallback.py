"""A planner that knows one polarity hands the other to its fallback instead of aborting."""

import numpy as np
import pytest

from hilctl.drivers import Cells, DataError, Polarity
from hilctl.protocols import PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.fallback import FixedPulse, PolarityFallback
from hilctl.protocols.planner import PlannedPulses, PulsePlanner

from .gate_array import SLOPE, V_TH, GateArray


class SetOnly(PulsePlanner):
    """Plans the gate that lands a SET just above the target; raises on a RESET, as a
    predictor trained on SET pulses alone does."""

    name = "set-only"

    def __init__(self) -> None:
        self.observed = []

    def plan(self, cells, present, target):
        if (target < present).any():
            raise DataError("set-only: no RESET model")
        n = len(cells)
        return PlannedPulses(np.full(n, Polarity.SET), np.full(n, 1.2), np.full(n, 1e-6),
                             np.zeros(n, bool), V_TH + 1.05 * target / SLOPE)

    def observe(self, cells, pulses, before, after):
        self.observed.append(pulses.polarity)


def test_a_set_only_planner_runs_to_the_end_with_a_fixed_reset_fallback():
    xb = GateArray(shape=(8, 8), spread=0.1, noise=0.0)
    cells = Cells.all(xb.shape)
    targets = np.where(np.arange(len(cells)) % 2, 150e-6, 50e-6)  # half need a RESET
    primary = SetOnly()
    planner = PolarityFallback(primary, Polarity.SET, FixedPulse(1.2, 0.8, 1e-6))
    result = program(PlannedWriteVerify(planner, gate_V=3.0), xb, cells, targets,
                     StopRules(Tolerance(0.1), max_pulses=40))
    assert result.success.mean() > 0.9
    resets = [b for b in xb.batches if (b.polarity == Polarity.RESET).any()]
    assert resets and all((b.gate[b.polarity == Polarity.RESET] == 3.0).all() for b in resets)
    # The primary only ever saw its own polarity.
    assert all((p == Polarity.SET).all() for p in primary.observed)


def test_without_a_fallback_the_same_run_aborts():
    xb = GateArray(shape=(2, 2))
    with pytest.raises(DataError, match="no RESET model"):
        program(PlannedWriteVerify(SetOnly(), gate_V=3.0), xb, Cells.all(xb.shape),
                np.full(4, 50e-6))
