"""Characterization of 1T1R arrays: gate sweeps, grids, the high-resistance start, repeats."""

import numpy as np
import pytest

from hilctl.drivers import ConfigError, Polarity, SafetyLimits
from hilctl.protocols.characterize import PulseRanges, characterize
from hilctl.protocols.settings import ResetPulse
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice
from tests.protocols.test_characterize import CountingCrossbar

GATES = dict(set_gate_V=(1.5, 2.5), reset_gate_V=(3.5, 3.5))


def one_t_one_r(shape=(12, 12), seed=0) -> SimulatedCrossbar:
    return SimulatedCrossbar(shape, limits=SafetyLimits(reset_max_V=4.0), model=OneTOneRDevice(),
                             seed=seed)


def test_random_settings_fill_the_gate_column_within_the_ranges():
    table = characterize(one_t_one_r(), 3000, np.random.default_rng(0),
                         ranges=PulseRanges(**GATES))
    is_set = table.polarity == Polarity.SET
    assert np.isfinite(table.gate).all()
    assert 1.5 <= table.gate[is_set].min() and table.gate[is_set].max() <= 2.5
    assert np.ptp(table.gate[is_set]) > 0.9  # drawn over the range, not one value
    np.testing.assert_array_equal(table.gate[~is_set], 3.5)


def test_grid_walks_every_point_equally_often():
    ranges = PulseRanges(set_V=(2.0, 2.0), width_s=(1e-7, 1e-5), sampling="grid",
                         grid_points=3, start="hrs", hrs_reset=ResetPulse(2.0, 2e-7), **GATES)
    table = characterize(one_t_one_r(), 144 * 3, np.random.default_rng(1), ranges=ranges)
    is_set = table.polarity == Polarity.SET
    settings, counts = np.unique(np.stack([table.width[is_set], table.gate[is_set]]), axis=1,
                                 return_counts=True)
    np.testing.assert_allclose(np.unique(settings[0]), [1e-7, 1e-6, 1e-5])
    np.testing.assert_allclose(np.unique(settings[1]), [1.5, 2.0, 2.5])
    assert counts.size == 9 and counts.min() == counts.max()


def test_hrs_start_resets_before_every_set_and_records_both():
    ranges = PulseRanges(set_V=(2.0, 2.0), start="hrs", hrs_reset=ResetPulse(2.0, 2e-7),
                         **GATES)
    table = characterize(one_t_one_r(), 144 * 4, np.random.default_rng(2), ranges=ranges)
    assert len(table) == 2 * 144 * 4
    for name in np.unique(table.cell)[:10]:
        rows = np.flatnonzero(table.cell == name)
        polarity = table.polarity[rows]
        assert (polarity[::2] == Polarity.RESET).all() and (polarity[1::2] == Polarity.SET).all()
        # the SET starts from the read after its RESET, the full RESET with the gate fully on
        np.testing.assert_array_equal(table.g_before[rows[1::2]], table.g_after[rows[::2]])
        np.testing.assert_array_equal(table.gate[rows[::2]], 3.5)
    assert np.median(table.g_before[table.polarity == Polarity.SET]) < 25e-6


def test_repeats_give_each_cell_each_setting_that_many_times_in_a_row():
    ranges = PulseRanges(start="hrs", repeats=3, hrs_reset=ResetPulse(2.0, 2e-7), **GATES)
    table = characterize(one_t_one_r(), 144 * 6, np.random.default_rng(3), ranges=ranges)
    sets = table.subset(np.flatnonzero(table.polarity == Polarity.SET))
    for name in np.unique(sets.cell)[:20]:
        gate = sets.gate[sets.cell == name]
        assert gate.size == 6
        assert np.unique(gate[:3]).size == 1 and np.unique(gate[3:]).size == 1
        assert gate[0] != gate[3]


@pytest.mark.parametrize("ranges, words", [
    (PulseRanges(set_gate_V=(1.0, 3.5), reset_gate_V=(3.5, 3.5)), "set_gate_V"),
    (PulseRanges(set_gate_V=(1.0, 2.0), reset_gate_V=(3.5, 4.5)), "reset_gate_V"),
    (PulseRanges(set_gate_V=(2.0, 1.0), reset_gate_V=(3.5, 3.5)), "low exceeds high"),
    (PulseRanges(set_gate_V=(1.0, 2.0)), "together"),
    (PulseRanges(repeats=0), "repeats"),
])
def test_gates_outside_the_limits_fail_before_any_pulse(ranges, words):
    xb = CountingCrossbar()
    with pytest.raises(ConfigError, match=words):
        characterize(xb, 10, np.random.default_rng(0), ranges=ranges)
    assert xb.applied == [] and xb.reads == 0


def test_zero_volt_gates_are_allowed_where_the_limits_start_at_zero():
    ranges = PulseRanges(set_V=(2.0, 2.0), set_gate_V=(0.0, 0.0), reset_gate_V=(3.5, 3.5),
                         start="hrs", hrs_reset=ResetPulse(2.0, 2e-7))
    table = characterize(one_t_one_r(), 144, np.random.default_rng(4), ranges=ranges)
    sets = table.polarity == Polarity.SET
    np.testing.assert_array_equal(table.gate[sets], 0.0)
    # a transistor that is off passes no current: no SET switches
    assert (table.g_after[sets] < 1.5 * table.g_before[sets]).all()
