"""Pins the parametric simulated crossbar bit for bit, so that refactoring how the device model
is injected cannot change any seeded run that users or other tests rely on.

The pins are float32 (the simulator's arithmetic); ``FLOAT64`` keeps the float64 simulator's
pins of the same seeds, which they must stay within rounding of: same noise, same devices."""

import numpy as np

from hilctl.drivers import Cells, PulseBatch
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar

FLOAT64 = {"state": [0.02819418799727598, 0.6737905766041677, 0.6349375340705775,
                     0.008106118102453316],
           "conductance": [2.3486350079407422e-06, 2.7943562024750839e-05,
                           2.3052758597378920e-05],
           "set_rate": [367.6338249438939, 223.17709110995108],
           "relaxed_conductance": [5.472376977710371e-06, 3.205589268834429e-05],
           "relaxed_state": [0.09554323369286238, 0.8851161634291309, 0.7759264660381914]}


def _pinned(actual, pinned, float64) -> None:
    np.testing.assert_array_equal(actual, np.array(pinned, np.float32))
    np.testing.assert_allclose(actual, float64, rtol=1e-6)


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
    _pinned(state[:4], [0.028194185346364975, 0.6737905144691467, 0.6349374055862427,
                        0.008106119930744171], FLOAT64["state"])
    _pinned(conductance[:3], [2.348635007365374e-06, 2.7943558961851522e-05,
                              2.305275666003581e-05], FLOAT64["conductance"])
    _pinned(crossbar.population.set_rate[:2], [367.6338195800781, 223.17709350585938],
            FLOAT64["set_rate"])


def test_seeded_relaxation_and_random_start_are_pinned():
    params = DeviceParams(relaxation_sigma=0.02, random_initial_state=True)
    crossbar = SimulatedCrossbar((4, 5), params=params, seed=3)
    _, conductance = _run(crossbar)
    crossbar.sim_relax(100.0)
    _pinned(conductance[:2], [5.472377324622357e-06, 3.2055893825599924e-05],
            FLOAT64["relaxed_conductance"])
    _pinned(crossbar.sim_state()[:3], [0.09554324299097061, 0.8851161003112793,
                                       0.7759263515472412], FLOAT64["relaxed_state"])
