"""Protocol names on the command line and in config, and the objects they build."""

from __future__ import annotations

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

from .config import RunConfig

PROTOCOLS = {
    "write-verify": "incremental-step voltage ramp (ISPP-style), fixed width",
    "write-verify-adaptive": "adaptive pulse-width search at fixed amplitudes",
    "write-verify-planned": "every pulse from the planner, adapting per device",
    "one-shot": "one planned pulse per cell after a block RESET, no correction",
}
PLANNERS = ("neural", "oracle", "heuristic", "lookup")


def build_protocol(config: RunConfig, crossbar: Crossbar) -> Protocol:
    name = config.protocol.name
    if name == "write-verify":
        return IncrementalStep(**config.protocol.ispp.model_dump())
    if name == "write-verify-adaptive":
        return AdaptiveWidth(**config.protocol.adaptive.model_dump())
    if name == "one-shot":
        return OneShot(build_planner(config, crossbar))
    if name == "write-verify-planned":
        return PlannedWriteVerify(build_planner(config, crossbar))
    known = ", ".join(PROTOCOLS)
    raise ConfigError(f"protocol.name = {name!r} is unknown; known protocols: {known}")


def build_planner(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """The configured planner for ``crossbar`` (``protocol.planner``)."""
    kind = config.protocol.planner
    if kind == "oracle":
        from hilctl.simulated_backend import OraclePlanner, SimulatedCrossbar

        if not isinstance(crossbar, SimulatedCrossbar):
            raise ConfigError("protocol.planner = 'oracle' needs the simulated array: only a "
                              "simulator knows its devices' true parameters")
        return OraclePlanner(crossbar)
    if kind == "heuristic":
        from .assemble import device_model
        from .targets import nominal_window

        window = nominal_window(device_model(config), crossbar.limits.read_V)
        return HeuristicPlanner(crossbar.shape, crossbar.limits, window)
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
    from .predictor.model import Predictor
    from .predictor.planner import NeuralPlanner

    predictor = Predictor.load(config.protocol.predictor)
    return NeuralPlanner(predictor, crossbar.shape)


def stop_rules(config: RunConfig) -> StopRules:
    p = config.protocol
    if p.tolerance_abs_S is not None:
        tolerance = Tolerance(relative=None, absolute_S=p.tolerance_abs_S)
    else:
        tolerance = Tolerance(relative=p.tolerance)
    return StopRules(tolerance, p.max_pulses, p.stall_pulses, p.stall_response)
