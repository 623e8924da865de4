"""The same ``Crossbar`` checks on the in-process simulator and on the emulated instrument rigs
(2600 and 2400 paths, reached through pyvisa and pyserial)."""

import numpy as np
import pytest

from hilctl import protocols
from hilctl.assemble import open_rig
from hilctl.drivers import Cells, Crossbar, PulseBatch, SafetyLimitError, SafetyLimits
from hilctl.rig_config import rig_config_from_table
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.simulated_backend.device_model import ParametricDevice
from hilctl.simulated_backend.emulators import EmulatedRig

SHAPE = (6, 6)
SEED = 3
LIMITS = SafetyLimits()
BACKENDS = ["simulated", "rig-2600", "rig-2400"]


class GateCompliance(ParametricDevice):
    """A stand-in 1T1R cell: a SET never takes the state above ``gate / 3.3 V`` of its range
    (the transistor's compliance), so a gate lost on the way shows in the conductance."""

    def switch(self, flat, x, volts, width, gate, noise):
        new = super().switch(flat, x, volts, width, gate, noise)
        if gate is None:
            return new
        return np.where(volts > 0, np.minimum(new, np.maximum(x, gate / 3.3)), new)


def _backends(name, model):
    """Yield (crossbar, emulated rig or None) of backend ``name`` with devices ``model``."""
    if name == "simulated":
        yield SimulatedCrossbar(SHAPE, limits=LIMITS, seed=SEED, model=model), None
        return
    with EmulatedRig(SHAPE, seed=SEED, smu=name.split("-")[1], model=model) as rig:
        crossbar = open_rig(rig_config_from_table(rig.rig_table(LIMITS)))
        with crossbar:
            yield crossbar, rig


@pytest.fixture(params=BACKENDS)
def backend(request):
    """(crossbar, emulated rig or None)."""
    yield from _backends(request.param, None)


@pytest.fixture(params=BACKENDS)
def gated_backend(request):
    """(crossbar, emulated rig or None) over 1T1R stand-in cells (``GateCompliance``)."""
    yield from _backends(request.param, GateCompliance())


def test_shape_limits_and_reading_form(backend):
    crossbar, _ = backend
    assert isinstance(crossbar, Crossbar)
    assert crossbar.shape == SHAPE and crossbar.limits == LIMITS
    cells = Cells.all(SHAPE)
    reading = crossbar.read(cells)
    assert len(reading) == len(cells) and reading.compliance.dtype == bool
    assert np.all((reading.conductance > 0.1e-6) & (reading.conductance < 100e-6))
    assert len(crossbar.read(Cells(np.array([], int), np.array([], int)))) == 0


def test_set_raises_and_reset_lowers_conductance(backend):
    crossbar, _ = backend
    cells = Cells(np.arange(6), np.arange(6))
    before = crossbar.read(cells).conductance
    crossbar.apply(PulseBatch(cells, 1, 1.6, 2e-6))
    after_set = crossbar.read(cells).conductance
    crossbar.apply(PulseBatch(cells, -1, 2.0, 20e-6))
    after_reset = crossbar.read(cells).conductance
    healthy = after_set > 2 * before
    assert healthy.sum() >= 5
    assert np.all(after_reset[healthy] < 0.5 * after_set[healthy])


def test_unsafe_requests_raise_before_anything_reaches_the_array(backend):
    crossbar, rig = backend
    cells = Cells(np.array([0, 1]), np.array([0, 1]))
    pulses_before = rig.array.pulses_applied if rig else None
    with pytest.raises(SafetyLimitError, match="exceeds the polarity's limit"):
        crossbar.apply(PulseBatch(cells, np.array([1, -1]), np.array([1.0, 2.6]), 1e-7))
    with pytest.raises(SafetyLimitError, match="outside the 6x6 array"):
        crossbar.read(Cells(np.array([6]), np.array([0])))
    if rig:
        assert rig.array.pulses_applied == pulses_before


def test_leaving_the_with_block_leaves_the_rig_safe(backend):
    crossbar, rig = backend
    with crossbar:
        crossbar.apply(PulseBatch(Cells(np.array([0]), np.array([0])), 1, 1.2, 1e-7))
    if rig:
        assert not rig.smu.output
        assert rig.array.selected is None and not rig.array.sequence


def test_write_verify_success_rate(backend):
    crossbar, _ = backend
    cells = Cells.all(SHAPE)
    targets = np.random.default_rng(0).uniform(5e-6, 30e-6, len(cells))
    result = protocols.program(protocols.IncrementalStep(), crossbar, cells, targets,
                               protocols.StopRules(max_pulses=60))
    assert result.success.mean() >= 0.85


def test_2600_rig_reads_what_the_in_process_simulator_reads():
    """Same seed, same calls: the 2600 path changes nothing but the transport."""
    simulated = SimulatedCrossbar(SHAPE, limits=LIMITS, seed=SEED)
    cells = Cells.all(SHAPE)
    pulses = PulseBatch(cells, 1, np.linspace(1.0, 1.8, len(cells)), 1e-6)
    with EmulatedRig(SHAPE, seed=SEED, smu="2600") as rig:
        with open_rig(rig_config_from_table(rig.rig_table(LIMITS))) as crossbar:
            got = [crossbar.read(cells).conductance]
            crossbar.apply(pulses)
            got.append(crossbar.read(cells).conductance)
    expected = [simulated.read(cells).conductance]
    simulated.apply(pulses)
    expected.append(simulated.read(cells).conductance)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_the_gate_limits_the_level_a_set_reaches(gated_backend):
    crossbar, _ = gated_backend
    cells = Cells(np.arange(6), np.arange(6))
    crossbar.apply(PulseBatch(cells, -1, 2.0, 20e-6, gate=np.full(6, 3.3)))
    low = crossbar.read(cells).conductance
    gate = np.array([0.6, 0.6, 0.6, 3.3, 3.3, 3.3])
    crossbar.apply(PulseBatch(cells, 1, 1.8, 10e-6, gate=gate))
    high = crossbar.read(cells).conductance
    healthy = high > 1.5 * low
    throttled, open_gate = healthy & (gate < 1), healthy & (gate > 1)
    assert throttled.sum() >= 2 and open_gate.sum() >= 2
    assert high[throttled].max() < 0.6 * high[open_gate].min()


def test_a_gated_pulse_on_the_2600_rig_reads_what_the_simulator_reads():
    """The gate reaches the devices behind the wire exactly as it reaches them in-process."""
    cells = Cells.all(SHAPE)
    gate = np.linspace(0.4, 3.3, len(cells))
    pulses = PulseBatch(cells, 1, np.linspace(1.0, 1.8, len(cells)), 1e-6, gate=gate)
    simulated = SimulatedCrossbar(SHAPE, limits=LIMITS, seed=SEED, model=GateCompliance())
    simulated.apply(pulses)
    expected = simulated.read(cells).conductance
    with EmulatedRig(SHAPE, seed=SEED, smu="2600", model=GateCompliance()) as rig:
        with open_rig(rig_config_from_table(rig.rig_table(LIMITS))) as crossbar:
            crossbar.apply(pulses)
            got = crossbar.read(cells).conductance
    np.testing.assert_allclose(got, expected, rtol=1e-5)
