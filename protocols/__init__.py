"""Programming algorithms: what to pulse next, given what was read.

Knows only the ``drivers`` interfaces; never imports torch, instruments or the simulator.
"""

from .engine import Plan, ProgramState, Protocol, RoundRecord, StopRules, program
from .heuristic import HeuristicPlanner
from .planned import OneShot, PlannedWriteVerify
from .result import CostModel, ProgramResult
from .tolerance import Tolerance, relative_error
from .write_verify import AdaptiveWidth, IncrementalStep

__all__ = [
    "AdaptiveWidth",
    "CostModel",
    "HeuristicPlanner",
    "IncrementalStep",
    "OneShot",
    "Plan",
    "PlannedWriteVerify",
    "ProgramResult",
    "ProgramState",
    "Protocol",
    "RoundRecord",
    "StopRules",
    "Tolerance",
    "program",
    "relative_error",
]
