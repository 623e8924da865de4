"""Cost-aware planning: the neural planner and the oracle under the pulses, time and energy
objectives (1R cells, the width knob, whose fixed amplitude the objective may move)."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError
from hilctl.predictor.landing import in_band_probability
from hilctl.predictor.model import Predictor
from hilctl.predictor.planner import NeuralPlanner
from hilctl.predictor.training import train_predictor
from hilctl.protocols import PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.characterize import characterize
from hilctl.protocols.objective import Objective
from hilctl.protocols.result import CostModel
from hilctl.simulated_backend import OraclePlanner, SimulatedCrossbar
from hilctl.simulated_backend.physics import switching_rate
from hilctl.simulated_backend.presets import ONE_R, load_preset

SHAPE = (24, 24)
MODEL = CostModel(read_time_s=1e-6, iv_v0_V=0.3)
BAND = Tolerance(relative=0.05)
PARAMS = load_preset(ONE_R)  # hfox-1r


def array(seed: int) -> SimulatedCrossbar:
    return SimulatedCrossbar(SHAPE, PARAMS, seed=seed)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    table = characterize(array(21), 6000, np.random.default_rng(0))
    return train_predictor(table, epochs=40, seed=0)


def first_moves(n: int = SHAPE[0] * SHAPE[1]):
    """From the block-RESET state to targets over the window (read conductances, S)."""
    rng = np.random.default_rng(1)
    return Cells.all(SHAPE), np.full(n, 1.2e-6), rng.uniform(5e-6, 35e-6, n)


def test_the_pulse_count_plans_what_the_planner_planned_before(predictor):
    cells, present, target = first_moves()
    for bands in (None, BAND):
        before = NeuralPlanner(predictor, SHAPE, bands=bands).plan(cells, present, target)
        now = NeuralPlanner(predictor, SHAPE, bands=bands,
                            objective=Objective.named("pulses", MODEL)).plan(cells, present,
                                                                             target)
        for field in ("polarity", "amplitude", "width", "at_limit"):
            np.testing.assert_array_equal(getattr(now, field), getattr(before, field))


@pytest.mark.parametrize("name", ["time", "energy"])
def test_time_and_energy_plan_cheaper_pulses_that_land_about_as_often(predictor, name):
    cells, present, target = first_moves()
    objective = Objective.named(name, MODEL)
    plans = {kind: NeuralPlanner(predictor, SHAPE, bands=BAND, objective=o).plan(
        cells, present, target) for kind, o in (("pulses", None), (name, objective))}

    def figures(plan):
        cost = objective.attempt_cost(present, plan.amplitude, plan.width)
        q = predictor.quantiles(present, plan.polarity, plan.amplitude, plan.width)
        chance = in_band_probability(q, target - BAND.half_width(target),
                                     target + BAND.half_width(target))
        return cost.mean(), chance.mean()

    (cost_before, chance_before), (cost_now, chance_now) = map(figures, plans.values())
    assert cost_now < 0.5 * cost_before
    assert chance_now > chance_before - 0.05
    # Other amplitudes than the trained fixed one are used (the objective moved them).
    assert np.unique(plans[name].amplitude).size > 1


def test_a_priced_objective_needs_the_bands(predictor):
    with pytest.raises(ConfigError, match="bands"):
        NeuralPlanner(predictor, SHAPE, objective=Objective.named("time", MODEL))


def test_the_planner_learns_from_pulses_at_any_amplitude_it_chose(predictor):
    xb = array(4)
    planner = NeuralPlanner(predictor, SHAPE, bands=BAND,
                            objective=Objective.named("energy", MODEL))
    cells, _, target = first_moves()
    present = xb.read(cells).conductance
    planned = planner.plan(cells, present, target)
    xb.apply(planned.to_batch(cells))
    planner.observe(cells, planned, present, xb.read(cells).conductance)
    assert (planner.precision[1] > 0).mean() > 0.9  # SET looks for nearly every device


def test_the_oracle_never_pays_more_for_the_same_landing():
    xb = array(5)
    cells, _, target = first_moves()
    present = xb.read(cells).conductance
    energy = Objective.named("energy", MODEL)
    by_count = OraclePlanner(xb).plan(cells, present, target)
    by_energy = OraclePlanner(xb, attempt_cost=energy.attempt_cost).plan(cells, present, target)
    spent = [energy.attempt_cost(present, p.amplitude, p.width) for p in (by_count, by_energy)]
    assert np.all(spent[1] <= spent[0] * (1 + 1e-12))
    assert spent[1].sum() < 0.2 * spent[0].sum()
    # The same landing: both give each device the same rate-time product (the noise-free
    # response depends on nothing else), wherever the pulse-count plan needed no clipping.
    np.testing.assert_array_equal(by_energy.polarity, by_count.polarity)
    pop, is_set = xb.population, by_count.polarity > 0

    def kt(plan):
        rate = np.where(is_set, switching_rate(plan.amplitude, pop.set_rate, pop.set_threshold,
                                               pop.set_slope),
                        switching_rate(plan.amplitude, pop.reset_rate, pop.reset_threshold,
                                       pop.reset_slope))
        return rate * plan.width

    exact = ~by_count.at_limit
    assert exact.mean() > 0.9
    np.testing.assert_allclose(kt(by_energy)[exact], kt(by_count)[exact], rtol=1e-9)


def test_the_oracle_drives_a_device_short_of_an_unreachable_target_at_a_cheap_pulse():
    quiet = PARAMS.replace(c2c_relative=0.0, c2c_additive_S=0.0, read_noise_relative=0.0,
                           read_noise_floor_S=0.0)
    xb = SimulatedCrossbar(SHAPE, quiet, seed=6)
    cells = Cells.all(SHAPE)
    present, beyond = xb.read(cells).conductance, np.full(len(cells), 3 * PARAMS.g_max_S)
    energy = Objective.named("energy", MODEL)
    strongest = OraclePlanner(xb).plan(cells, present, beyond)
    cheapest = OraclePlanner(xb, attempt_cost=energy.attempt_cost).plan(cells, present, beyond)
    assert strongest.at_limit.all() and cheapest.at_limit.all()  # the stall rule still applies
    spent = [energy.attempt_cost(present, p.amplitude, p.width).sum()
             for p in (strongest, cheapest)]
    assert spent[1] < 0.02 * spent[0]
    xb.apply(cheapest.to_batch(cells))
    healthy = xb.population.stuck == 0
    assert (xb.sim_state()[healthy] >= 0.98).all()  # as far as the strongest pulse goes


@pytest.mark.parametrize("name", ["energy", "time"])
def test_a_stuck_device_is_failed_without_ever_longer_pulses(predictor, name):
    """A stuck device looks ever slower to the planner's belief; a priced objective stops
    believing it past a plausible spread, so the device gets no costlier pulses than a slow
    one would and the stall rule fails it (before: 100 us pulses, 170-850x the energy of a
    healthy cell)."""
    xb = SimulatedCrossbar(SHAPE, PARAMS.replace(stuck_fraction=0.2), seed=7)
    cells, _, target = first_moves()
    planner = NeuralPlanner(predictor, SHAPE, bands=BAND, objective=Objective.named(name, MODEL))
    widths, spent = np.zeros(len(cells)), np.zeros(len(cells))
    last_read = xb.read(cells).conductance

    def book(record):
        nonlocal last_read
        if record.pulses is not None:
            pulses, before = record.pulses, last_read[record.index]
            np.maximum.at(widths, record.index, pulses.width)
            np.add.at(spent, record.index,
                      MODEL.pulse_energy(before, pulses.amplitude, pulses.width))
        last_read = record.state.read.copy()

    result = program(PlannedWriteVerify(planner), xb, cells, target, StopRules(BAND),
                     MODEL, observer=book)
    stuck = xb.population.stuck != 0
    assert stuck.sum() > 50
    assert result.failed[stuck & ~result.success].all()
    assert result.pulses[stuck].mean() <= 8
    assert widths[stuck].max() < 0.1 * xb.limits.width_max_s
    assert spent[stuck].mean() < 25 * spent[~stuck].mean()
