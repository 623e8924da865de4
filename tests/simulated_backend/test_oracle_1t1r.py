"""The oracle's gate knob inverts the noise-free 1T1R cell exactly and says what it cannot reach."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, Polarity, PulseBatch
from hilctl.simulated_backend import DeviceParams, OraclePlanner, SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice, OneTOneRParams
from hilctl.simulated_backend.oracle_1t1r import GateKnob

NOISE_FREE = OneTOneRParams().replace(
    transistor_threshold_c2c_V=0.0, set_threshold_c2c=0.0, set_c2c=0.0, reset_onset_c2c_V=0.0,
    reset_c2c=0.0, read_noise_relative=0.0, read_noise_floor_S=0.0)


# The simulator computes in float32: a noise-free inversion lands within its rounding (a few
# 1e-7 of G, four orders below the read noise), not float64's.
EXACT = 1e-5


def _array(params=NOISE_FREE, seed=3) -> SimulatedCrossbar:
    return SimulatedCrossbar((32, 32), model=OneTOneRDevice(params), seed=seed)


def _targets(crossbar: SimulatedCrossbar, low=0.1, high=0.9, seed=1) -> np.ndarray:
    p = crossbar.params
    fraction = np.random.default_rng(seed).uniform(low, high, crossbar.shape[0] ** 2)
    return (p.g_min_S + fraction * (p.g_max_S - p.g_min_S)) * p.read_factor(
        crossbar.limits.read_V)


def _pulse(crossbar, planner, targets):
    cells = Cells.all(crossbar.shape)
    planned = planner.plan(cells, crossbar.read(cells).conductance, targets)
    crossbar.apply(PulseBatch(cells, planned.polarity, planned.amplitude, planned.width,
                              planned.gate))
    return planned, crossbar.sim_true_conductance(cells)


@pytest.mark.parametrize("reset_knob", ["amplitude", "gate"])
def test_noise_free_cells_land_exactly_on_target_with_the_gate(reset_knob):
    crossbar = _array()
    planner = OraclePlanner(crossbar, gate_knob=GateKnob(reset_knob=reset_knob))
    assert planner.knob == "gate"  # the 1T1R array's own knob by default
    targets = _targets(crossbar)
    planned, after = _pulse(crossbar, planner, targets)  # from the high-resistance state
    assert np.all(planned.polarity[~planned.at_limit] == Polarity.SET)
    healthy = crossbar.population.stuck == 0
    assert np.all(planned.at_limit[~healthy]) and planned.at_limit.mean() < 0.05
    exact = ~planned.at_limit
    np.testing.assert_array_less(np.abs(after - targets)[exact] / targets[exact], EXACT)
    # From the states it left, down (RESET through the divider) and up alike.
    targets = _targets(crossbar, seed=2)
    planned, after = _pulse(crossbar, planner, targets)
    exact = ~planned.at_limit
    assert {Polarity.SET, Polarity.RESET} <= set(planned.polarity[exact].tolist())
    assert exact.mean() > 0.8
    np.testing.assert_array_less(np.abs(after - targets)[exact] / targets[exact], EXACT)


def test_a_small_set_step_is_reached_through_a_reset_first():
    """A 1T1R SET from an intermediate state does not switch for a small step up: the oracle
    plans the deepest RESET (flagged: not one pulse) and then the SET lands."""
    crossbar = _array()
    planner = OraclePlanner(crossbar)
    targets = _targets(crossbar, 0.4, 0.5)
    _pulse(crossbar, planner, targets)
    planned, _ = _pulse(crossbar, planner, targets * 1.05)
    healthy = crossbar.population.stuck == 0
    rescued = healthy & (planned.polarity == Polarity.RESET)
    assert rescued.mean() > 0.5 and np.all(planned.at_limit[rescued])
    planned, after = _pulse(crossbar, planner, targets * 1.05)
    np.testing.assert_array_less(np.abs(after / (targets * 1.05) - 1)[rescued], EXACT)


def test_targets_beyond_the_plateau_are_reported_unreachable():
    crossbar = _array()
    targets = _targets(crossbar, 1.2, 1.5)
    planned, after = _pulse(crossbar, OraclePlanner(crossbar), targets)
    assert np.all(planned.at_limit)
    assert np.all(after < targets)


def test_with_noise_the_error_is_the_cycle_to_cycle_spread():
    crossbar = _array(OneTOneRParams(), seed=4)
    targets = _targets(crossbar)
    planned, after = _pulse(crossbar, OraclePlanner(crossbar), targets)
    error = np.abs(after - targets)[~planned.at_limit] / targets[~planned.at_limit]
    assert 0.005 < np.median(error) < 0.1


def test_a_knob_of_the_other_kind_of_cell_is_refused():
    with pytest.raises(ConfigError, match="1T1R"):
        OraclePlanner(_array(), knob="width")
    with pytest.raises(ConfigError, match="1T1R"):
        OraclePlanner(SimulatedCrossbar((4, 4), params=DeviceParams()), knob="gate")
    with pytest.raises(ConfigError, match="reset_knob"):
        OraclePlanner(_array(), gate_knob=GateKnob(reset_knob="width"))
