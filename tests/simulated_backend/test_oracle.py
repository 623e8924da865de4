"""The oracle planner inverts the simulated physics exactly and leaves only the noise."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hilctl.drivers import Cells, ConfigError, DataError, Polarity, PulseBatch
from hilctl.simulated_backend import DeviceParams, OraclePlanner, SimulatedCrossbar
from hilctl.simulated_backend.device_model import DeviceModel

NOISE_FREE = DeviceParams().replace(c2c_relative=0.0, c2c_additive_S=0.0,
                                    read_noise_relative=0.0, read_noise_floor_S=0.0)


def _targets(crossbar: SimulatedCrossbar, seed: int = 1) -> np.ndarray:
    p = crossbar.params
    fraction = np.random.default_rng(seed).uniform(0.1, 0.9, crossbar.shape[0] * crossbar.shape[1])
    return (p.g_min_S + fraction * (p.g_max_S - p.g_min_S)) * p.read_factor(crossbar.limits.read_V)


def _one_pulse(crossbar: SimulatedCrossbar, planner: OraclePlanner, targets: np.ndarray):
    cells = Cells.all(crossbar.shape)
    before = crossbar.sim_true_conductance(cells)
    planned = planner.plan(cells, crossbar.read(cells).conductance, targets)
    crossbar.apply(PulseBatch(cells, planned.polarity, planned.amplitude, planned.width))
    return planned, before, crossbar.sim_true_conductance(cells)


@pytest.mark.parametrize("knob", ["width", "amplitude"])
def test_noise_free_devices_land_exactly_on_target_in_one_pulse(knob):
    crossbar = SimulatedCrossbar((32, 32), params=NOISE_FREE, seed=4)
    targets = _targets(crossbar)
    planned, _, after = _one_pulse(crossbar, OraclePlanner(crossbar, knob=knob), targets)
    healthy = crossbar.population.stuck == 0
    exact = ~planned.at_limit
    assert exact.mean() > 0.95
    assert np.all(planned.at_limit[~healthy])
    np.testing.assert_array_less(np.abs(after - targets)[exact] / targets[exact], 1e-6)


def test_noise_free_devices_land_exactly_from_any_state():
    params = NOISE_FREE.replace(random_initial_state=True)
    crossbar = SimulatedCrossbar((32, 32), params=params, seed=5)
    targets = _targets(crossbar, seed=2)
    planned, _, after = _one_pulse(crossbar, OraclePlanner(crossbar), targets)
    assert {Polarity.SET, Polarity.RESET} <= set(planned.polarity.tolist())
    exact = ~planned.at_limit
    assert exact.mean() > 0.9
    np.testing.assert_array_less(np.abs(after - targets)[exact] / targets[exact], 1e-6)


def test_error_after_one_pulse_is_the_cycle_to_cycle_noise():
    crossbar = SimulatedCrossbar((64, 64), seed=6)
    p = crossbar.params
    targets = _targets(crossbar)
    planned, before, after = _one_pulse(crossbar, OraclePlanner(crossbar), targets)
    # Step noise is c2c_relative of the step plus c2c_additive_S, both seen through the read
    # factor (before is already a read-scaled conductance).
    sigma = np.hypot(p.c2c_relative * (targets - before),
                     p.c2c_additive_S * p.read_factor(crossbar.limits.read_V))
    z = ((after - targets) / sigma)[~planned.at_limit]
    assert abs(z.mean()) < 0.1
    assert z.std() == pytest.approx(1.0, abs=0.05)


def test_plans_from_the_true_state_and_never_touches_the_noise():
    crossbar = SimulatedCrossbar((8, 8), seed=7)
    cells = Cells.all(crossbar.shape)
    targets = _targets(crossbar)
    oracle = OraclePlanner(crossbar)
    noise_before = crossbar.sim_snapshot()["noise_rng"]
    honest = oracle.plan(cells, crossbar.read(cells).conductance, targets)
    noise_after_read = crossbar.sim_snapshot()["noise_rng"]
    lied_to = oracle.plan(cells, np.full(len(cells), 1e-3), targets)
    np.testing.assert_array_equal(honest.width, lied_to.width)
    np.testing.assert_array_equal(honest.polarity, lied_to.polarity)
    assert not np.array_equal(noise_before, noise_after_read)  # the read drew noise
    np.testing.assert_array_equal(crossbar.sim_snapshot()["noise_rng"], noise_after_read)


def test_unreachable_targets_get_the_strongest_pulse_and_are_flagged():
    crossbar = SimulatedCrossbar((4, 4), params=NOISE_FREE, seed=8)
    cells = Cells.all(crossbar.shape)
    too_high = np.full(len(cells), 3 * crossbar.params.g_max_S)
    planned = OraclePlanner(crossbar).plan(cells, np.zeros(len(cells)), too_high)
    assert planned.at_limit.all()
    assert np.all(planned.polarity[crossbar.population.stuck != 1] == Polarity.SET)
    np.testing.assert_array_equal(planned.width, crossbar.limits.width_max_s)
    by_amplitude = OraclePlanner(crossbar, knob="amplitude").plan(cells, too_high, too_high)
    np.testing.assert_array_equal(by_amplitude.amplitude,
                                  crossbar.limits.max_amplitude(by_amplitude.polarity))


def test_default_amplitudes_keep_first_moves_inside_the_width_limits():
    crossbar = SimulatedCrossbar((64, 64), seed=9)
    healthy = crossbar.population.stuck == 0
    planned = OraclePlanner(crossbar).plan(Cells.all(crossbar.shape), np.zeros(healthy.size),
                                           _targets(crossbar))
    assert planned.at_limit[healthy].mean() < 0.03


def test_rejects_an_unknown_knob_and_amplitudes_beyond_the_limits():
    crossbar = SimulatedCrossbar((2, 2))
    with pytest.raises(ConfigError, match="knob"):
        OraclePlanner(crossbar, knob="gate")
    with pytest.raises(ConfigError, match="exceed the limits"):
        OraclePlanner(crossbar, set_V=crossbar.limits.set_max_V + 0.1)
    with pytest.raises(ConfigError, match="width limits"):
        OraclePlanner(crossbar, knob="amplitude", width_s=1.0)


class _NoClosedForm(DeviceModel):
    """A model without per-device parameters, as a measured (empirical) model is."""

    def __init__(self) -> None:
        self.params = DeviceParams()

    def start(self, n, population_rng, state_rng):
        self.healthy = np.ones(n, bool)
        return np.zeros(n)

    def switch(self, flat, x, volts, width, gate, noise):
        return x

    def conductance(self, x, flat):
        return 1e-6 + 40e-6 * x


def test_refuses_an_array_whose_model_has_no_closed_form():
    crossbar = SimulatedCrossbar((2, 2), model=_NoClosedForm())
    with pytest.raises(ConfigError, match="parametric device model"):
        OraclePlanner(crossbar)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(1e-9, 1e-3)), min_size=16,
                max_size=16),
       st.sampled_from(["width", "amplitude"]))
def test_every_plan_is_inside_the_limits_whatever_the_state_and_target(rows, knob):
    crossbar = SimulatedCrossbar((4, 4), seed=10)
    x, targets = (np.array(column) for column in zip(*rows, strict=True))
    crossbar.sim_set_state(x)
    cells = Cells.all(crossbar.shape)
    planned = OraclePlanner(crossbar, knob=knob).plan(cells, targets, targets)
    crossbar.limits.check_pulses(
        PulseBatch(cells, planned.polarity, planned.amplitude, planned.width), crossbar.shape)


def test_a_non_finite_target_is_a_data_error():
    crossbar = SimulatedCrossbar((2, 2))
    with pytest.raises(DataError, match="not a finite number"):
        OraclePlanner(crossbar).plan(Cells.all((2, 2)), np.zeros(4), np.array([1e-5, np.inf,
                                                                                 1e-5, 1e-5]))
