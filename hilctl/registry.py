"""Protocol names on the command line and in config, and the objects they build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hilctl.drivers import ConfigError, Crossbar
from hilctl.protocols import (
    AdaptiveWidth,
    HeuristicPlanner,
    IncrementalStep,
    OneShot,
    PlannedWriteVerify,
    Protocol,
    StopRules,
    Tolerance,
)
from hilctl.protocols.planner import PulsePlanner

from .assemble import KnowsDevices, device_model
from .config import ProtocolConfig, RunConfig
from .targets import nominal_window


@dataclass(frozen=True)
class ProtocolEntry:
    """What a protocol name means: how it is built, and what it is measured against.

    ``oracle_reference`` names the planned protocol whose oracle run is this one's physical
    limit (``compare`` reports every figure against it); a planned protocol is its own.
    ``verifies`` is False for a protocol that never reads back (its devices start from a block
    RESET, so the weights window sits near G_min).
    """

    description: str
    needs_planner: bool
    verifies: bool
    oracle_reference: str
    build: Callable[[ProtocolConfig, PulsePlanner | None], Protocol]


PROTOCOLS: dict[str, ProtocolEntry] = {
    "write-verify": ProtocolEntry(
        "incremental-step voltage ramp (ISPP-style), fixed width", False, True,
        "write-verify-planned", lambda p, _: IncrementalStep(**p.ispp.model_dump())),
    "write-verify-adaptive": ProtocolEntry(
        "adaptive pulse-width search at fixed amplitudes", False, True,
        "write-verify-planned", lambda p, _: AdaptiveWidth(**p.adaptive.model_dump())),
    "write-verify-planned": ProtocolEntry(
        "every pulse from the planner, adapting per device", True, True,
        "write-verify-planned", lambda _, planner: PlannedWriteVerify(planner)),
    "one-shot": ProtocolEntry(
        "one planned pulse per cell after a block RESET, no correction", True, False,
        "one-shot", lambda _, planner: OneShot(planner)),
}
PLANNED = tuple(name for name, entry in PROTOCOLS.items() if entry.needs_planner)
PLANNERS = ("neural", "oracle", "heuristic")


def protocol_entry(name: str) -> ProtocolEntry:
    """The registry entry of ``name``; an unknown name is one line listing the known ones."""
    if name not in PROTOCOLS:
        known = ", ".join(PROTOCOLS)
        raise ConfigError(f"protocol.name = {name!r} is unknown; known protocols: {known}")
    return PROTOCOLS[name]


def build_protocol(config: RunConfig, crossbar: Crossbar,
                   planner: PulsePlanner | None = None) -> Protocol:
    """The configured protocol for ``crossbar``; a planned one gets ``planner`` or, without
    it, the configured planner (``protocol.planner``)."""
    entry = protocol_entry(config.protocol.name)
    if entry.needs_planner and planner is None:
        planner = build_planner(config, crossbar)
    return entry.build(config.protocol, planner)


def build_planner(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """The configured planner for ``crossbar`` (``protocol.planner``)."""
    kind = config.protocol.planner
    if kind == "oracle":
        from hilctl.simulated_backend import OraclePlanner

        if not isinstance(crossbar, KnowsDevices):
            raise ConfigError("protocol.planner = 'oracle' needs the simulated array: only a "
                              "simulator knows its devices' true parameters")
        return OraclePlanner(crossbar)
    if kind == "heuristic":
        window = nominal_window(device_model(config), crossbar.limits.read_V)
        return HeuristicPlanner(crossbar.shape, crossbar.limits, window)
    if config.protocol.predictor is None:
        raise ConfigError(f"protocol {config.protocol.name!r} with the neural planner needs a "
                          "trained predictor: --predictor DIR (see hilctl predictor train), "
                          "or --planner oracle|heuristic")
    from .predictor.model import Predictor
    from .predictor.planner import NeuralPlanner

    predictor = Predictor.load(config.protocol.predictor)
    return NeuralPlanner(predictor, crossbar.shape)


def stop_rules(p: ProtocolConfig) -> StopRules:
    """When a cell is done: in tolerance, out of pulses, or stalled."""
    if p.tolerance_abs_S is not None:
        tolerance = Tolerance(relative=None, absolute_S=p.tolerance_abs_S)
    else:
        tolerance = Tolerance(relative=p.tolerance)
    return StopRules(tolerance, p.max_pulses, p.stall_pulses, p.stall_response)
