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
    from hilctl.protocols import ProgrammingProtocol
    from hilctl.protocols.fppv import LevelGates
    from hilctl.protocols.heuristic import GateSpan
    from hilctl.protocols.objective import Objective
    from hilctl.protocols.planner import PulsePlanner

    from .assemble import Job


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
    build: Callable[[Job, PulsePlanner | None], ProgrammingProtocol]
    planner: Callable[[Job, Crossbar], PulsePlanner] | None = None

    @property
    def needs_planner(self) -> bool:
        return self.planner is not None


def _fppv(job: Job, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols.fppv import FixedPulseVerify

    f = job.config.protocol.fppv
    return FixedPulseVerify(planner, job.block_reset, f.max_tries, job.default_gate, f.nudge_V,
                            f.reset_on_undershoot)


def _gate_ispp(job: Job) -> ProgrammingProtocol:
    from hilctl.protocols.write_verify_wl import GateIspp

    settings = job.config.protocol.wl.model_dump()
    starts = settings.pop("start_gates_V")
    start_gates = None if starts is None else _level_gates(job, starts, "wl.start_gates_V")
    return GateIspp(**settings, reset=job.block_reset, start_gates=start_gates)


def _write_verify(job: Job, planner: PulsePlanner | None) -> ProgrammingProtocol:
    """The ramp that suits the array: on the gate (write-verify-wl) where the devices sit
    behind an access transistor, since there the gate sets where a SET lands; on the amplitude
    at a fixed width on bare devices. The result names the variant that ran."""
    from hilctl.protocols import IncrementalStep

    if job.gated:
        return _gate_ispp(job)
    p = job.config.protocol
    return IncrementalStep(**p.ispp.model_dump(), gate_V=p.gate_V)


def _adaptive(job: Job, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols import AdaptiveWidth

    return AdaptiveWidth(**job.config.protocol.adaptive.model_dump(), gate_V=job.default_gate)


def _planned(job: Job, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols import PlannedWriteVerify

    return PlannedWriteVerify(planner, gate_V=job.default_gate)


def _one_shot(job: Job, planner: PulsePlanner | None) -> ProgrammingProtocol:
    from hilctl.protocols import OneShot

    wanted = job.config.protocol.block_reset.one_shot
    return OneShot(planner, block_reset=job.gated if wanted is None else wanted,
                   reset=job.block_reset, gate_V=job.default_gate)


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


def build_protocol(job: Job, crossbar: Crossbar, planner: PulsePlanner | None = None,
                   name: str | None = None) -> ProgrammingProtocol:
    """The configured protocol (or protocol ``name`` with the configured settings) for
    ``crossbar``; a planned one gets ``planner`` or, without it, the one its entry builds from
    the configuration (``protocol.planner``)."""
    entry = protocol_entry(name or job.config.protocol.name)
    if entry.needs_planner and planner is None:
        planner = entry.planner(job, crossbar)
    return entry.build(job, planner)


def build_planner(job: Job, crossbar: Crossbar, kind: str | None = None) -> PulsePlanner:
    """The configured planner for ``crossbar`` (``protocol.planner``, or planner ``kind``)."""
    from hilctl.drivers import ConfigError

    config = job.config
    kind = kind or config.protocol.planner
    if kind == "oracle":
        from .assemble import KnowsDevices

        if not isinstance(crossbar, KnowsDevices):
            raise ConfigError("protocol.planner = 'oracle' needs the simulated array: only a "
                              "simulator knows its devices' true parameters")
        return oracle_planner(job, crossbar)
    if kind == "heuristic":
        from hilctl.protocols import HeuristicPlanner

        from .assemble import nominal_window

        window = nominal_window(job.device_model, crossbar.limits.read_V)
        span = _gate_span(job) if job.gated else None
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
    planner = neural_planner(job, crossbar, predictor)
    if len(predictor.spec.polarities) == 2:
        return planner
    return PolarityFallback(planner, Polarity[predictor.spec.polarities[0]],
                            _fallback(job, crossbar))


def oracle_planner(job: Job, crossbar: Crossbar) -> PulsePlanner:
    """The oracle of a simulated ``crossbar``, pricing its settings by the configured
    objective as the neural planner does (so ratios to it stay fair)."""
    from hilctl.simulated_backend import OraclePlanner

    objective = planning_objective(job, crossbar)
    return OraclePlanner(crossbar, attempt_cost=objective.attempt_cost
                         if objective.prices_settings else None)


def neural_planner(job: Job, crossbar: Crossbar, predictor) -> PulsePlanner:
    """The neural planner of ``predictor`` for ``crossbar``, choosing its settings by the
    configured objective where the predictor offers a choice."""
    from .predictor.inverse import offers_choices
    from .predictor.planner import NeuralPlanner

    objective = planning_objective(job, crossbar)
    if objective.prices_settings and offers_choices(predictor):
        return NeuralPlanner(predictor, crossbar.shape, bands=job.stop_rules.tolerance,
                             objective=objective)
    return NeuralPlanner(predictor, crossbar.shape)


def planning_objective(job: Job, crossbar: Crossbar) -> Objective:
    """What the configured planner minimises (``protocol.objective`` or its weights), priced
    by the run's cost model."""
    from hilctl.protocols.objective import Objective, ObjectiveWeights

    p = job.config.protocol
    weights = p.objective_weights and ObjectiveWeights(**p.objective_weights.model_dump())
    return Objective.named(p.objective, job.cost_model(crossbar), weights)


def _gate_span(job: Job) -> GateSpan:
    """The heuristic's span on a 1T1R array: the gate ramp and RESET amplitudes of
    write-verify-wl, the user's statement of the gates and amplitudes the devices answer to."""
    from hilctl.protocols.heuristic import GateSpan

    wl, reset = job.config.protocol.wl, job.config.protocol.block_reset
    return GateSpan((wl.gate_start_V, wl.gate_max_V), (wl.reset_start_V, reset.amplitude_V),
                    wl.set_V, wl.reset_gate_V, wl.width_s)


def _fallback(job: Job, crossbar: Crossbar) -> PulsePlanner:
    """The planner of the polarity a trained predictor does not know (protocol.fallback)."""
    from hilctl.protocols.fallback import FixedPulse

    f = job.config.protocol.fallback
    if f.kind == "fixed":
        return FixedPulse(f.set_V, f.reset_V, f.width_s, job.default_gate)
    return build_planner(job, crossbar, "heuristic")


def _fppv_planner(job: Job, crossbar: Crossbar) -> PulsePlanner:
    """fppv's SET: each level's gate from protocol.fppv.gates_V, else the configured planner."""
    f = job.config.protocol.fppv
    if f.gates_V is None:
        return build_planner(job, crossbar)
    return _level_gates(job, f.gates_V, "fppv.gates_V", f.set_V, f.width_s)


def _level_gates(job: Job, gates: list[float], key: str, *pulse: float) -> LevelGates:
    """A gate per level of [levels] (protocol.``key``)."""
    from hilctl.drivers import ConfigError
    from hilctl.protocols.fppv import LevelGates

    if job.bands is None:
        raise ConfigError(f"protocol.{key} gives one gate per level: it needs [levels]")
    return LevelGates(job.bands.targets_S, gates, *pulse)

