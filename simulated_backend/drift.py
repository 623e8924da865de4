"""Slow drift of device parameters with cycling and time: off unless asked for.

A device does not keep its switching speed forever: its filament changes with every switching
cycle and, slowly, with time, so what a device book learned about it ages. Each drifting
parameter p of a device walks in log space,

    ln p  ->  ln p + sigma * z,   sigma^2 = drift_per_cycle^2 * pulses + drift_per_hour^2 * hours,

with z standard normal, independently per device and event (a random walk: its spread grows
with the square root of the pulses the device received and of the time that passed). Which
parameters drift is the population's ``drifting`` tuple: the SET and RESET rates of a 1R cell
(its speed), the transistor strength and the SET plateau of a 1T1R cell (its SET level at a
given gate). The walk draws from its own random stream, so with drift off the devices, their
starting states and every switching and read noise draw are those of the same seed without it.
The oracle reads the drifted parameters, so it stays the exact reference.
"""

from __future__ import annotations

import numpy as np


def drift(population, flat: np.ndarray, pulses: float, hours: float, per_cycle: float,
          per_hour: float, rng: np.random.Generator) -> None:
    """Walk the drifting parameters of devices ``flat`` (in place) by ``pulses`` pulses each
    and ``hours`` of time (see the module docstring)."""
    variance = per_cycle ** 2 * pulses + per_hour ** 2 * hours
    if variance <= 0 or population is None or flat.size == 0:
        return
    for name in population.drifting:
        values = getattr(population, name)
        values[flat] *= np.exp(np.sqrt(variance) * rng.standard_normal(flat.size))


def drifting_arrays(population, flat) -> dict[str, np.ndarray]:
    """The drifting parameters of devices ``flat`` by name (for a snapshot of the array)."""
    return {f"drift.{name}": getattr(population, name)[flat].copy()
            for name in population.drifting}


def restore_drifting(population, flat, snapshot: dict[str, np.ndarray]) -> None:
    for name in population.drifting:
        getattr(population, name)[flat] = snapshot[f"drift.{name}"]
