"""The neural planner: predictor pulses, adapted per device from each verify read."""

import numpy as np
import pytest

from hilctl.drivers import Cells, DataError, PulseBatch
from hilctl.predictor.model import Predictor
from hilctl.predictor.planner import NeuralPlanner
from hilctl.predictor.training import train_predictor
from hilctl.protocols import PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.characterize import characterize
from hilctl.protocols.planner import PlannedPulses
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar
from tests.hilctl.gate_sweep import devices, gate_sweep_table, set_level, set_response

SHAPE = (32, 32)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    table = characterize(SimulatedCrossbar(SHAPE, seed=21), 8000, np.random.default_rng(0))
    return train_predictor(table, epochs=60, seed=0)


def targets_for(xb: SimulatedCrossbar, seed: int = 1) -> np.ndarray:
    p = xb.params
    fraction = np.random.default_rng(seed).uniform(0.1, 0.9, xb.shape[0] * xb.shape[1])
    return (p.g_min_S + fraction * (p.g_max_S - p.g_min_S)) * p.read_factor(xb.limits.read_V)


def pulse(xb, planner, cells, present, targets):
    planned = planner.plan(cells, present, targets)
    xb.apply(PulseBatch(cells, planned.polarity, planned.amplitude, planned.width, planned.gate))
    after = xb.read(cells).conductance
    planner.observe(cells, planned, present, after)
    return planned, after


def test_a_slow_device_gets_a_longer_pulse_from_its_second_pulse(predictor):
    xb = SimulatedCrossbar(SHAPE, seed=3)
    cells = Cells.all(SHAPE)
    flat = cells.flat(SHAPE)
    slow, fast = flat < 256, flat >= 768
    xb.population.set_rate[slow] *= 0.2
    xb.population.set_rate[fast] *= 5.0
    planner = NeuralPlanner(predictor, SHAPE)
    present = xb.read(cells).conductance
    targets = np.full(flat.size, 15e-6)
    pulse(xb, planner, cells, present, targets)
    shift = planner.shift()[1]  # SET row
    healthy = xb.population.stuck == 0
    assert np.median(shift[slow & healthy]) < -0.8 and np.median(shift[fast & healthy]) > 0.8
    again = planner.plan(cells, np.full(flat.size, 5e-6), np.full(flat.size, 10e-6))
    assert np.median(again.width[slow]) > 3 * np.median(again.width[~slow & ~fast])
    # Fast devices overshoot even the average device's reach: a censored, weaker look.
    assert np.median(again.width[fast]) < np.median(again.width[~slow & ~fast]) / 2


def test_adaptation_makes_later_pulses_land_closer(predictor):
    def errors(adapt: bool) -> list[np.ndarray]:
        xb = SimulatedCrossbar(SHAPE, seed=4)
        cells = Cells.all(SHAPE)
        targets = targets_for(xb)
        planner = NeuralPlanner(predictor, SHAPE, adapt=adapt)
        after, out = xb.read(cells).conductance, []
        for _ in range(3):
            _, after = pulse(xb, planner, cells, after, targets)
            out.append(np.abs(after - targets) / targets)
        return out

    adapted, fixed = errors(True), errors(False)
    np.testing.assert_array_equal(adapted[0], fixed[0])  # nothing learned before pulse 1
    assert np.mean(adapted[1] <= 0.1) > np.mean(fixed[1] <= 0.1) + 0.02
    assert np.mean(adapted[2] <= 0.1) > np.mean(fixed[2] <= 0.1) + 0.05


def test_pulses_at_other_settings_teach_nothing(predictor):
    planner = NeuralPlanner(predictor, SHAPE)
    cells = Cells(np.array([0, 1]), np.array([0, 0]))
    other = PlannedPulses(np.array([1, 1]), np.array([1.9, 1.9]), np.array([1e-6, 1e-6]),
                          np.zeros(2, bool))
    planner.observe(cells, other, np.array([2e-6, 2e-6]), np.array([30e-6, 30e-6]))
    assert not planner.precision.any()


def test_write_verify_planned_with_the_neural_planner_converges(predictor):
    xb = SimulatedCrossbar((16, 16), seed=5)
    cells = Cells.all(xb.shape)
    targets = targets_for(xb)[:len(cells)]
    planner = NeuralPlanner(predictor, xb.shape)
    rules = StopRules(tolerance=Tolerance(0.05), max_pulses=20)
    result = program(PlannedWriteVerify(planner), xb, cells, targets, rules)
    assert result.success.mean() > 0.9
    assert np.median(result.pulses) <= 4
    assert planner.precision.any()


def test_plans_and_learns_a_quarter_million_cells_in_one_batch(predictor):
    shape = (512, 512)
    planner = NeuralPlanner(predictor, shape)
    cells = Cells.all(shape)
    rng = np.random.default_rng(0)
    present = rng.uniform(2e-6, 40e-6, len(cells))
    target = rng.uniform(5e-6, 38e-6, len(cells))
    planned = planner.plan(cells, present, target)
    assert planned.width.shape == (len(cells),)
    planner.observe(cells, planned, present, present * rng.uniform(0.8, 1.2, len(cells)))
    assert planner.precision.shape == (2, len(cells)) and planner.precision.any()


def test_cells_outside_the_planner_array_are_refused(predictor):
    planner = NeuralPlanner(predictor, (4, 4))
    with pytest.raises(DataError, match="4x4"):
        planner.plan(Cells(np.array([4]), np.array([0])), np.array([2e-6]), np.array([9e-6]))


def test_aiming_short_lowers_the_chance_of_overshooting(predictor):
    xb = SimulatedCrossbar(SHAPE, seed=6)
    cells = Cells.all(SHAPE)
    targets = targets_for(xb)
    present = xb.read(cells).conductance
    median = NeuralPlanner(predictor, SHAPE).plan(cells, present, targets)
    careful = NeuralPlanner(predictor, SHAPE, first_overshoot=0.1).plan(cells, present, targets)
    assert (careful.width <= median.width * (1 + 1e-9)).all()
    assert np.median(careful.width / median.width) < 0.8


def test_a_device_twice_as_slow_gets_twice_as_long_a_pulse_from_its_second_pulse(predictor):
    quiet = DeviceParams().replace(
        rate_spread=0.0, threshold_spread_V=0.0, slope_spread=0.0, window_spread=0.0,
        g_spread=0.0, stuck_fraction=0.0, initial_state_spread=0.0, c2c_relative=0.0,
        c2c_additive_S=0.0, read_noise_relative=0.0, read_noise_floor_S=0.0)
    shape = (8, 8)
    xb = SimulatedCrossbar(shape, quiet, seed=0)
    slow = np.arange(64) % 2 == 1
    xb.population.set_rate[slow] *= 0.5
    cells = Cells.all(shape)
    planner = NeuralPlanner(predictor, shape, noise_relative=0.0, read_noise_relative=0.0)
    present = xb.read(cells).conductance
    targets = np.full(64, 12e-6)
    first, after = pulse(xb, planner, cells, present, targets)
    np.testing.assert_allclose(first.width[slow], first.width[~slow])  # nothing known yet
    again = planner.plan(cells, np.full(64, 14e-6), np.full(64, 16e-6))
    ratio = np.median(again.width[slow]) / np.median(again.width[~slow])
    assert 1.7 < ratio < 2.3


def test_what_a_planner_learned_comes_back_in_a_new_planner(predictor):
    """Resume: a fresh planner given ``learned`` plans exactly as the one that learned it."""
    xb = SimulatedCrossbar(SHAPE, seed=4)
    cells = Cells.all(SHAPE)
    planner = NeuralPlanner(predictor, SHAPE)
    present = xb.read(cells).conductance
    targets = targets_for(xb)
    _, after = pulse(xb, planner, cells, present, targets)
    half = cells.subset(np.arange(len(cells)) % 2 == 0)
    fresh = NeuralPlanner(predictor, SHAPE)
    fresh.restore_learned(half, planner.learned(half))
    index = np.arange(len(cells))[::2]
    expected = planner.plan(half, after[index], targets[index])
    got = fresh.plan(half, after[index], targets[index])
    np.testing.assert_array_equal(got.width, expected.width)
    assert not np.array_equal(NeuralPlanner(predictor, SHAPE).plan(
        half, after[index], targets[index]).width, expected.width)


def test_on_the_gate_knob_a_device_with_a_higher_level_gets_a_lower_gate_next():
    """Per-device adaptation works on the gate as on the width (synthetic 1T1R sweep)."""
    dev = devices()
    predictor = train_predictor(gate_sweep_table(8000, 4000, seed=1, dev=dev),
                                knob="set=gate,reset=amplitude", epochs=20, seed=0)
    planner = NeuralPlanner(predictor, (32, 32))
    cells = Cells.all((32, 32))
    device = cells.flat((32, 32))
    start, targets = np.full(len(cells), 5e-6), np.full(len(cells), 120e-6)
    first = planner.plan(cells, start, targets)
    np.testing.assert_allclose(first.gate, first.gate[0])  # nothing known yet
    after = set_response(device, start, first.gate, dev, np.random.default_rng(0))
    planner.observe(cells, first, start, after)
    second = planner.plan(cells, start, targets).gate
    high, low = dev["level"] > 1.15, dev["level"] < 0.87
    assert np.median(second[high]) < first.gate[0] < np.median(second[low])
    # Closer to each device's own gate for the target than the first, shared, gate.
    own = 0.78 + 0.6 * np.arctanh(120e-6 / (250e-6 * dev["level"]))  # inverse of set_level
    np.testing.assert_allclose(set_level(own) * dev["level"], 120e-6)
    switched = after > 2 * start
    assert (np.median(np.abs(second - own)[switched])
            < np.median(np.abs(first.gate - own)[switched]))


def test_a_device_a_pulse_did_not_move_gets_a_stronger_one_next(predictor):
    """The next pulse of the same polarity to a device that did not answer is at least a
    quarter prior sigma stronger, as a ramp would step; a device that answered is not held
    to it. A store made before the planner escalated resumes without last pulses."""
    xb = SimulatedCrossbar(SHAPE, seed=5)
    cells = Cells.all(SHAPE)
    planner = NeuralPlanner(predictor, SHAPE)
    present = xb.read(cells).conductance
    tiny = present * 1.03  # a small SET step: from a weak pulse on, several may not switch
    first = planner.plan(cells, present, tiny)
    # Pretend nothing switched: every read after is the read before.
    planner.observe(cells, first, present, present)
    again = planner.plan(cells, present, tiny)
    step = 0.25 * planner.prior_sigma[1]
    sent = [predictor.knob_coordinate(p.polarity, {"width_s": p.width,
                                                   "amplitude_V": p.amplitude})
            for p in (first, again)]
    is_set = (first.polarity > 0) & (again.polarity > 0)
    _, hi = predictor.u_range("SET")
    floor = np.minimum(sent[0] + step, hi)
    assert (sent[1][is_set] >= floor[is_set] - 1e-9).all()
    answered = NeuralPlanner(predictor, SHAPE)
    answered.observe(cells, first, present, present * 3)
    assert not (answered.unmoved > 0).any()
    older = {k: v for k, v in planner.learned(cells).items() if not k.startswith(("last_u",
                                                                                   "unmoved"))}
    resumed = NeuralPlanner(predictor, SHAPE)
    resumed.restore_learned(cells, older)
    assert np.isnan(resumed.last_u).all() and not resumed.unmoved.any()


def test_a_knob_clipped_at_its_weakest_end_is_not_at_the_limit(predictor):
    """The stall rule judges pulses at the strongest setting only: a correction smaller than
    the weakest pulse's step is no sign of a stuck device."""
    from hilctl.predictor.inverse import plan_knob

    g_lo, g_hi = predictor.spec.g_range_S
    present = np.full(4, np.sqrt(g_lo * g_hi))
    target = present * np.array([1.2, 1.2, 1e3, 1e3])
    # The first two look far faster than the average device: their knob falls below the range.
    shift = np.array([[0.0] * 4, [8.0, 8.0, 0.0, 0.0]])
    plan = plan_knob(predictor, present, np.clip(target, g_lo, g_hi * 0.999), shift)
    lo, hi = predictor.u_range("SET")
    assert (plan.u[:2] - shift[1, :2] < lo).all()
    assert not plan.clamped[:2].any()
    sent = predictor.knob_coordinate(plan.polarity, {"width_s": plan.width,
                                                     "amplitude_V": plan.amplitude})
    assert (np.isclose(sent[2:], hi) | plan.clamped[2:]).all()
