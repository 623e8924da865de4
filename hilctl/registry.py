"""Protocol names on the command line and in config, and the objects they build.

The names and descriptions cost nothing to import (``--help`` lists them); each builder imports
the protocols, planners and device models it builds when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hilctl.drivers import Crossbar
    from hilctl.protocols import ProgrammingProtocol, StopRules
    from hilctl.protocols.fppv import LevelGates
    from hilctl.protocols.heuristic import GateSpan
    from hilctl.protocols.objective import Objective
    from hilctl.protocols.planner import PulsePlanner
    from hilctl.protocols.settings import ResetPulse

    from .config import RunConfig


@dataclass(frozen=True)
class ProtocolEntry:
    """What a protocol name means: how it is built, and what it is measured against.

    ``oracle_reference`` names the planned protocol whose oracle run is this one's physical
    limit (``compare`` reports every figure against it); a planned protocol is its own.
    ``verifies`` is False for a protocol that never reads back (its devices start from a block
    RESET, so the weights window sits near G_min). ``planner`` builds the planner it needs
    (None: it plans by itself).
    """

    description: str
    verifies: bool
    oracle_reference: str
    build: Callable[[RunConfig, PulsePlanner | None], ProgrammingProtocol]
    planner: Callable[[RunConfig, Crossbar], PulsePlanner] | None = None

    @property
    def needs_planner(self) -> bool:
        return self.planner is not None


def block_reset_pulse(config: RunConfig) -> ResetPulse:
    """The configured full RESET, with the default gate where it names none."""
    from hilctl.protocols.settings import ResetPulse

    from .assemble import default_gate

    p = config.protocol
    gate = p.block_reset.gate_V if p.block_reset.gate_V is not None else default_gate(config)
    return ResetPulse(p.block_reset.amplitude_V, p.block_reset.width_s, gate)


def _fppv(config: RunConfig, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols.fppv import FixedPulseVerify

    from .assemble import default_gate

    p = config.protocol
    return FixedPulseVerify(planner, block_reset_pulse(config), p.fppv.max_tries,
                            default_gate(config), p.fppv.nudge_V, p.fppv.reset_on_undershoot)


def _gate_ispp(config: RunConfig) -> ProgrammingProtocol:
    from hilctl.protocols.write_verify_wl import GateIspp

    settings = config.protocol.wl.model_dump()
    starts = settings.pop("start_gates_V")
    start_gates = None if starts is None else _level_gates(config, starts, "wl.start_gates_V")
    return GateIspp(**settings, reset=block_reset_pulse(config), start_gates=start_gates)


def _write_verify(config: RunConfig, planner: PulsePlanner | None) -> ProgrammingProtocol:
    """The ramp that suits the array: on the gate (write-verify-wl) where the devices sit
    behind an access transistor, since there the gate sets where a SET lands; on the amplitude
    at a fixed width on bare devices. The result names the variant that ran."""
    from hilctl.protocols import IncrementalStep

    from .assemble import AccessTransistor, device_model

    if isinstance(device_model(config), AccessTransistor):
        return _gate_ispp(config)
    return IncrementalStep(**config.protocol.ispp.model_dump(), gate_V=config.protocol.gate_V)


def _adaptive(config: RunConfig, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols import AdaptiveWidth

    from .assemble import default_gate

    return AdaptiveWidth(**config.protocol.adaptive.model_dump(), gate_V=default_gate(config))


def _planned(config: RunConfig, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols import PlannedWriteVerify

    from .assemble import default_gate

    return PlannedWriteVerify(planner, gate_V=default_gate(config))


def _one_shot(config: RunConfig, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols import OneShot

    from .assemble import default_gate

    return OneShot(planner, reset=block_reset_pulse(config), gate_V=default_gate(config))


DEFAULT_PROTOCOL = "write-verify"
PROTOCOLS: dict[str, ProtocolEntry] = {
    "write-verify": ProtocolEntry(
        "the ramp that suits the array: write-verify-wl on 1T1R, on 1R an incremental-step "
        "voltage ramp (ISPP-style) at a fixed width", True, "write-verify-planned",
        _write_verify),
    "write-verify-adaptive": ProtocolEntry(
        "adaptive pulse-width search at fixed amplitudes", True, "write-verify-planned",
        _adaptive),
    "write-verify-planned": ProtocolEntry(
        "every pulse from the planner, adapting per device", True, "write-verify-planned",
        _planned, planner=lambda c, xb: build_planner(c, xb)),
    "one-shot": ProtocolEntry(
        "one planned pulse per cell after a block RESET, no correction", False, "one-shot",
        _one_shot, planner=lambda c, xb: build_planner(c, xb)),
    "write-verify-wl": ProtocolEntry(
        "1T1R: RESET, then SET pulses with the gate stepped up (ISPP on the gate)", True,
        "write-verify-planned", lambda c, _: _gate_ispp(c)),
    "fppv": ProtocolEntry(
        "1T1R: RESET, one SET at the level's gate, verify; RESET and retry on a miss", True,
        "write-verify-planned", _fppv, planner=lambda c, xb: _fppv_planner(c, xb)),
}
# The planned protocols every other one is measured against (their oracle runs are the limit).
PLANNED = tuple(name for name, entry in PROTOCOLS.items() if entry.oracle_reference == name)
PLANNERS = ("neural", "oracle", "heuristic", "lookup")


def protocol_entry(name: str) -> ProtocolEntry:
    """The registry entry of ``name``; an unknown name is one line listing the known ones."""
    from hilctl.drivers import ConfigError

    if name not in PROTOCOLS:
        known = ", ".join(PROTOCOLS)
        raise ConfigError(f"protocol.name = {name!r} is unknown; known protocols: {known}")
    return PROTOCOLS[name]


def build_protocol(config: RunConfig, crossbar: Crossbar,
                   planner: PulsePlanner | None = None) -> ProgrammingProtocol:
    """The configured protocol for ``crossbar``; a planned one gets ``planner`` or, without
    it, the one its entry builds from the configuration (``protocol.planner``)."""
    entry = protocol_entry(config.protocol.name)
    if entry.needs_planner and planner is None:
        planner = entry.planner(config, crossbar)
    return entry.build(config, planner)


def build_planner(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """The configured planner for ``crossbar`` (``protocol.planner``)."""
    from hilctl.drivers import ConfigError

    kind = config.protocol.planner
    if kind == "oracle":
        from .assemble import KnowsDevices

        if not isinstance(crossbar, KnowsDevices):
            raise ConfigError("protocol.planner = 'oracle' needs the simulated array: only a "
                              "simulator knows its devices' true parameters")
        return oracle_planner(config, crossbar)
    if kind == "heuristic":
        from hilctl.protocols import HeuristicPlanner

        from .assemble import AccessTransistor, device_model
        from .targets import nominal_window

        model = device_model(config)
        window = nominal_window(model, crossbar.limits.read_V)
        span = _gate_span(config) if isinstance(model, AccessTransistor) else None
        return HeuristicPlanner(crossbar.shape, crossbar.limits, window, gate=span)
    if kind == "lookup":
        from .predictor.lookup import LookupPlanner

        if config.protocol.predictor is None:
            raise ConfigError("the lookup planner needs a pulse-response table: --predictor "
                              "TABLE.csv (see hilctl characterize)")
        return LookupPlanner.from_csv(config.protocol.predictor)
    if config.protocol.predictor is None:
        raise ConfigError(f"protocol {config.protocol.name!r} with the neural planner needs a "
                          "trained predictor: --predictor DIR (see hilctl predictor train), "
                          "or --planner oracle|heuristic")
    from hilctl.drivers import Polarity
    from hilctl.protocols.fallback import PolarityFallback

    from .predictor.model import Predictor

    predictor = Predictor.load(config.protocol.predictor)
    planner = neural_planner(config, crossbar, predictor)
    if len(predictor.spec.polarities) == 2:
        return planner
    return PolarityFallback(planner, Polarity[predictor.spec.polarities[0]],
                            _fallback(config, crossbar))


def oracle_planner(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """The oracle of a simulated ``crossbar``, pricing its settings by the configured
    objective as the neural planner does (so ratios to it stay fair)."""
    from hilctl.simulated_backend import OraclePlanner

    objective = planning_objective(config, crossbar)
    return OraclePlanner(crossbar, attempt_cost=objective.attempt_cost
                         if objective.prices_settings else None)


def neural_planner(config: RunConfig, crossbar: Crossbar, predictor) -> PulsePlanner:
    """The neural planner of ``predictor`` for ``crossbar``, choosing its settings by the
    configured objective where the predictor offers a choice."""
    from .predictor.inverse import offers_choices
    from .predictor.planner import NeuralPlanner

    objective = planning_objective(config, crossbar)
    if objective.prices_settings and offers_choices(predictor):
        return NeuralPlanner(predictor, crossbar.shape, bands=stop_rules(config).tolerance,
                             objective=objective)
    return NeuralPlanner(predictor, crossbar.shape)


def planning_objective(config: RunConfig, crossbar: Crossbar) -> Objective:
    """What the configured planner minimises (``protocol.objective`` or its weights), priced
    by the run's cost model."""
    from hilctl.protocols.objective import Objective, ObjectiveWeights

    from .assemble import cost_model

    p = config.protocol
    weights = p.objective_weights and ObjectiveWeights(**p.objective_weights.model_dump())
    return Objective.named(p.objective, cost_model(config, crossbar), weights)


def _gate_span(config: RunConfig) -> GateSpan:
    """The heuristic's span on a 1T1R array: the gate ramp and RESET amplitudes of
    write-verify-wl, the user's statement of the gates and amplitudes the devices answer to."""
    from hilctl.protocols.heuristic import GateSpan

    wl, reset = config.protocol.wl, config.protocol.block_reset
    return GateSpan((wl.gate_start_V, wl.gate_max_V), (wl.reset_start_V, reset.amplitude_V),
                    wl.set_V, wl.reset_gate_V, wl.width_s)


def _fallback(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """The planner of the polarity a trained predictor does not know (protocol.fallback)."""
    from hilctl.protocols.fallback import FixedPulse

    from .assemble import default_gate

    f = config.protocol.fallback
    if f.kind == "fixed":
        return FixedPulse(f.set_V, f.reset_V, f.width_s, default_gate(config))
    return build_planner(config.model_copy(update={"protocol": config.protocol.model_copy(
        update={"planner": "heuristic"})}), crossbar)


def _fppv_planner(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """fppv's SET: each level's gate from protocol.fppv.gates_V, else the configured planner."""
    f = config.protocol.fppv
    if f.gates_V is None:
        return build_planner(config, crossbar)
    return _level_gates(config, f.gates_V, "fppv.gates_V", f.set_V, f.width_s)


def _level_gates(config: RunConfig, gates: list[float], key: str, *pulse: float) -> LevelGates:
    """A gate per level of [levels] (protocol.``key``)."""
    from hilctl.drivers import ConfigError
    from hilctl.protocols.fppv import LevelGates

    if config.levels is None:
        raise ConfigError(f"protocol.{key} gives one gate per level: it needs [levels]")
    from .targets import bands_for

    return LevelGates(bands_for(config).targets_S, gates, *pulse)


def stop_rules(config: RunConfig) -> StopRules:
    """When a cell is done: in its band, out of pulses, or stalled."""
    from hilctl.protocols import StopRules, Tolerance

    p = config.protocol
    if config.levels is not None:
        from .targets import bands_for

        tolerance = bands_for(config)
    elif config.targets.bounds_file:
        from .targets import cell_bands_for

        tolerance = cell_bands_for(config)[1]
    elif p.tolerance_abs_S is not None:
        tolerance = Tolerance(relative=None, absolute_S=p.tolerance_abs_S)
    else:
        tolerance = Tolerance(relative=p.tolerance)
    return StopRules(tolerance, p.max_pulses, p.stall_pulses, p.stall_response)
