"""Programming algorithms: what to pulse next, given what was read.

Knows only the ``drivers`` interfaces; never imports torch, instruments or the simulator.
"""

from .engine import ProgrammingProtocol, ProgramState, RoundRecord, StopRules, program
from .fallback import FixedPulse, PolarityFallback
from .fppv import FixedPulseVerify, LevelGates
from .heuristic import HeuristicPlanner
from .planned import OneShot, PlannedWriteVerify
from .result import CostModel, ProgramResult
from .settings import ResetPulse, check_settings
from .tolerance import Bands, CellBands, Tolerance, relative_error
from .write_verify import AdaptiveWidth, IncrementalStep
from .write_verify_wl import GateIspp

__all__ = [
    "AdaptiveWidth",
    "Bands",
    "CellBands",
    "CostModel",
    "FixedPulse",
    "FixedPulseVerify",
    "GateIspp",
    "HeuristicPlanner",
    "IncrementalStep",
    "LevelGates",
    "OneShot",
    "PlannedWriteVerify",
    "PolarityFallback",
    "ProgramResult",
    "ProgramState",
    "ProgrammingProtocol",
    "ResetPulse",
    "RoundRecord",
    "StopRules",
    "Tolerance",
    "check_settings",
    "program",
    "relative_error",
]
