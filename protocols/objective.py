"""What a planner minimises when it chooses a pulse's settings: pulses, time or energy.

Usage::

    objective = Objective.named("energy", cost_model)        # or "pulses", "time"
    cost = objective.expected_cost(p_in_band, objective.attempt_cost(g, volts, width))
    best = objective.choose(p_in_band, cost, miss, axis=-1)   # index of the setting to plan

One attempt at a cell is a pulse and its verify read. Its cost is a weighted sum,

    c = w_pulse + w_time (pulse_time(width) + read_time) + w_energy pulse_energy(g, V, width),

with the weights per pulse, per second and per joule (the named objectives put 1 on one of
them). A setting that lands the cell in its band with probability P needs this attempt and,
on a miss, corrections; counting each as another try of the same chance and cost gives the
geometric 1 / P attempts,

    E[cost] = c / P,

which keeps a setting that barely moves the cell (P near 0, however cheap) from winning: a
miss costing a fixed number of further attempts would not (it was tried: a 10 ns pulse below
threshold then looked cheapest of all). Only settings whose chance is within ``CHANCE_MARGIN``
(relative) of the best compete: many cheap tries of a small chance look economical, but each
small step risks the engine's stall rule and the pulse budget (tried: planning for energy
alone on hfox-1r, 12x12, took 18 pulses per cell and landed 82 % instead of 97 %).

With the pulse count alone every setting costs the same and the most likely landing wins,
which is the choice planners made before they priced anything (``prices_settings`` is False).
Expected costs within a ``slack`` share of the least are a tie (the predicted tails are
coarse); among tied settings the one whose median lands nearest the target is taken, so that
the margin to both band edges is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hilctl.drivers import ConfigError

from .result import CostModel

OBJECTIVES = ("pulses", "time", "energy")
TIE_SLACK = 0.02  # chances of landing in band (and relative expected costs) this close tie
_LEAST_CHANCE = 1e-3  # a chance below this counts as this: at most 1000 attempts
CHANCE_MARGIN = 0.2  # settings landing less often than 0.8 x the best one do not compete


@dataclass(frozen=True)
class ObjectiveWeights:
    """Cost of one pulse, of one second of rig time and of one joule (each >= 0)."""

    pulse: float = 0.0
    time_s: float = 0.0
    energy_J: float = 0.0

    def __post_init__(self) -> None:
        for name in ("pulse", "time_s", "energy_J"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"objective weight {name} = {value!r}: expected a finite "
                                  "number >= 0")
        if self.pulse == self.time_s == self.energy_J == 0:
            raise ConfigError("objective weights are all 0: give at least one of pulse, "
                              "time_s, energy_J a positive weight")


_NAMED = {"pulses": ObjectiveWeights(pulse=1.0), "time": ObjectiveWeights(time_s=1.0),
          "energy": ObjectiveWeights(energy_J=1.0)}


@dataclass(frozen=True)
class Objective:
    """The cost a planner minimises; see the module docstring.

    Parameters
    ----------
    name : str
        ``"pulses"``, ``"time"``, ``"energy"``, or ``"weighted"`` for weights of one's own.
    weights : ObjectiveWeights
    cost_model : CostModel
        Prices a pulse's time (width + set-up) and energy, and a verify read's time.
    """

    name: str
    weights: ObjectiveWeights
    cost_model: CostModel

    @classmethod
    def named(cls, name: str, cost_model: CostModel,
              weights: ObjectiveWeights | None = None) -> Objective:
        """The objective ``name`` (one of ``OBJECTIVES``), or ``weights`` when given."""
        if name not in _NAMED:
            raise ConfigError(f"objective {name!r} is unknown; expected one of "
                              f"{', '.join(OBJECTIVES)}")
        if weights is not None:
            return cls("weighted", weights, cost_model)
        return cls(name, _NAMED[name], cost_model)

    @property
    def prices_settings(self) -> bool:
        """False when only the pulse count matters: then every setting costs the same."""
        return self.weights.time_s > 0 or self.weights.energy_J > 0

    def attempt_cost(self, g_read, volts, width) -> np.ndarray:
        """Cost of one pulse and its verify read per setting (arrays broadcast); ``g_read`` is
        the cell's last read conductance (S), ``volts`` the pulse magnitude, ``width`` in s."""
        w, model = self.weights, self.cost_model
        cost = np.asarray(w.pulse, dtype=np.float64)
        if w.time_s:
            cost = cost + w.time_s * (model.pulse_time(width) + model.read_time_s)
        if w.energy_J:
            cost = cost + w.energy_J * model.pulse_energy(np.asarray(g_read), volts, width)
        return np.broadcast_to(cost, np.broadcast_shapes(np.shape(g_read), np.shape(volts),
                                                         np.shape(width)))

    def expected_cost(self, p_in_band, attempt_cost) -> np.ndarray:
        """Expected cost of getting a cell into its band by a setting that lands it there
        with probability ``p_in_band`` at ``attempt_cost`` per attempt."""
        return attempt_cost / np.maximum(p_in_band, _LEAST_CHANCE)

    def choose(self, p_in_band: np.ndarray, attempt_cost: np.ndarray, miss: np.ndarray,
               axis: int, slack: float = TIE_SLACK) -> np.ndarray:
        """Index along ``axis`` of the setting to plan: among those landing nearly as often as
        the best (``CHANCE_MARGIN``), the least expected cost, ties (within ``slack`` of it,
        relative) going to the one whose median misses the target least (``miss``)."""
        competes = p_in_band >= (1.0 - CHANCE_MARGIN) * np.max(p_in_band, axis=axis,
                                                               keepdims=True)
        cost = np.where(competes, self.expected_cost(p_in_band, attempt_cost), np.inf)
        near = cost <= cost.min(axis=axis, keepdims=True) * (1.0 + slack)
        return np.argmin(np.where(near, miss, np.inf), axis=axis)
