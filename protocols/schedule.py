"""Which cells of a round are pulsed together, and how long the round's pulses take.

Usage::

    schedule = Schedule.named("column-set-row-reset")
    timing = schedule.timing(pulses)  # PulseTiming(width_s, groups)

A parallel group is pulsed at once, so it lasts as long as its longest pulse; groups follow
one another, each with its own set-up, so a round's pulse time is

    t_round = sum over groups g of (max_{i in g} w_i + t_setup).

Schedules (``[schedule] mode``):

- ``none``: one cell at a time (every pulse is its own group), as the test board's ``BATCH``
  and ``SEQ`` do;
- ``row-parallel``: the pulses of one polarity that share a row go together;
- ``column-set-row-reset``: SETs that share a column (bit line) go together, RESETs that share
  a row (source line), as 1T1R arrays are programmed;
- ``whole-array``: every SET at once, then every RESET.

The schedule only changes the time accounting: protocols decide the same pulses whatever it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import ConfigError, PulseBatch

# A schedule's rule: one integer per pulse, equal for pulses that go together.
GroupKey = Callable[[PulseBatch], np.ndarray]


def _one_at_a_time(pulses: PulseBatch) -> np.ndarray:
    return np.arange(len(pulses))


def _by_row(pulses: PulseBatch) -> np.ndarray:
    return _with_polarity(pulses, pulses.cells.rows)


def _set_by_column_reset_by_row(pulses: PulseBatch) -> np.ndarray:
    line = np.where(pulses.polarity > 0, pulses.cells.cols, pulses.cells.rows)
    return _with_polarity(pulses, line)


def _by_polarity(pulses: PulseBatch) -> np.ndarray:
    return _with_polarity(pulses, np.zeros(len(pulses), np.int64))


def _with_polarity(pulses: PulseBatch, line: np.ndarray) -> np.ndarray:
    """SETs and RESETs never share a group: they bias the lines oppositely."""
    return 2 * np.asarray(line, np.int64) + (pulses.polarity > 0)


SCHEDULES: dict[str, GroupKey] = {
    "none": _one_at_a_time,
    "row-parallel": _by_row,
    "column-set-row-reset": _set_by_column_reset_by_row,
    "whole-array": _by_polarity,
}


@dataclass(frozen=True)
class PulseTiming:
    """How long a batch's pulses last under a schedule (s, the groups' longest widths summed),
    in how many parallel groups (each costs one set-up)."""

    width_s: float
    groups: int


@dataclass(frozen=True)
class Schedule:
    """A rule for which pulses of a batch go together (see the module docstring)."""

    name: str = "none"

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ConfigError(f"schedule {self.name!r} unknown; choose from "
                              f"{', '.join(SCHEDULES)}")

    @classmethod
    def named(cls, name: str) -> Schedule:
        return cls(name)

    @property
    def one_at_a_time(self) -> bool:
        """Whether every pulse is its own group (all a serial test board can do)."""
        return self.name == "none"

    def timing(self, pulses: PulseBatch) -> PulseTiming:
        """Each group's longest pulse, summed over the groups."""
        if len(pulses) == 0:
            return PulseTiming(0.0, 0)
        if self.one_at_a_time:
            return PulseTiming(float(pulses.width.sum()), len(pulses))
        _, group = np.unique(SCHEDULES[self.name](pulses), return_inverse=True)
        longest = np.zeros(group.max() + 1)
        np.maximum.at(longest, group, pulses.width)
        return PulseTiming(float(longest.sum()), int(longest.size))
