"""Programming algorithms: what to pulse next, given what was read.

Knows only the ``drivers`` interfaces; never imports torch, instruments or the simulator.
"""

from protocols.engine import Plan, ProgramState, Protocol, RoundRecord, StopRules, program
from protocols.heuristic import HeuristicPlanner
from protocols.planned import OneShot, PlannedWriteVerify
from protocols.result import CostModel, ProgramResult
from protocols.tolerance import Tolerance, relative_error
from protocols.write_verify import AdaptiveWidth, IncrementalStep

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
