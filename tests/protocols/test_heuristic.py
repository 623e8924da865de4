"""The model-free heuristic: its fixed width rule and its per-cell secant correction."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hilctl.drivers import Cells, ConfigError, DataError, Polarity, PulseBatch, SafetyLimits
from hilctl.protocols import HeuristicPlanner, PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.heuristic import GateSpan
from hilctl.protocols.planner import PlannedPulses
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice

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


SPAN = GateSpan(set_gates_V=(1.55, 2.0), reset_amplitudes_V=(0.8, 2.0), set_V=1.2,
                reset_gate_V=3.5, width_s=1e-6)


def test_gate_rule_spans_the_window_over_the_stated_gates_and_amplitudes():
    planner = _planner(gate=SPAN)
    present = np.array([1e-6, 1e-6, 41e-6, 41e-6])
    target = np.array([21e-6, 41e-6, 1e-6 * np.sqrt(41), 1e-6])
    planned = planner.plan(_cells(), present, target)
    assert planned.polarity.tolist() == [Polarity.SET] * 2 + [Polarity.RESET] * 2
    np.testing.assert_allclose(planned.gate, [1.775, 2.0, 3.5, 3.5])
    np.testing.assert_allclose(planned.amplitude, [1.2, 1.2, 1.4, 2.0])
    assert np.all(planned.width == 1e-6) and not planned.at_limit.any()


def test_gate_rule_learns_each_cell_from_its_answer():
    planner = _planner(gate=SPAN)
    cells = _cells()
    before = np.full(4, 1e-6)
    first = planner.plan(cells, before, np.full(4, 21e-6))
    # Cells 0, 1 landed higher / lower than aimed; 2 did not switch; 3 landed on target.
    after = np.array([41e-6, 11e-6, 1e-6, 21e-6])
    planner.observe(cells, first, before, after)
    again = planner.plan(cells, before, np.full(4, 21e-6))
    assert again.gate[0] < first.gate[0] < again.gate[1]
    assert again.gate[2] > first.gate[2]  # no answer: a stronger gate
    assert again.gate[3] == pytest.approx(first.gate[3])


def test_planned_write_verify_with_the_gate_rule_converges_on_a_1t1r_array():
    crossbar = SimulatedCrossbar((16, 16), model=OneTOneRDevice(), seed=6)
    p = crossbar.params
    rf = p.read_factor(crossbar.limits.read_V)
    window = (p.g_min_S * rf, p.g_max_S * rf)
    planner = HeuristicPlanner(crossbar.shape, crossbar.limits, window, gate=SPAN)
    targets = np.random.default_rng(2).uniform(35e-6, 210e-6, 256)
    result = program(PlannedWriteVerify(planner, gate_V=3.3), crossbar,
                     Cells.all(crossbar.shape), targets, StopRules(Tolerance(0.05)))
    healthy = crossbar.population.stuck == 0
    assert result.success[healthy].mean() > 0.97
    assert result.pulses[healthy].mean() < 20


def test_an_empty_gate_span_is_refused():
    with pytest.raises(ConfigError, match="gate span"):
        _planner(gate=GateSpan((2.0, 1.5), (0.8, 2.0), 1.2, 3.5, 1e-6))
