"""The shared vocabulary and the safety limits every crossbar enforces before acting."""

import numpy as np
import pytest

from hilctl.drivers import (
    Cells,
    ConfigError,
    Crossbar,
    DataError,
    HilctlError,
    Polarity,
    PulseBatch,
    Reading,
    SafetyLimitError,
    SafetyLimits,
)


class RecordingCrossbar(Crossbar):
    """Records what reached the 'device', to prove unsafe requests never do."""

    def __init__(self, shape=(4, 4), limits=None):
        super().__init__(shape, limits or SafetyLimits())
        self.applied, self.safe_calls = [], 0

    def _apply(self, pulses):
        self.applied.append(pulses)

    def _read(self, cells):
        return Reading(cells, np.full(len(cells), 1e-5), False)

    def _make_safe(self):
        self.safe_calls += 1


def test_cells_round_trip_flat_indices():
    cells = Cells.all((3, 5))
    assert len(cells) == 15
    assert np.array_equal(Cells.from_flat(cells.flat((3, 5)), (3, 5)).rows, cells.rows)
    with pytest.raises(DataError):
        Cells([0, 1], [0])
    with pytest.raises(DataError):
        Cells([0.5], [1])


def test_pulse_batch_broadcasts_scalars_and_rejects_bad_polarity():
    batch = PulseBatch(Cells([0, 1], [0, 1]), Polarity.SET, 1.2, 1e-7)
    assert np.array_equal(batch.signed_voltage, [1.2, 1.2])
    assert np.array_equal(PulseBatch(Cells([0], [0]), -1, 1.5, 1e-7).signed_voltage, [-1.5])
    with pytest.raises(DataError):
        PulseBatch(Cells([0], [0]), 0, 1.0, 1e-7)
    with pytest.raises(DataError):
        PulseBatch(Cells([0, 1], [0, 1]), 1, [1.0, 1.0, 1.0], 1e-7)


@pytest.mark.parametrize("polarity, amplitude, width, words", [
    (1, 2.01, 1e-7, "exceeds the polarity's limit 2.000e+00"),
    (-1, 2.6, 1e-7, "exceeds the polarity's limit 2.500e+00"),
    (1, -0.5, 1e-7, "not a magnitude"),
    (1, np.nan, 1e-7, "not a magnitude"),
    (1, 1.0, 5e-9, "below the width limit"),
    (1, 1.0, 1e-3, "exceeds the width limit"),
])
def test_unsafe_pulse_raises_before_anything_reaches_the_device(polarity, amplitude, width, words):
    xb = RecordingCrossbar()
    batch = PulseBatch(Cells([0, 2], [1, 3]), [1, polarity], [1.0, amplitude], [1e-7, width])
    with pytest.raises(SafetyLimitError) as caught:
        xb.apply(batch)
    assert words in str(caught.value)
    assert "pulse 2 of 2" in str(caught.value) and "cell (2, 3)" in str(caught.value)
    assert xb.applied == []


def test_addresses_outside_the_array_are_refused_for_pulses_and_reads():
    xb = RecordingCrossbar()
    with pytest.raises(SafetyLimitError, match=r"cell \(4, 0\) is outside the 4x4 array"):
        xb.apply(PulseBatch(Cells([4], [0]), 1, 1.0, 1e-7))
    with pytest.raises(SafetyLimitError):
        xb.read(Cells([0], [-1]))
    assert xb.applied == []


GATES = SafetyLimits(gate_set_min_V=0.5, gate_set_max_V=2.0, gate_reset_min_V=1.0,
                     gate_reset_max_V=3.5)


@pytest.mark.parametrize("polarity, gate, words", [
    (Polarity.SET, 2.5, "(SET) to cell (2, 3): 2.500e+00 V gate exceeds the polarity's gate "
                        "limit 2.000e+00 V"),
    (Polarity.SET, 0.2, "(SET) to cell (2, 3): 2.000e-01 V gate is below the polarity's gate "
                        "limit 5.000e-01 V"),
    (Polarity.RESET, 3.6, "(RESET) to cell (2, 3): 3.600e+00 V gate exceeds"),
    (Polarity.RESET, 0.8, "(RESET) to cell (2, 3): 8.000e-01 V gate is below"),
    (Polarity.SET, np.nan, "gate is below"),
])
def test_gate_voltage_is_limited_per_polarity(polarity, gate, words):
    xb = RecordingCrossbar(limits=GATES)
    batch = PulseBatch(Cells([0, 2], [1, 3]), [1, polarity], 1.0, 1e-7, gate=[1.5, gate])
    with pytest.raises(SafetyLimitError) as caught:
        xb.apply(batch)
    assert "pulse 2 of 2" in str(caught.value) and words in str(caught.value)
    assert xb.applied == []


def test_gate_inside_each_polaritys_range_passes_and_default_allows_a_full_reset_gate():
    xb = RecordingCrossbar(limits=GATES)
    xb.apply(PulseBatch(Cells([0, 1], [0, 0]), [1, -1], 1.0, 1e-7, gate=[2.0, 3.5]))
    RecordingCrossbar().apply(PulseBatch(Cells([0], [0]), -1, 1.0, 1e-7, gate=[3.5]))
    assert len(xb.applied) == 1


def test_limits_reject_nonsense_configuration():
    with pytest.raises(ConfigError, match="limits.set_max_V"):
        SafetyLimits(set_max_V=-1.0)
    with pytest.raises(ConfigError, match="width_min_s"):
        SafetyLimits(width_min_s=1e-3, width_max_s=1e-6)
    with pytest.raises(ConfigError, match="read_V"):
        SafetyLimits(read_V=0.8, read_max_V=0.5)
    with pytest.raises(ConfigError, match="limits.gate_set_min_V = 2 V exceeds"):
        SafetyLimits(gate_set_min_V=2.0, gate_set_max_V=1.0)
    with pytest.raises(ConfigError, match="limits.gate_reset_min_V = -1.*>= 0"):
        SafetyLimits(gate_reset_min_V=-1.0)


def test_context_manager_leaves_the_rig_safe_on_error_and_ctrl_c():
    xb = RecordingCrossbar()
    with pytest.raises(RuntimeError):
        with xb:
            raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt):
        with xb:
            raise KeyboardInterrupt
    with xb:
        pass
    assert xb.safe_calls == 3


def test_errors_inherit_the_builtins_they_refine():
    assert issubclass(SafetyLimitError, ValueError) and issubclass(SafetyLimitError, HilctlError)
    from hilctl.drivers import InstrumentTimeout

    assert issubclass(InstrumentTimeout, TimeoutError)
