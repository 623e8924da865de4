"""Physics properties of the 1T1R cell model that gate-programming relies on."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, Polarity, PulseBatch, SafetyLimitError, SafetyLimits
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice, OneTOneRParams

LIMITS = SafetyLimits(reset_max_V=4.0)


def array(n=2000, seed=1, **overrides):
    params = OneTOneRParams().replace(stuck_fraction=0.0, **overrides)
    return SimulatedCrossbar((1, n), limits=LIMITS, model=OneTOneRDevice(params), seed=seed)


def set_all(xb, gate, width=1e-6, v_bl=2.0):
    cells = Cells.all(xb.shape)
    before = xb.read(cells).conductance
    xb.apply(PulseBatch(cells, Polarity.SET, v_bl, width, np.full(len(cells), gate)))
    return before, xb.read(cells).conductance


def test_set_is_abrupt_nothing_below_threshold_and_level_follows_the_gate_then_saturates():
    medians, fractions = [], []
    for gate in (1.4, 1.62, 1.7, 2.0, 3.0):
        before, after = set_all(array(), gate)
        fractions.append(np.mean(after > 1.5 * before))
        medians.append(np.median(after[after > 1.5 * before]) if fractions[-1] else 0.0)
    assert fractions[0] == 0.0 and 0.2 < fractions[1] < 0.95 and min(fractions[2:]) > 0.95
    assert medians[2] < medians[3] < medians[4]
    assert (medians[4] - medians[3]) < 0.3 * (medians[3] - medians[2])  # saturates


def test_threshold_falls_with_pulse_width():
    short = np.mean(np.greater(*set_all(array(seed=2), 1.61, width=1e-7)[::-1]))
    long = np.mean(np.greater(*set_all(array(seed=2), 1.61, width=1e-4)[::-1]))
    assert long > short


def test_reset_is_gradual_in_amplitude_then_over_resets():
    xb = array(500, seed=3)
    cells = Cells.all(xb.shape)
    set_all(xb, 1.75)
    medians = []
    for v in np.arange(0.5, 3.51, 0.1):
        xb.apply(PulseBatch(cells, Polarity.RESET, v, 200e-9, np.full(len(cells), 3.5)))
        medians.append(np.median(xb.read(cells).conductance))
    lowest = int(np.argmin(medians))
    assert np.all(np.diff(medians[:lowest + 1]) <= 1e-7) and medians[-1] > medians[lowest]


def test_a_pulse_without_gate_is_refused_and_a_negative_threshold_is_a_config_error():
    xb = array(4)
    with pytest.raises(SafetyLimitError, match="gate"):
        xb.apply(PulseBatch(Cells.all(xb.shape), Polarity.SET, 2.0, 1e-6))
    with pytest.raises(ConfigError, match="transistor_threshold_V"):
        OneTOneRParams().replace(transistor_threshold_V=-0.1)


def test_same_seed_same_run():
    runs = [set_all(array(200, seed=9), 1.65)[1] for _ in range(2)]
    np.testing.assert_array_equal(*runs)
