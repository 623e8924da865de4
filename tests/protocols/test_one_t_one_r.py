"""write-verify-wl and fppv on a 1T1R array, with the 2-bit bands labs use."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, Polarity
from hilctl.protocols import StopRules, program
from hilctl.protocols.fppv import FixedPulseVerify, LevelGates
from hilctl.protocols.settings import ResetPulse
from hilctl.protocols.tolerance import Bands
from hilctl.protocols.write_verify_wl import GateIspp

from .gate_array import G_MAX, SLOPE, V_TH, GateArray

# The four 2-bit bands of a 1T1R HfOx array (L0 and L3 one-sided, closed at the device range).
BANDS = Bands(("L0", "L1", "L2", "L3"), np.array([200e-6, 166.4e-6, 107.4e-6, 0.0]),
              np.array([G_MAX, 173.3e-6, 117.5e-6, 12.5e-6]))


def _two_bit_run(protocol, xb, max_pulses=60):
    cells = Cells.all(xb.shape)
    levels = np.arange(len(cells)) % 4
    result = program(protocol, xb, cells, BANDS.targets_S[levels],
                     StopRules(BANDS, max_pulses=max_pulses))
    return result, levels


def test_gate_ispp_brings_every_level_into_its_own_band():
    xb = GateArray()
    result, levels = _two_bit_run(GateIspp(gate_start_V=1.1, gate_step_V=0.02), xb)
    per_level = result.per_level(BANDS)
    assert all(per_level[n]["success_rate"] == 1.0 for n in BANDS.names)
    inside = (BANDS.lower_S[levels] <= result.final_read) & (result.final_read
                                                             <= BANDS.upper_S[levels])
    assert np.array_equal(inside, result.success)
    # L3 is reached by the block RESET alone; the ramp costs L0 the most pulses.
    assert per_level["L3"]["pulses_mean"] == 0
    assert per_level["L0"]["pulses_mean"] > per_level["L2"]["pulses_mean"]


def test_gate_ispp_steps_the_gate_at_a_fixed_bit_line_amplitude():
    xb = GateArray(shape=(1, 1), spread=0, noise=0)
    program(GateIspp(set_V=1.1, gate_start_V=1.0, gate_step_V=0.05), xb, Cells.all((1, 1)),
            BANDS.targets_S[[2]], StopRules(BANDS))
    reset, *sets = xb.batches
    assert reset.polarity[0] == Polarity.RESET and reset.gate[0] == 3.0
    assert all(b.polarity[0] == Polarity.SET and b.amplitude[0] == 1.1 for b in sets)
    assert np.allclose(np.diff([b.gate[0] for b in sets]), 0.05)


@pytest.mark.parametrize("corrections", [False, True])
def test_an_overshoot_is_taken_back_by_a_restart_or_reset_steps(corrections):
    # A coarse gate step overshoots L1's narrow band; the protocol must still get there.
    xb = GateArray(shape=(4, 4), spread=0.05, noise=0.02, seed=3)
    protocol = GateIspp(gate_step_V=0.05, restart_back_V=0.1,
                        reset_step_V=0.02 if corrections else None, reset_start_V=0.61)
    cells = Cells.all(xb.shape)
    result = program(protocol, xb, cells, np.full(len(cells), BANDS.targets_S[1]),
                     StopRules(BANDS, max_pulses=200))
    resets = [b for b in xb.batches[1:] if (b.polarity == Polarity.RESET).any()]
    assert resets, "some cell overshot"
    assert result.success.all()
    if corrections:
        amplitudes = np.concatenate([b.amplitude[b.polarity == Polarity.RESET] for b in resets])
        assert amplitudes.max() < 2.0  # corrections, never the full RESET


def _pulses_of(xb, cell):
    return [(b.polarity[i], b.gate[i]) for b in xb.batches[1:]
            for i in np.flatnonzero(b.cells.flat(xb.shape) == cell)]


def _level_gates():
    gates = V_TH + BANDS.targets_S / SLOPE
    gates[0] = V_TH + 1.15 * BANDS.lower_S[0] / SLOPE  # L0: safely above its lower bound
    gates[3] = 1.0
    return gates


def test_fppv_alternates_reset_and_set_at_the_levels_gate():
    xb = GateArray(spread=0.0, noise=0.02, seed=1)
    gates = _level_gates()
    result, levels = _two_bit_run(FixedPulseVerify(LevelGates(BANDS.targets_S, gates),
                                                   max_tries=10), xb)
    per_level = result.per_level(BANDS)
    assert per_level["L0"]["success_rate"] == 1.0 and per_level["L2"]["success_rate"] == 1.0
    assert per_level["L1"]["success_rate"] > 0.9
    # A SET per try and a RESET between tries: an odd count; L3 is in band after the block RESET.
    assert (result.pulses[levels != 3] % 2 == 1).all() and (result.pulses[levels == 3] == 0).all()
    cell = int(np.flatnonzero((levels == 1) & (result.pulses >= 3))[0])
    seen = _pulses_of(xb, cell)
    assert [p for p, _ in seen][:3] == [Polarity.SET, Polarity.RESET, Polarity.SET]
    assert seen[0][1] == seen[2][1] == pytest.approx(gates[1])


def test_fppv_resets_only_after_an_overshoot_when_told_so():
    xb = GateArray(spread=0.0, noise=0.02, seed=1)
    gates = _level_gates()
    result, levels = _two_bit_run(FixedPulseVerify(LevelGates(BANDS.targets_S, gates),
                                                   max_tries=10, reset_on_undershoot=False), xb)
    assert result.per_level(BANDS)["L1"]["success_rate"] > 0.9
    # Replay each L1 cell's reads: a RESET comes right after a SET that overshot, and only
    # then (a SET never lowers a cell, so an undershoot is SET again without one).
    both_kinds = set()
    for cell in np.flatnonzero(levels == 1):
        seen = _pulses_of(xb, cell)
        assert seen[0] == (Polarity.SET, pytest.approx(gates[1]))
        sets = [g for p, g in seen if p == Polarity.SET]
        assert sets == pytest.approx([gates[1]] * len(sets))
        for before, after in zip(seen, seen[1:], strict=False):
            if before[0] == Polarity.SET and after[0] == Polarity.RESET:
                both_kinds.add("overshoot")
            elif before[0] == after[0] == Polarity.SET:
                both_kinds.add("undershoot")
    assert both_kinds == {"overshoot", "undershoot"}


def test_fppv_nudges_a_cell_that_misses_its_band_towards_it():
    # No cycle-to-cycle noise: one fixed gate misses the same devices every try (their gain
    # is their own); the per-cell nudge brings them in.
    gates = _level_gates()
    fixed, nudged = ([_two_bit_run(FixedPulseVerify(LevelGates(BANDS.targets_S, gates),
                                                    max_tries=15, nudge_V=nudge),
                                   GateArray(spread=0.1, noise=0.0, seed=2))[0]
                      for nudge in (None, 0.01)])
    assert fixed.per_level(BANDS)["L1"]["success_rate"] < 0.5
    assert all(v["success_rate"] == 1.0 for v in nudged.per_level(BANDS).values())


def test_fppv_keeps_to_its_budget_of_tries():
    xb = GateArray(spread=0.0, noise=0.0)
    never = LevelGates(BANDS.targets_S, np.full(4, 1.0))  # lands at 40 uS, in no band but L3's
    result, levels = _two_bit_run(FixedPulseVerify(never, max_tries=3), xb)
    assert (result.pulses[levels != 3] == 5).all() and not result.success[levels != 3].any()


def test_settings_outside_the_limits_are_refused_in_one_format_before_any_pulse():
    xb = GateArray()
    with pytest.raises(ConfigError, match=r"wl.gate_max_V = 9 V is outside \(0, 3.3\] V "
                       r"\(limits.gate_set_min_V, limits.gate_set_max_V\)"):
        _two_bit_run(GateIspp(gate_max_V=9.0), xb)
    with pytest.raises(ConfigError, match=r"fppv.reset_width_s = 1 s is outside"):
        _two_bit_run(FixedPulseVerify(LevelGates(BANDS.targets_S, np.ones(4)),
                                      reset=ResetPulse(2.0, 1.0, 3.0)), xb)
    assert xb.batches == []


def test_bands_refuse_overlap_emptiness_and_stray_targets():
    with pytest.raises(ConfigError, match="'a' and 'b' overlap"):
        Bands(("a", "b"), np.array([1e-6, 2e-6]), np.array([3e-6, 4e-6]))
    with pytest.raises(ConfigError, match="'a' .* is empty"):
        Bands(("a",), np.array([3e-6]), np.array([3e-6]))
    with pytest.raises(ConfigError, match="centre of none"):
        BANDS.half_width(np.array([50e-6]))


def test_an_asymmetric_per_cell_band_is_what_the_engine_judges():
    from hilctl.protocols.tolerance import CellBands

    xb = GateArray(shape=(1, 2), spread=0, noise=0)
    bands = CellBands(np.array([150e-6, 60e-6]), np.array([190e-6, 62e-6]))
    result = program(GateIspp(gate_start_V=1.0, gate_step_V=0.05), xb, Cells.all((1, 2)),
                     bands.targets_S, StopRules(bands, max_pulses=40))
    assert result.success.all()
    assert 150e-6 <= result.final_read[0] <= 190e-6 and 60e-6 <= result.final_read[1] <= 62e-6


def _one_t_one_r(shape=(16, 32), seed=0):
    """The 1T1R cell model itself (the ``hfox-1t1r`` physics, named here so a change of the
    default preset leaves these tests alone), without stuck devices."""
    from hilctl.drivers import SafetyLimits
    from hilctl.simulated_backend.crossbar import SimulatedCrossbar
    from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice, OneTOneRParams

    model = OneTOneRDevice(OneTOneRParams(stuck_fraction=0.0))
    return SimulatedCrossbar(shape, limits=SafetyLimits(), model=model, seed=seed)


def _one_t_one_r_bands(xb):
    top = xb.model.params.g_max_S * xb.model.read_factor(xb.limits.read_V)
    return Bands(BANDS.names, BANDS.lower_S, np.array([top, *BANDS.upper_S[1:]]))


@pytest.mark.parametrize("width_s", [1e-6, 10e-6])
def test_gate_ispp_reset_corrections_reach_the_lowest_level_when_long_enough(width_s):
    # A short block RESET leaves many cells above L3's 12.5 uS; a RESET's floor falls with its
    # width, so corrections as short as the SET (1 us) stay above it and 10 us ones reach it.
    xb = _one_t_one_r()
    bands = _one_t_one_r_bands(xb)
    cells = Cells.all(xb.shape)
    protocol = GateIspp(set_V=2.0, gate_start_V=1.58, gate_step_V=0.005, gate_max_V=3.3,
                        reset=ResetPulse(2.0, 200e-9, 3.5), reset_start_V=1.5,
                        reset_step_V=0.1, reset_gate_V=3.5, reset_width_s=width_s)
    result = program(protocol, xb, cells, np.full(len(cells), bands.targets_S[3]),
                     StopRules(bands, max_pulses=20))
    assert (result.initial > 12.5e-6).mean() > 0.2
    if width_s == 10e-6:
        assert result.success.all()
    else:
        assert result.success.mean() < 0.9


def test_gate_ispp_starts_each_level_at_its_own_gate():
    xb = _one_t_one_r()
    bands = _one_t_one_r_bands(xb)
    cells = Cells.all(xb.shape)
    levels = np.arange(len(cells)) % 4
    starts = LevelGates(bands.targets_S, [2.6, 1.70, 1.63, 1.58])
    protocol = GateIspp(set_V=2.0, gate_start_V=1.58, gate_step_V=0.005, gate_max_V=3.3,
                        reset=ResetPulse(2.0, 10e-6, 3.5), reset_start_V=0.8,
                        reset_step_V=0.05, reset_gate_V=3.5, start_gates=starts)
    result = program(protocol, xb, cells, bands.targets_S[levels],
                     StopRules(bands, max_pulses=100))
    per_level = result.per_level(bands)
    assert all(per_level[n]["success_rate"] >= 0.99 for n in bands.names)
    assert per_level["L0"]["pulses_median"] == 1  # no ramp through the gates below 2.6 V


class _SetOnly(LevelGates):
    """A planner that knows only SET, as a gate-sweep table teaches one: it refuses a cell
    that needs a RESET."""

    def plan(self, cells, present, target):
        assert (present < target).all(), "asked to plan a RESET"
        return super().plan(cells, present, target)


def test_fppv_asks_its_planner_for_sets_only():
    xb = GateArray(spread=0.1, noise=0.02, seed=4)
    xb.g[:] = 280e-6  # every cell starts above every band but L0: the block RESET's job
    result, _ = _two_bit_run(FixedPulseVerify(_SetOnly(BANDS.targets_S, _level_gates()),
                                              max_tries=15, nudge_V=0.01), xb)
    assert result.success.mean() > 0.95
