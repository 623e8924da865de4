"""Characterization: random pulses, batched, covering the whole conductance range."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, Crossbar, Polarity, PulseBatch
from hilctl.protocols.characterize import PulseRanges, characterize
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar

SHAPE = (16, 16)


class CountingCrossbar(Crossbar):
    """A simulated array that counts apply/read calls and the batch sizes it was given."""

    def __init__(self, seed: int = 0) -> None:
        self.sim = SimulatedCrossbar(SHAPE, seed=seed)
        super().__init__(SHAPE, self.sim.limits)
        self.applied: list[PulseBatch] = []
        self.reads = 0

    def _apply(self, pulses):
        self.applied.append(pulses)
        self.sim.apply(pulses)

    def _read(self, cells):
        self.reads += 1
        return self.sim.read(cells)

    def _make_safe(self):
        self.sim.close()


def test_rows_record_each_pulse_with_reads_before_and_after():
    xb = CountingCrossbar()
    table = characterize(xb, 1000, np.random.default_rng(0))
    assert len(table) == 1000
    polarity = np.concatenate([b.polarity for b in xb.applied])
    width = np.concatenate([b.width for b in xb.applied])
    np.testing.assert_array_equal(table.polarity, polarity)
    np.testing.assert_array_equal(table.width, width)
    # The read after a cell's pulse is the read before its next pulse.
    for name in np.unique(table.cell)[:20]:
        rows = np.flatnonzero(table.cell == name)
        np.testing.assert_array_equal(table.g_before[rows[1:]], table.g_after[rows[:-1]])
    assert np.isnan(table.gate).all()


def test_batched_rounds_of_distinct_cells():
    xb = CountingCrossbar()
    characterize(xb, 600, np.random.default_rng(1), batch=100)
    assert [len(b) for b in xb.applied] == [100] * 6
    for batch in xb.applied:
        flat = batch.cells.flat(SHAPE)
        assert np.unique(flat).size == flat.size
    assert xb.reads == 1 + 6  # one initial read of all cells, then one per round


def test_pulses_stay_in_the_ranges_width_log_uniform():
    xb = CountingCrossbar()
    ranges = PulseRanges(set_V=(0.9, 1.6), reset_V=(1.0, 1.8), width_s=(20e-9, 20e-6))
    table = characterize(xb, 4000, np.random.default_rng(2), ranges=ranges)
    is_set = table.polarity == Polarity.SET
    assert 0.9 <= table.amplitude[is_set].min() and table.amplitude[is_set].max() <= 1.6
    assert 1.0 <= table.amplitude[~is_set].min() and table.amplitude[~is_set].max() <= 1.8
    assert 20e-9 <= table.width.min() and table.width.max() <= 20e-6
    decades = np.log10(table.width / 20e-9)
    counts = np.histogram(decades, bins=3, range=(0, 3))[0]
    assert counts.min() > 0.8 * counts.max()  # about equal per decade


def test_low_and_high_states_are_both_well_sampled():
    xb = SimulatedCrossbar((32, 32), seed=3)
    table = characterize(xb, 8000, np.random.default_rng(3))
    params = xb.params
    span = params.g_max_S - params.g_min_S
    low = table.g_before < params.g_min_S + 0.25 * span
    high = table.g_before > params.g_min_S + 0.75 * span
    assert low.mean() > 0.15 and high.mean() > 0.15
    assert (table.polarity == Polarity.SET).mean() == pytest.approx(0.5, abs=0.1)


def test_same_seed_same_table():
    def table(seed):
        return characterize(SimulatedCrossbar(SHAPE, seed=0), 500, np.random.default_rng(seed))

    a, b, c = table(7), table(7), table(8)
    np.testing.assert_array_equal(a.g_after, b.g_after)
    assert not np.array_equal(a.width, c.width)


def test_subset_of_cells_only():
    xb = CountingCrossbar()
    cells = Cells(np.array([0, 1, 2]), np.array([5, 5, 5]))
    table = characterize(xb, 30, np.random.default_rng(0), cells=cells)
    assert set(table.cell) == {"0:5", "1:5", "2:5"}


@pytest.mark.parametrize("kwargs, words", [
    ({"n_pulses": 0}, "n_pulses"),
    ({"ranges": PulseRanges(set_V=(0.8, 2.5))}, "set_V"),
    ({"ranges": PulseRanges(width_s=(1e-9, None))}, "width_s"),
    ({"ranges": PulseRanges(reset_V=(2.0, 1.0))}, "reset_V"),
    ({"batch": 0}, "batch"),
])
def test_unsafe_or_empty_requests_fail_before_any_pulse(kwargs, words):
    xb = CountingCrossbar()
    args = {"n_pulses": 10, **kwargs}
    with pytest.raises(ConfigError, match=words):
        characterize(xb, rng=np.random.default_rng(0), **args)
    assert xb.applied == []


def test_reads_at_or_below_zero_are_left_out_not_fatal():
    # devices whose low state sits inside the read-noise floor read <= 0 S now and then
    params = DeviceParams().replace(g_min_S=1e-9, read_noise_floor_S=2e-8, stuck_fraction=0.0)
    crossbar = SimulatedCrossbar((16, 16), params, seed=3)
    table = characterize(crossbar, 4000, np.random.default_rng(0))
    assert 0 < len(table) < 4000
    assert (table.g_before > 0).all() and (table.g_after > 0).all()
