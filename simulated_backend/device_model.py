"""The device model a ``SimulatedCrossbar`` is built on: an object injected into the array.

A model owns how devices start and how they answer a pulse; the crossbar owns addressing,
safety limits, reads, relaxation and snapshots. Every device has a state x in [0, 1]; the model
maps it to a low-field conductance. Two models exist: ``ParametricDevice`` (the closed-form
physics of ``physics`` with a preset's parameters) and ``EmpiricalDevice`` (responses drawn
from a measured pulse-response table, in ``simulated_backend.empirical``).

One model object serves one array: ``start`` binds it to that array's devices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .array_backend import ops
from .physics import DeviceParams, DevicePopulation, noise_free_response, standard_normals


class DeviceModel(ABC):
    """How a population of devices starts and answers pulses.

    Attributes
    ----------
    params : DeviceParams
        Read noise, I-V and relaxation that the crossbar applies on top of the model.
    population : DevicePopulation or None
        Per-device parametric values (what the oracle planner inverts); None for models that
        have none.
    healthy : bool array
        Devices that switch at all (stuck ones keep their state); set by ``start``.
    """

    params: DeviceParams
    population: DevicePopulation | None = None
    healthy: np.ndarray
    _working = None

    @property
    def working(self):
        """The population ``switch`` and ``conductance`` compute on: ``population`` itself,
        or its copy in the crossbar's arrays (``work_on``)."""
        return self.population if self._working is None else self._working

    def work_on(self, arrays) -> None:
        """Compute on ``arrays``' library (``array_backend``) from now on."""
        self._working = arrays.population(self.population)

    @abstractmethod
    def start(self, n: int, population_rng: np.random.Generator,
              state_rng: np.random.Generator) -> np.ndarray:
        """Draw the ``n`` devices of an array and return their starting states."""

    @abstractmethod
    def switch(self, flat: np.ndarray, x: np.ndarray, volts: np.ndarray, width: np.ndarray,
               gate: np.ndarray | None, noise: np.random.Generator) -> np.ndarray:
        """New states of devices ``flat`` (states ``x``) after one pulse each.

        ``volts`` is signed (positive SET), ``width`` in seconds, ``gate`` in volts or None.
        """

    @abstractmethod
    def conductance(self, x: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """Low-field conductance in siemens of devices ``flat`` at states ``x``."""

    def read_factor(self, read_V: float) -> float:
        """Ratio of the conductance a read at ``read_V`` sees to the low-field one."""
        return self.params.read_factor(read_V)


class ParametricDevice(DeviceModel):
    """The closed-form physics of ``physics`` with a preset's nominal values and spreads."""

    def __init__(self, params: DeviceParams | None = None) -> None:
        self.params = params or DeviceParams()

    def start(self, n: int, population_rng: np.random.Generator,
              state_rng: np.random.Generator) -> np.ndarray:
        self.population = DevicePopulation.sample(self.params, n, population_rng)
        self.healthy = self.population.stuck == 0
        return self.population.initial_state(self.params, state_rng)

    def switch(self, flat: np.ndarray, x: np.ndarray, volts: np.ndarray, width: np.ndarray,
               gate: np.ndarray | None, noise: np.random.Generator) -> np.ndarray:
        pop = self.working
        x_new, switching = noise_free_response(pop, flat, x, volts, width)
        p = self.params
        g_min, g_max = pop.g_min[flat], pop.g_max[flat]
        relative, additive = standard_normals(noise, 2, len(flat))
        jitter = ((x_new - x) * (p.c2c_relative * relative)
                  + (p.c2c_additive_S / (g_max - g_min)) * additive)
        xp = ops(x)
        return xp.where(switching, xp.clip(x_new + jitter, 0.0, 1.0), x)

    def conductance(self, x: np.ndarray, flat: np.ndarray) -> np.ndarray:
        return self.working.conductance(x, flat)

    def state_of(self, g: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """States of devices ``flat`` whose low-field conductance is ``g`` S (inverse of
        ``conductance``; outside [0, 1] where the device cannot reach ``g``)."""
        return self.population.state_of(g, flat)
