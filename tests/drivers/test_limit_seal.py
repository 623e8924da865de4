"""A batch the limits passed is not checked again, yet an unchecked or changed batch is."""

import numpy as np
import pytest

from hilctl.drivers import Cells, PulseBatch, SafetyLimitError, SafetyLimits
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.simulated_backend.presets import device_for, load_preset

SHAPE = (4, 4)


def _crossbar() -> SimulatedCrossbar:
    return SimulatedCrossbar(SHAPE, model=device_for(load_preset("hfox-1r")), seed=0)


def _batch(amplitude: float = 1.2) -> PulseBatch:
    return PulseBatch(Cells.all(SHAPE), 1, amplitude, 1e-6)


def test_a_passed_batch_is_sealed_for_its_limits_and_shape_only():
    crossbar, batch = _crossbar(), _batch()
    assert not batch.checked_for(crossbar.limits, SHAPE)
    crossbar.apply(batch)
    assert batch.checked_for(crossbar.limits, SHAPE)
    assert not batch.checked_for(SafetyLimits(set_max_V=1.0), SHAPE)
    assert not batch.checked_for(crossbar.limits, (8, 8))
    with pytest.raises(SafetyLimitError, match="exceeds the polarity's limit"):
        SafetyLimits(set_max_V=1.0).check_pulses(batch, SHAPE)


def test_an_unchecked_unsafe_batch_is_refused_before_any_device_changes():
    crossbar = _crossbar()
    before = crossbar.sim_state()
    with pytest.raises(SafetyLimitError, match="pulse 1 of 16"):
        crossbar.apply(_batch(amplitude=9.0))
    np.testing.assert_array_equal(crossbar.sim_state(), before)


def test_a_sealed_batch_cannot_be_changed_in_place():
    crossbar, batch = _crossbar(), _batch()
    crossbar.apply(batch)
    with pytest.raises(ValueError, match="read-only"):
        batch.amplitude[0] = 9.0
    with pytest.raises(ValueError, match="read-only"):
        batch.cells.rows[0] = 99


def test_a_tampered_batch_loses_its_seal_and_is_refused():
    crossbar, batch = _crossbar(), _batch()
    crossbar.apply(batch)
    object.__setattr__(batch, "amplitude", np.full(len(batch), 9.0))
    assert not batch.checked_for(crossbar.limits, SHAPE)
    with pytest.raises(SafetyLimitError, match="9.000e\\+00 V exceeds"):
        crossbar.apply(batch)
    object.__setattr__(batch, "amplitude", np.full(len(batch), np.nan))
    with pytest.raises(SafetyLimitError, match="not a magnitude"):
        crossbar.apply(batch)


def test_cells_outside_the_array_are_refused_even_as_a_subset_of_checked_cells():
    crossbar = _crossbar()
    crossbar.read(Cells.all(SHAPE))
    stray = Cells(np.array([0, 4]), np.array([0, 0]))
    with pytest.raises(SafetyLimitError, match=r"cell \(4, 0\) is outside the 4x4 array"):
        crossbar.read(stray.subset(np.array([1])))
    with pytest.raises(SafetyLimitError, match="outside"):
        crossbar.apply(PulseBatch(stray, 1, 1.2, 1e-6))
