"""Programming algorithms: what to pulse next, given what was read.

Knows only the ``drivers`` interfaces; never imports torch, instruments or the simulator.
"""

from .engine import (
    Engine,
    OnRound,
    ProgrammingProtocol,
    RoundRecord,
    StartRecord,
    StopRecord,
    StopRules,
    Subscriber,
    program,
)
from .fallback import FixedPulse, PolarityFallback
from .fppv import FixedPulseVerify, LevelGates
from .heuristic import HeuristicPlanner
from .planned import OneShot, PlannedWriteVerify
from .result import CostModel, ProgramResult
from .schedule import SCHEDULES, Schedule
from .settings import ResetPulse, check_settings
from .state import ProgramState, Totals
from .tolerance import Bands, CellBands, Tolerance, relative_error
from .write_verify import AdaptiveWidth, IncrementalStep
from .write_verify_wl import GateIspp

__all__ = [
    "AdaptiveWidth",
    "Bands",
    "CellBands",
    "CostModel",
    "Engine",
    "FixedPulse",
    "FixedPulseVerify",
    "GateIspp",
    "HeuristicPlanner",
    "IncrementalStep",
    "LevelGates",
    "OnRound",
    "OneShot",
    "PlannedWriteVerify",
    "PolarityFallback",
    "ProgramResult",
    "ProgramState",
    "ProgrammingProtocol",
    "ResetPulse",
    "SCHEDULES",
    "Schedule",
    "RoundRecord",
    "StartRecord",
    "StopRecord",
    "StopRules",
    "Subscriber",
    "Tolerance",
    "Totals",
    "check_settings",
    "program",
    "relative_error",
]
