"""The planning objective: what one attempt costs and which setting it prefers."""

import numpy as np
import pytest

from hilctl.drivers import ConfigError
from hilctl.protocols.objective import Objective, ObjectiveWeights
from hilctl.protocols.result import CostModel

MODEL = CostModel(read_time_s=1e-6, iv_v0_V=0.3)


@pytest.mark.parametrize("name", ["time", "energy"])
def test_of_two_settings_with_equal_success_the_cheaper_wins(name):
    objective = Objective.named(name, MODEL)
    # Same amplitude, a 10 ns and a 10 us pulse, both equally likely to land.
    cost = objective.attempt_cost(20e-6, np.array([1.5, 1.5]), np.array([10e-9, 10e-6]))
    assert cost[0] < cost[1]
    chosen = objective.choose(np.array([0.8, 0.8]), cost, np.array([0.1, 0.0]), axis=0)
    assert chosen == 0  # although the long pulse's median lies nearer the target


def test_a_cheap_setting_that_barely_lands_loses_to_a_likely_one():
    objective = Objective.named("time", MODEL)
    cost = objective.attempt_cost(20e-6, 1.5, np.array([10e-9, 2e-6]))
    # 10 ns below threshold lands 0.1 %; 2 us lands 90 %: 1000 short tries cost more.
    assert objective.choose(np.array([0.001, 0.9]), cost, np.zeros(2), axis=0) == 1


def test_the_pulse_count_prices_no_setting():
    objective = Objective.named("pulses", MODEL)
    assert not objective.prices_settings
    cost = objective.attempt_cost(20e-6, np.array([1.0, 2.0]), np.array([10e-9, 1e-4]))
    assert np.all(cost == 1.0)
    assert Objective.named("time", MODEL).prices_settings


def test_expected_cost_is_attempts_times_their_cost():
    objective = Objective.named("energy", MODEL)
    single = objective.attempt_cost(20e-6, 1.2, 1e-6)
    assert float(single) == pytest.approx(float(MODEL.pulse_energy(20e-6, 1.2, 1e-6)))
    assert objective.expected_cost(0.5, single) == pytest.approx(2 * single)


def test_an_unknown_objective_or_a_negative_weight_is_refused():
    with pytest.raises(ConfigError, match="objective 'speed' is unknown"):
        Objective.named("speed", MODEL)
    with pytest.raises(ConfigError, match="time_s = -1"):
        ObjectiveWeights(time_s=-1.0)
    with pytest.raises(ConfigError, match="all 0"):
        ObjectiveWeights()
    weighted = Objective.named("time", MODEL, ObjectiveWeights(pulse=1e-6, time_s=1.0))
    assert weighted.name == "weighted"
