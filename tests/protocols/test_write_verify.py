"""Write-verify protocols: convergence, stopping rules, cost accounting, observers."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, SafetyLimits
from hilctl.protocols import (
    AdaptiveWidth,
    IncrementalStep,
    StopRules,
    Tolerance,
    program,
)
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar


def random_targets(xb, seed=0):
    p = xb.params
    factor = p.read_factor(xb.limits.read_V)
    span = p.g_max_S - p.g_min_S
    lo, hi = p.g_min_S + 0.1 * span, p.g_max_S - 0.1 * span
    return np.random.default_rng(seed).uniform(lo, hi, len(Cells.all(xb.shape))) * factor


@pytest.mark.parametrize("protocol", [IncrementalStep(), AdaptiveWidth()])
def test_write_verify_programs_nearly_every_healthy_cell(protocol):
    xb = SimulatedCrossbar((32, 32), seed=4)
    cells = Cells.all(xb.shape)
    targets = random_targets(xb)
    result = program(protocol, xb, cells, targets)
    healthy = xb.population.stuck == 0
    assert result.success[healthy].mean() >= 0.97
    in_band = np.abs(result.final_read - targets) <= 0.05 * targets
    assert np.array_equal(in_band, result.success)
    assert result.pulses.max() <= 100 and result.rounds == result.pulses.max()
    assert result.true_final is not None


def test_stuck_cells_are_declared_failed_before_the_budget():
    xb = SimulatedCrossbar((32, 32), DeviceParams().replace(stuck_fraction=0.1), seed=2)
    cells = Cells.all(xb.shape)
    targets = random_targets(xb, seed=1)
    stuck = xb.population.stuck
    # a cell stuck at G_max whose target needs a RESET cannot be programmed
    hopeless = (stuck == 1) & (targets < 0.9 * xb.sim_true_conductance(cells))
    result = program(IncrementalStep(), xb, cells, targets)
    assert hopeless.sum() > 10
    assert result.failed[hopeless].all()
    assert result.pulses[hopeless].max() < 100


def test_budget_is_respected_and_absolute_tolerance_is_honoured():
    xb = SimulatedCrossbar((16, 16), seed=3)
    cells = Cells.all(xb.shape)
    targets = random_targets(xb)
    rules = StopRules(Tolerance(relative=None, absolute_S=0.3e-6), max_pulses=7)
    result = program(IncrementalStep(), xb, cells, targets, rules)
    assert result.pulses.max() <= 7
    assert np.array_equal(result.success, np.abs(result.final_read - targets) <= 0.3e-6)


def test_ispp_ramps_amplitude_and_restarts_when_polarity_flips():
    xb = SimulatedCrossbar((8, 8), seed=1)
    cells = Cells.all(xb.shape)
    seen = []
    program(IncrementalStep(), xb, cells, random_targets(xb), observer=seen.append)
    last = {}
    protocol = IncrementalStep()
    for record in seen[1:]:
        for k, i in enumerate(record.index):
            pol, amp = record.pulses.polarity[k], record.pulses.amplitude[k]
            if i in last and last[i][0] == pol:
                top = protocol.set_max_V if pol > 0 else protocol.reset_max_V
                assert amp == pytest.approx(min(last[i][1] + protocol.step_V, top))
            else:
                assert amp == pytest.approx(0.9)
            last[i] = (pol, amp)
            assert record.pulses.width[k] == pytest.approx(100e-9)


def test_observer_sees_every_round_and_cost_adds_up():
    xb = SimulatedCrossbar((16, 16), seed=5)
    cells = Cells.all(xb.shape)
    records = []
    result = program(AdaptiveWidth(), xb, cells, random_targets(xb), observer=records.append)
    assert [r.round for r in records] == list(range(result.rounds + 1))
    assert sum(r.index.size for r in records[1:]) == result.pulses.sum()
    widths = sum(r.pulses.width.sum() for r in records[1:])
    assert result.pulse_time_s == pytest.approx(widths)
    assert result.reads == len(cells) + result.pulses.sum()
    assert result.program_time_s == pytest.approx(widths + result.reads * 1e-6)
    assert result.energy_J > 0


def test_protocol_settings_beyond_the_rig_limits_are_refused_up_front():
    xb = SimulatedCrossbar((4, 4), limits=SafetyLimits(set_max_V=1.5))
    with pytest.raises(ConfigError, match="ispp.set_max_V"):
        program(IncrementalStep(), xb, Cells.all(xb.shape), np.full(16, 1e-5))
    with pytest.raises(ConfigError, match="adaptive.max_width_s"):
        program(AdaptiveWidth(max_width_s=1.0), xb, Cells.all(xb.shape), np.full(16, 1e-5))


def test_summary_reports_false_accepts_from_noisy_reads():
    xb = SimulatedCrossbar((32, 32), DeviceParams().replace(read_noise_relative=0.04), seed=6)
    cells = Cells.all(xb.shape)
    result = program(IncrementalStep(), xb, cells, random_targets(xb))
    summary = result.summary()
    assert summary["falsely_accepted"] > 0
    assert summary["true_success_rate"] < summary["success_rate"]
