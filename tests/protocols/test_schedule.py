"""Parallel-pulse schedules change the time a round takes, never the pulses a protocol decides."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, PulseBatch
from hilctl.protocols import SCHEDULES, CostModel, IncrementalStep, Schedule, program
from hilctl.simulated_backend import SimulatedCrossbar, preset

SHAPE = (6, 5)


def _batch(rng, n=20) -> PulseBatch:
    flat = rng.choice(SHAPE[0] * SHAPE[1], size=n, replace=False)
    cells = Cells.from_flat(flat, SHAPE)
    return PulseBatch(cells, rng.choice([1, -1], n), rng.uniform(0.5, 1.5, n),
                      rng.uniform(1e-7, 1e-5, n))


def test_a_group_lasts_its_longest_pulse_and_groups_add_up():
    cells = Cells(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    pulses = PulseBatch(cells, np.array([1, 1, 1, -1]), 1.0, np.array([1e-6, 3e-6, 2e-6, 5e-6]))
    timing = {name: Schedule.named(name).timing(pulses) for name in SCHEDULES}
    assert (timing["none"].width_s, timing["none"].groups) == (pytest.approx(11e-6), 4)
    # rows: SETs of row 0 together (3 us), the SET of row 1 (2 us), the RESET of row 1 (5 us)
    assert (timing["row-parallel"].width_s, timing["row-parallel"].groups) == \
        (pytest.approx(10e-6), 3)
    # SETs by column: column 0 (2 us), column 1 (3 us); the RESET by its row (5 us)
    assert (timing["column-set-row-reset"].width_s, timing["column-set-row-reset"].groups) == \
        (pytest.approx(10e-6), 3)
    # every SET at once (3 us), then every RESET (5 us)
    assert (timing["whole-array"].width_s, timing["whole-array"].groups) == \
        (pytest.approx(8e-6), 2)


@pytest.mark.parametrize("seed", range(5))
def test_more_parallel_never_takes_longer(seed):
    pulses = _batch(np.random.default_rng(seed))
    t = {name: Schedule.named(name).timing(pulses) for name in SCHEDULES}
    assert t["whole-array"].width_s <= t["row-parallel"].width_s <= t["none"].width_s
    assert t["whole-array"].width_s <= t["column-set-row-reset"].width_s <= t["none"].width_s
    assert t["whole-array"].width_s >= pulses.width.max()
    assert t["none"].width_s == pytest.approx(pulses.width.sum())


def test_an_unknown_schedule_or_a_negative_overhead_is_refused():
    with pytest.raises(ConfigError, match="row-paralel.*choose from none, row-parallel"):
        Schedule.named("row-paralel")
    with pytest.raises(ConfigError, match="cost.round_trip_s = -0.001"):
        CostModel(round_trip_s=-1e-3)


def _run(schedule: str, **overheads):
    crossbar = SimulatedCrossbar(SHAPE, params=preset("hfox-1r"), seed=1)
    cells = Cells.all(SHAPE)
    targets = np.random.default_rng(0).uniform(20e-6, 80e-6, len(cells))
    cost = CostModel(schedule=Schedule.named(schedule), **overheads)
    return program(IncrementalStep(), crossbar, cells, targets, cost=cost)


def test_the_schedule_changes_the_time_not_the_pulses():
    one, rows = _run("none"), _run("row-parallel")
    np.testing.assert_array_equal(one.pulses, rows.pulses)
    np.testing.assert_array_equal(one.final_read, rows.final_read)
    assert one.energy_J == pytest.approx(rows.energy_J)
    assert rows.pulse_time_s < one.pulse_time_s and rows.pulse_groups < one.pulse_groups
    assert one.pulse_groups == one.pulses.sum()


def test_every_time_term_is_counted_and_they_add_up():
    result = _run("column-set-row-reset", pulse_setup_s=1e-6, round_trip_s=1e-4, settle_s=2e-5,
                  read_time_s=1e-6)
    terms = result.time_terms()
    assert result.program_time_s == pytest.approx(sum(terms.values()))
    assert terms["set_up_s"] == pytest.approx(result.pulse_groups * 1e-6)
    # a batch and its verify read per round, and the first read
    assert result.round_trips == 2 * result.rounds + 1
    assert terms["round_trips_s"] == pytest.approx(result.round_trips * 1e-4)
    assert terms["settling_s"] == pytest.approx(result.rounds * 2e-5)
    assert terms["reads_s"] == pytest.approx(result.reads * 1e-6)
    summary = result.summary()
    assert summary["time_terms_s"] == terms and summary["cost_settings"]["schedule"] == \
        "column-set-row-reset"
