"""The model-free heuristic: its fixed width rule and its per-cell secant correction."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hilctl.drivers import Cells, ConfigError, DataError, Polarity, PulseBatch, SafetyLimits
from hilctl.protocols import HeuristicPlanner, PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.planner import PlannedPulses
from hilctl.simulated_backend import SimulatedCrossbar

LIMITS = SafetyLimits()
WINDOW = (1e-6, 41e-6)  # 40 uS wide


def _planner(**kwargs) -> HeuristicPlanner:
    return HeuristicPlanner((2, 2), LIMITS, WINDOW, **kwargs)


def _cells() -> Cells:
    return Cells.all((2, 2))


def test_rule_starts_mid_range_and_scales_with_the_change():
    present = np.full(4, 10e-6)
    target = present + np.array([40e-6, 20e-6, -4e-6, 1e-9])
    planned = _planner().plan(_cells(), present, target)
    assert planned.polarity.tolist() == [Polarity.SET, Polarity.SET, Polarity.RESET,
                                         Polarity.SET]
    # The whole window takes sqrt(10 ns * 100 us) = 1 us.
    np.testing.assert_allclose(planned.width[:3], [1e-6, 0.5e-6, 0.1e-6])
    assert planned.width[3] == LIMITS.width_min_s
    assert planned.at_limit.tolist() == [False, False, False, True]
    assert planned.amplitude.tolist() == [1.2, 1.2, 1.4, 1.2]


def test_after_one_answer_the_same_change_gets_the_width_that_produced_it():
    planner = _planner()
    cells = _cells()
    before = np.full(4, 10e-6)
    pulses = PlannedPulses(np.full(4, Polarity.SET, np.int8), np.full(4, 1.2),
                           np.array([1e-6, 2e-6, 4e-6, 8e-6]), np.zeros(4, bool))
    after = before + np.array([2e-6, 8e-6, 0.0, -1e-6])  # last two: no answer, wrong way
    planner.observe(cells, pulses, before, after)
    replan = planner.plan(cells, np.full(4, 10e-6), np.full(4, 12e-6))
    np.testing.assert_allclose(replan.width[:2], [1e-6, 0.5e-6])
    # Unanswered cells keep their rule but four times stronger (40 uS window -> 1 us x 4).
    np.testing.assert_allclose(replan.width[2:], [1e-6 * 4 * 2 / 40] * 2)
    reset = planner.plan(cells, np.full(4, 12e-6), np.full(4, 10e-6))
    np.testing.assert_allclose(reset.width, 1e-6 * 2 / 40)  # RESET rule untouched


def test_without_adaptation_the_rule_stays_fixed():
    planner = _planner(adapt=False)
    cells = _cells()
    first = planner.plan(cells, np.full(4, 10e-6), np.full(4, 20e-6))
    planner.observe(cells, first, np.full(4, 10e-6), np.full(4, 30e-6))
    again = planner.plan(cells, np.full(4, 10e-6), np.full(4, 20e-6))
    np.testing.assert_array_equal(first.width, again.width)


def test_planned_write_verify_with_the_heuristic_converges_on_a_simulated_array():
    crossbar = SimulatedCrossbar((16, 16), seed=6)
    p = crossbar.params
    rf = p.read_factor(crossbar.limits.read_V)
    planner = HeuristicPlanner(crossbar.shape, crossbar.limits,
                               (p.g_min_S * rf, p.g_max_S * rf))
    targets = np.random.default_rng(2).uniform(5e-6, 35e-6, 256)
    result = program(PlannedWriteVerify(planner), crossbar, Cells.all(crossbar.shape), targets,
                     StopRules(Tolerance(0.05)))
    healthy = crossbar.population.stuck == 0
    assert result.success[healthy].mean() > 0.97
    assert result.pulses[healthy].mean() < 12


def test_rejects_an_empty_window_and_amplitudes_beyond_the_limits():
    with pytest.raises(ConfigError, match="window"):
        HeuristicPlanner((2, 2), LIMITS, (5e-6, 5e-6))
    with pytest.raises(ConfigError, match=r"heuristic.reset_V = .* is outside"):
        _planner(reset_V=LIMITS.reset_max_V + 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e-6, 1e-3), st.floats(1e-9, 1e-3),
                          st.floats(-1e-4, 1e-4), st.floats(1e-9, 1e-3)),
                min_size=4, max_size=4))
def test_every_plan_is_inside_the_limits_whatever_the_reads_and_answers(rows):
    present, target, answer, width = (np.array(column) for column in zip(*rows, strict=True))
    planner = _planner()
    first = planner.plan(_cells(), present, target)
    LIMITS.check_pulses(PulseBatch(_cells(), first.polarity, first.amplitude, first.width),
                        (2, 2))
    tried = PlannedPulses(first.polarity, first.amplitude, np.clip(width, 1e-8, 1e-4),
                          first.at_limit)
    planner.observe(_cells(), tried, present, present + answer)
    again = planner.plan(_cells(), present + answer, target)
    LIMITS.check_pulses(PulseBatch(_cells(), again.polarity, again.amplitude, again.width),
                        (2, 2))


def test_a_non_finite_conductance_is_a_data_error():
    with pytest.raises(DataError, match="not a finite number"):
        _planner().plan(_cells(), np.full(4, 1e-5), np.array([1e-5, np.nan, 1e-5, 1e-5]))
