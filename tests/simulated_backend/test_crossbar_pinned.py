"""Pins the parametric simulated crossbar bit for bit, so that refactoring how the device model
is injected cannot change any seeded run that users or other tests rely on."""

import numpy as np

from hilctl.drivers import Cells, PulseBatch
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar


def _run(crossbar: SimulatedCrossbar) -> tuple[np.ndarray, np.ndarray]:
    cells = Cells.all((4, 5))
    polarity = np.where(np.arange(20) % 3 == 0, -1, 1)
    crossbar.apply(PulseBatch(cells, polarity, 1.4, 2e-6))
    repeated = Cells(np.array([0, 0, 1]), np.array([2, 2, 3]))
    crossbar.apply(PulseBatch(repeated, 1, 1.2, 1e-6))
    return crossbar.sim_state(), crossbar.read(cells).conductance


def test_seeded_parametric_run_is_pinned():
    crossbar = SimulatedCrossbar((4, 5), seed=11)
    state, conductance = _run(crossbar)
    np.testing.assert_array_equal(state[:4], [0.02819418799727598, 0.6737905766041677,
                                              0.6349375340705775, 0.008106118102453316])
    np.testing.assert_array_equal(conductance[:3], [2.3486350079407422e-06,
                                                    2.7943562024750839e-05,
                                                    2.3052758597378920e-05])
    np.testing.assert_array_equal(crossbar.population.set_rate[:2],
                                  [367.6338249438939, 223.17709110995108])


def test_seeded_relaxation_and_random_start_are_pinned():
    params = DeviceParams(relaxation_sigma=0.02, random_initial_state=True)
    crossbar = SimulatedCrossbar((4, 5), params=params, seed=3)
    _, conductance = _run(crossbar)
    crossbar.sim_relax(100.0)
    np.testing.assert_array_equal(conductance[:2], [5.472376977710371e-06, 3.205589268834429e-05])
    np.testing.assert_array_equal(crossbar.sim_state()[:3], [0.09554323369286238,
                                                             0.8851161634291309,
                                                             0.7759264660381914])
