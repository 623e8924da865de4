"""One-shot and planned write-verify: what they pulse, what they count, what planners see."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, Crossbar, Polarity, PulseBatch, SafetyLimitError
from hilctl.protocols import OneShot, PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.protocols.planner import PlannedPulses, PulsePlanner
from hilctl.protocols.settings import ResetPulse
from hilctl.simulated_backend import OraclePlanner, SimulatedCrossbar

SHAPE = (16, 16)


class RecordingCrossbar(Crossbar):
    """A simulated array that remembers every batch it was asked to apply."""

    def __init__(self, seed: int = 0) -> None:
        self.sim = SimulatedCrossbar(SHAPE, seed=seed)
        super().__init__(SHAPE, self.sim.limits)
        self.batches: list[PulseBatch] = []

    def _apply(self, pulses: PulseBatch) -> None:
        self.batches.append(pulses)
        self.sim.apply(pulses)

    def _read(self, cells: Cells):
        return self.sim.read(cells)

    def _make_safe(self) -> None:
        self.sim.close()

    def sim_true_conductance(self, cells: Cells) -> np.ndarray:
        return self.sim.sim_true_conductance(cells)


class FixedPlanner(PulsePlanner):
    """Always the same pulse in the needed direction; records every observe() call."""

    def __init__(self, amplitude=1.2, width=100e-9, clamped=False) -> None:
        self.amplitude, self.width, self.clamped = amplitude, width, clamped
        self.observed: list[tuple] = []

    def plan(self, cells, present, target):
        n = len(cells)
        polarity = np.where(target > present, Polarity.SET, Polarity.RESET)
        return PlannedPulses(polarity, np.full(n, self.amplitude), np.full(n, self.width),
                             np.full(n, self.clamped))

    def observe(self, cells, pulses, before, after):
        self.observed.append((cells, pulses, before.copy(), after.copy()))


def _targets(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(5e-6, 35e-6, SHAPE[0] * SHAPE[1])


def test_one_shot_pulses_each_cell_exactly_once_and_does_not_correct():
    crossbar = RecordingCrossbar()
    cells = Cells.all(SHAPE)
    result = program(OneShot(FixedPlanner(), block_reset=False), crossbar, cells, _targets(),
                     StopRules(Tolerance(0.01), max_pulses=50))
    assert len(crossbar.batches) == 1
    flat = crossbar.batches[0].cells.flat(SHAPE)
    assert np.array_equal(np.sort(flat), np.arange(len(cells)))
    assert np.all(result.pulses == 1) and result.rounds == 1
    assert not result.success.all() and not result.failed.any()
    assert not result.block_reset


def test_block_reset_comes_first_and_counts_in_time_and_energy():
    cells = Cells.all(SHAPE)
    runs = {}
    for block_reset in (False, True):
        crossbar = RecordingCrossbar()
        protocol = OneShot(FixedPlanner(), block_reset=block_reset,
                           reset=ResetPulse(width_s=10e-6))
        runs[block_reset] = (program(protocol, crossbar, cells, _targets()), crossbar)
    result, crossbar = runs[True]
    reset = crossbar.batches[0]
    assert len(crossbar.batches) == 2 and np.all(reset.polarity == Polarity.RESET)
    assert len(reset) == len(cells) and result.block_reset
    plain = runs[False][0]
    assert result.pulse_time_s - plain.pulse_time_s == pytest.approx(len(cells) * 10e-6)
    assert result.energy_J > plain.energy_J
    assert np.all(result.pulses == 1)


def test_block_reset_outside_the_limits_is_refused_before_any_pulse():
    crossbar = RecordingCrossbar()
    with pytest.raises(ConfigError, match=r"one-shot.reset_V = 9 V .*limits.reset_max_V"):
        program(OneShot(FixedPlanner(), reset=ResetPulse(amplitude_V=9.0)), crossbar,
                Cells.all(SHAPE), _targets())
    assert crossbar.batches == []


def test_planned_write_verify_with_the_oracle_converges_in_few_pulses():
    crossbar = SimulatedCrossbar(SHAPE, seed=2)
    result = program(PlannedWriteVerify(OraclePlanner(crossbar)), crossbar, Cells.all(SHAPE),
                     _targets(), StopRules(Tolerance(0.02)))
    healthy = crossbar.population.stuck == 0
    assert result.success[healthy].mean() > 0.97
    assert result.pulses[healthy].mean() < 4
    assert not result.success[~healthy].any()


def test_observe_sees_each_rounds_cells_pulses_and_reads():
    crossbar = SimulatedCrossbar(SHAPE, seed=3)
    planner = FixedPlanner(width=200e-9)
    cells = Cells.all(SHAPE)
    rounds = []
    program(PlannedWriteVerify(planner), crossbar, cells, _targets(),
            StopRules(Tolerance(0.05), max_pulses=4), observer=rounds.append)
    pulsed = [r for r in rounds if r.pulses is not None]
    assert len(planner.observed) == len(pulsed) == 4
    reads = rounds[0].reading.copy()
    for (seen_cells, pulses, before, after), record in zip(planner.observed, pulsed, strict=True):
        assert np.array_equal(seen_cells.flat(SHAPE), record.pulses.cells.flat(SHAPE))
        assert np.array_equal(pulses.polarity, record.pulses.polarity)
        assert np.array_equal(pulses.width, record.pulses.width)
        assert np.array_equal(before, reads[record.index])
        assert np.array_equal(after, record.reading)
        reads[record.index] = record.reading


def test_cells_that_stop_answering_clamped_pulses_fail_by_the_stall_rule():
    crossbar = SimulatedCrossbar(SHAPE, seed=4)
    below_threshold = FixedPlanner(amplitude=0.3, clamped=True)
    rules = StopRules(Tolerance(0.05), max_pulses=50, stall_pulses=3)
    result = program(PlannedWriteVerify(below_threshold), crossbar, Cells.all(SHAPE),
                     _targets(), rules)
    assert result.failed.all()
    assert np.all(result.pulses == 3)


def test_unsafe_planned_pulses_are_stopped_before_anything_is_applied():
    crossbar = SimulatedCrossbar(SHAPE, seed=5)
    state = crossbar.sim_state()
    too_strong = FixedPlanner(amplitude=crossbar.limits.set_max_V * 2)
    with pytest.raises(SafetyLimitError, match="exceeds"):
        program(PlannedWriteVerify(too_strong), crossbar, Cells.all(SHAPE), _targets())
    np.testing.assert_array_equal(crossbar.sim_state(), state)


def test_a_fresh_planned_protocol_resumes_a_stored_run():
    crossbar = SimulatedCrossbar(SHAPE, seed=6)
    cells = Cells.all(SHAPE)
    rounds = []
    program(PlannedWriteVerify(OraclePlanner(crossbar)), crossbar, cells, _targets(),
            StopRules(Tolerance(0.05), max_pulses=1), observer=rounds.append)
    state = rounds[-1].state
    assert not state.done.all()
    resumed = program(PlannedWriteVerify(OraclePlanner(crossbar)), crossbar, cells, _targets(),
                      StopRules(Tolerance(0.05)), state=state)
    assert resumed.pulses.max() > 1
    assert resumed.success[crossbar.population.stuck == 0].mean() > 0.97


class GatelessPlanner(FixedPlanner):
    """Plans no gate, and keeps every record it returned."""

    def __init__(self) -> None:
        super().__init__(width=200e-9)
        self.planned: list[PlannedPulses] = []

    def plan(self, cells, present, target):
        self.planned.append(super().plan(cells, present, target))
        return self.planned[-1]


def test_observe_gets_back_the_planners_own_record_while_the_rig_gets_the_default_gate():
    crossbar = RecordingCrossbar(seed=3)
    planner = GatelessPlanner()
    program(PlannedWriteVerify(planner, gate_V=1.5), crossbar, Cells.all(SHAPE), _targets(),
            StopRules(Tolerance(0.05), max_pulses=3))
    assert len(planner.observed) == len(planner.planned) == 3
    for (_, seen, _, _), planned, sent in zip(planner.observed, planner.planned,
                                              crossbar.batches, strict=True):
        assert seen.gate is None
        for name in ("polarity", "amplitude", "width", "at_limit"):
            assert np.array_equal(getattr(seen, name), getattr(planned, name)), name
        assert np.array_equal(sent.gate, np.full(len(sent), 1.5))
