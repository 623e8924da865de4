"""Physics properties of the default preset that programming relies on."""

import numpy as np
import pytest

from hilctl.drivers import Cells, Polarity, PulseBatch
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar

QUIET = dict(c2c_relative=0.0, c2c_additive_S=0.0, read_noise_relative=0.0,
             read_noise_floor_S=0.0, stuck_fraction=0.0)


def array(shape=(32, 32), seed=1, **overrides):
    return SimulatedCrossbar(shape, DeviceParams().replace(**overrides), seed=seed)


def pulse_all(xb, volts, width):
    cells = Cells.all(xb.shape)
    polarity = Polarity.SET if volts > 0 else Polarity.RESET
    xb.apply(PulseBatch(cells, polarity, abs(volts), width))
    return cells


def test_fresh_array_sits_near_low_bound_with_ten_percent_spread():
    xb = array((64, 64), stuck_fraction=0.0)
    pop = xb.population
    assert np.all(xb.sim_state() < 0.1)
    assert 0.9e-6 < np.median(pop.g_min) < 1.1e-6 and 36e-6 < np.median(pop.g_max) < 44e-6
    assert np.std(np.log(pop.g_max)) == pytest.approx(0.10, rel=0.1)


def test_conductance_stays_within_each_devices_bounds_under_any_pulse():
    xb = array()
    cells = Cells.all(xb.shape)
    rng = np.random.default_rng(0)
    for _ in range(30):
        polarity = rng.choice([1, -1], len(cells))
        amplitude = np.where(polarity > 0, rng.uniform(0.8, 2.0, len(cells)),
                             rng.uniform(0.8, 2.5, len(cells)))
        xb.apply(PulseBatch(cells, polarity, amplitude, 10 ** rng.uniform(-8, -4, len(cells))))
    x = xb.sim_state()
    assert x.min() >= 0 and x.max() <= 1
    g = xb.sim_true_conductance(cells) / xb.params.read_factor(0.2)
    float32 = 1e-6  # the simulator's rounding (it computes in float32)
    assert np.all(g >= xb.population.g_min * (1 - float32))
    assert np.all(g <= xb.population.g_max * (1 + float32))


def test_full_range_set_takes_about_a_microsecond_at_1v5():
    fractions = {}
    for width in (1e-8, 1e-7, 1e-6, 1e-5):
        xb = array(**QUIET)
        pulse_all(xb, 1.5, width)
        fractions[width] = np.median(xb.sim_state())
    assert fractions[1e-8] < 0.2
    assert 0.75 < fractions[1e-6] < 0.97
    assert fractions[1e-5] > 0.97


def test_response_is_s_shaped_in_log_width():
    widths = np.logspace(-8, -4, 33)
    response = []
    for width in widths:
        xb = array((8, 8), **QUIET)
        pulse_all(xb, 1.3, width)
        response.append(np.median(xb.sim_state()))
    response = np.array(response)
    slope = np.diff(response)
    assert np.all(slope >= 0)
    peak = int(np.argmax(slope))
    # flat at both ends, steepest in the middle: a sigmoid in log(width)
    assert 3 < peak < len(slope) - 4
    assert slope[0] < 0.2 * slope[peak] and slope[-1] < 0.2 * slope[peak]


def test_set_and_reset_are_asymmetric_and_steps_shrink_near_bounds():
    xb = array(**QUIET)
    pulse_all(xb, 1.3, 1e-7)
    set_step = np.median(xb.sim_state())
    xb.sim_set_state(np.ones(xb.shape[0] * xb.shape[1]))
    pulse_all(xb, -1.3, 1e-7)
    reset_step = 1 - np.median(xb.sim_state())
    assert abs(set_step - reset_step) > 0.2 * max(set_step, reset_step)
    # the same SET pulse moves a device less the closer it already is to G_max
    steps = []
    for start in (0.1, 0.5, 0.9):
        xb.sim_set_state(np.full(xb.shape[0] * xb.shape[1], start))
        pulse_all(xb, 1.3, 1e-7)
        steps.append(np.median(xb.sim_state()) - start)
    assert steps[0] > steps[1] > steps[2] > 0


def test_sub_threshold_pulses_and_reads_leave_conductance_unchanged():
    xb = array()
    cells = Cells.all(xb.shape)
    before = xb.sim_true_conductance(cells)
    for _ in range(100):
        xb.read(cells)
    pulse_all(xb, 0.5, 1e-4)
    pulse_all(xb, -0.5, 1e-4)
    after = xb.sim_true_conductance(cells)
    assert np.max(np.abs(after - before) / before) < 1e-3


def test_read_noise_matches_its_settings():
    xb = array((64, 64), stuck_fraction=0.0)
    cells = Cells.all(xb.shape)
    true = xb.sim_true_conductance(cells)
    reads = np.stack([xb.read(cells).conductance for _ in range(50)])
    measured_sigma = reads.std(axis=0)
    expected_sigma = np.hypot(0.01 * true, 0.05e-6)
    assert np.median(measured_sigma / expected_sigma) == pytest.approx(1.0, abs=0.05)
    assert np.median(reads.mean(axis=0) / true) == pytest.approx(1.0, abs=0.003)


def test_cycle_to_cycle_noise_matches_its_settings():
    kwargs = dict(stuck_fraction=0.0, read_noise_relative=0.0, read_noise_floor_S=0.0)
    steps = {}
    for relative, additive in ((0.0, 0.0), (0.15, 0.0), (0.0, 0.2e-6)):
        xb = array((64, 64), seed=5, c2c_relative=relative, c2c_additive_S=additive, **kwargs)
        cells = pulse_all(xb, 1.2, 1e-7)
        steps[(relative, additive)] = xb.sim_true_conductance(cells)
    clean = steps[(0.0, 0.0)]
    start = SimulatedCrossbar((64, 64), DeviceParams().replace(**kwargs), seed=5)
    step = clean - start.sim_true_conductance(Cells.all((64, 64)))
    multiplicative = (steps[(0.15, 0.0)] - clean) / step
    additive = (steps[(0.0, 0.2e-6)] - clean) / xb.params.read_factor(0.2)
    interior = np.abs(step) > 1e-6
    assert np.std(multiplicative[interior]) == pytest.approx(0.15, rel=0.1)
    assert np.std(additive) == pytest.approx(0.2e-6, rel=0.15)


def test_nonlinear_iv_makes_the_read_voltage_matter():
    params = DeviceParams()
    assert params.read_factor(0.2) == pytest.approx(np.sinh(0.2 / 0.3) / (0.2 / 0.3))
    assert params.read_factor(0.5) > params.read_factor(0.2) > 1.0


def test_stuck_devices_do_not_move_and_split_between_bounds():
    xb = array((128, 128), seed=2)
    stuck = xb.population.stuck
    assert stuck.mean() != 0 and np.mean(stuck != 0) == pytest.approx(0.01, abs=0.003)
    assert np.mean(stuck == 1) == pytest.approx(np.mean(stuck == -1), abs=0.003)
    before = xb.sim_state()
    pulse_all(xb, 2.0, 1e-5)
    pulse_all(xb, -2.5, 1e-5)
    after = xb.sim_state()
    assert np.array_equal(after[stuck != 0], before[stuck != 0])


def test_same_seed_same_run_and_different_seed_differs():
    def run(seed):
        xb = array(seed=seed)
        cells = pulse_all(xb, 1.4, 2e-7)
        return xb.read(cells).conductance

    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_a_cell_listed_twice_in_a_batch_gets_two_pulses():
    once, twice = array(**QUIET), array(**QUIET)
    cell = Cells([0], [0])
    once.apply(PulseBatch(cell, 1, 1.2, 1e-7))
    once.apply(PulseBatch(cell, 1, 1.2, 1e-7))
    twice.apply(PulseBatch(Cells([0, 0], [0, 0]), 1, 1.2, 1e-7))
    assert once.sim_state()[0] == pytest.approx(twice.sim_state()[0])


def test_relaxation_is_off_by_default_and_spreads_with_log_time():
    xb = array(stuck_fraction=0.0)
    before = xb.sim_state()
    xb.sim_relax(1e4)
    assert np.array_equal(xb.sim_state(), before)
    spreads = []
    for seconds in (10.0, 1e4):
        relaxing = array(stuck_fraction=0.0, relaxation_sigma=0.01)
        relaxing.sim_set_state(np.full(32 * 32, 0.5))
        relaxing.sim_relax(seconds)
        spreads.append(np.std(relaxing.sim_state()))
    assert spreads[1] / spreads[0] == pytest.approx(np.sqrt(np.log1p(1e4) / np.log1p(10)), rel=0.1)
