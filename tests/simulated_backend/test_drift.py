"""Drift of device parameters with cycling and time: off by default, a random walk when on."""

import numpy as np

from hilctl.drivers import Cells, Polarity, PulseBatch, SafetyLimits
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar
from hilctl.simulated_backend.device_model import ParametricDevice
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice, OneTOneRParams

SHAPE = (8, 16)


def pulses(cells: Cells, k: int, gate=None) -> PulseBatch:
    rng = np.random.default_rng(k)
    polarity = np.where(rng.random(len(cells)) < 0.5, Polarity.SET, Polarity.RESET)
    return PulseBatch(cells, polarity, np.where(polarity > 0, 1.2, 1.4),
                      np.exp(rng.uniform(np.log(1e-8), np.log(1e-5), len(cells))), gate)


def test_without_drift_the_seed_still_means_the_same_devices_and_noise():
    """The documented seeding: one seed split into streams (devices, starting states, noise);
    drift's own stream leaves them as they were."""
    xb = SimulatedCrossbar(SHAPE, seed=11)
    population_rng, state_rng, noise = np.random.default_rng(11).spawn(3)
    model = ParametricDevice(DeviceParams())
    x = model.start(SHAPE[0] * SHAPE[1], population_rng, state_rng).astype(np.float32)
    cells = Cells.all(SHAPE)
    flat = cells.flat(SHAPE)
    np.testing.assert_array_equal(xb.sim_state(), x)
    before = xb.population.set_rate.copy()
    for k in range(5):
        batch = pulses(cells, k)
        xb.apply(batch)
        new = model.switch(flat, x[flat], batch.signed_voltage.astype(np.float32),
                           batch.width.astype(np.float32), None, noise)
        x[flat] = np.where(model.healthy[flat], new, x[flat])
    np.testing.assert_array_equal(xb.sim_state(), x)
    np.testing.assert_array_equal(xb.population.set_rate, before)


def test_with_drift_each_device_walks_further_the_more_it_is_cycled():
    params = DeviceParams().replace(drift_per_cycle=0.02)
    xb = SimulatedCrossbar(SHAPE, params, seed=1)
    start = xb.population.set_rate.copy()
    cells = Cells.all(SHAPE)
    spread = []
    for k in range(100):
        xb.apply(pulses(cells, k))
        if k in (9, 99):
            spread.append(np.std(np.log(xb.population.set_rate / start)))
    # A random walk: sigma * sqrt(pulses), 0.063 after 10 pulses and 0.2 after 100.
    assert 0.04 < spread[0] < 0.09 and 0.15 < spread[1] < 0.26


def test_with_drift_time_alone_moves_the_parameters():
    params = DeviceParams().replace(drift_per_hour=0.05)
    xb = SimulatedCrossbar(SHAPE, params, seed=1)
    start = xb.population.reset_rate.copy()
    xb.sim_relax(4 * 3600.0)
    assert 0.07 < np.std(np.log(xb.population.reset_rate / start)) < 0.13


def test_a_drifting_1t1r_array_changes_its_set_levels():
    params = OneTOneRParams().replace(drift_per_cycle=0.01)
    xb = SimulatedCrossbar(SHAPE, limits=SafetyLimits(reset_max_V=4.0),
                           model=OneTOneRDevice(params), seed=2)
    start = xb.population.g_sat.copy()
    cells = Cells.all(SHAPE)
    for k in range(20):
        xb.apply(pulses(cells, k, gate=np.full(len(cells), 1.7)))
    assert np.std(np.log(xb.population.g_sat / start)) > 0.02


def test_snapshots_carry_the_drifted_devices():
    """A simulated run resumes from snapshots; with drift on they hold the walked parameters."""
    params = DeviceParams().replace(drift_per_cycle=0.05)
    cells = Cells.all(SHAPE)
    xb = SimulatedCrossbar(SHAPE, params, seed=4)
    snapshots = [xb.sim_snapshot()]
    for k in range(3):
        xb.apply(pulses(cells.subset(np.arange(k, 128, 3)), k))
        snapshots.append(xb.sim_snapshot(cells.subset(np.arange(k, 128, 3))))
    rebuilt = SimulatedCrossbar(SHAPE, params, seed=4)
    for snapshot in snapshots:
        rebuilt.sim_restore(snapshot)
    np.testing.assert_array_equal(rebuilt.population.set_rate, xb.population.set_rate)
    xb.apply(pulses(cells, 9))
    rebuilt.apply(pulses(cells, 9))
    np.testing.assert_array_equal(rebuilt.sim_state(), xb.sim_state())
