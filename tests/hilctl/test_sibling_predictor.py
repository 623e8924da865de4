"""The gate sweep a 1T1R predictor is trained on (``hilctl compare``, ``demo``, the benches)."""

import numpy as np

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Polarity
from hilctl.run.sibling_predictor import gate_sweep


def test_the_gate_sweep_covers_the_ramp_up_to_its_top_and_mostly_its_first_volt():
    job = Job(build_config({"array": {"rows": 16, "cols": 16}}))
    wl = job.config.protocol.wl
    with job.open_crossbar(seed=3) as crossbar:
        table = gate_sweep(crossbar, 3000, np.random.default_rng(0), wl, job.block_reset)
    gates = table.gate[table.polarity == Polarity.SET]
    assert gates.min() >= wl.gate_start_V and gates.max() <= wl.gate_max_V
    assert gates.max() > wl.gate_max_V - 0.2  # targets near the plateau need high gates
    assert 0.75 < np.mean(gates < wl.gate_start_V + 0.6) < 0.95
