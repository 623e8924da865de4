"""Protocol names on the command line and in config, and the objects they build."""

from __future__ import annotations

from hilctl.drivers import ConfigError, Crossbar, Polarity
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
from hilctl.protocols.fallback import FixedPulse, PolarityFallback
from hilctl.protocols.fppv import FixedPulseVerify, LevelGates
from hilctl.protocols.planner import PulsePlanner
from hilctl.protocols.settings import ResetPulse
from hilctl.protocols.write_verify_wl import GateIspp

from .config import RunConfig

PROTOCOLS = {
    "write-verify": "incremental-step voltage ramp (ISPP-style), fixed width",
    "write-verify-adaptive": "adaptive pulse-width search at fixed amplitudes",
    "write-verify-planned": "every pulse from the planner, adapting per device",
    "one-shot": "one planned pulse per cell after a block RESET, no correction",
    "write-verify-wl": "1T1R: RESET, then SET pulses with the gate stepped up (ISPP on the gate)",
    "fppv": "1T1R: RESET, one SET at the level's gate, verify; RESET and retry on a miss",
}
PLANNERS = ("neural", "oracle", "heuristic", "lookup")


def build_protocol(config: RunConfig, crossbar: Crossbar) -> Protocol:
    p = config.protocol
    name, gate = p.name, p.gate_V
    reset = ResetPulse(p.block_reset.amplitude_V, p.block_reset.width_s,
                       p.block_reset.gate_V if p.block_reset.gate_V is not None else gate)
    if name == "write-verify":
        return IncrementalStep(**p.ispp.model_dump(), gate_V=gate)
    if name == "write-verify-adaptive":
        return AdaptiveWidth(**p.adaptive.model_dump(), gate_V=gate)
    if name == "one-shot":
        return OneShot(build_planner(config, crossbar), reset=reset, gate_V=gate)
    if name == "write-verify-planned":
        return PlannedWriteVerify(build_planner(config, crossbar), gate_V=gate)
    if name == "write-verify-wl":
        return GateIspp(**p.wl.model_dump(), reset=reset)
    if name == "fppv":
        return FixedPulseVerify(_fppv_planner(config, crossbar), reset, p.fppv.max_tries, gate)
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
    planner = NeuralPlanner(predictor, crossbar.shape)
    if len(predictor.spec.polarities) == 2:
        return planner
    return PolarityFallback(planner, Polarity[predictor.spec.polarities[0]],
                            _fallback(config, crossbar))


def _fallback(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """The planner of the polarity a trained predictor does not know (protocol.fallback)."""
    f = config.protocol.fallback
    if f.kind == "fixed":
        return FixedPulse(f.set_V, f.reset_V, f.width_s, config.protocol.gate_V)
    return build_planner(config.model_copy(update={"protocol": config.protocol.model_copy(
        update={"planner": "heuristic"})}), crossbar)


def _fppv_planner(config: RunConfig, crossbar: Crossbar) -> PulsePlanner:
    """fppv's SET: each level's gate from protocol.fppv.gates_V, else the configured planner."""
    f = config.protocol.fppv
    if f.gates_V is None:
        return build_planner(config, crossbar)
    if config.levels is None:
        raise ConfigError("protocol.fppv.gates_V gives one gate per level: it needs [levels]")
    from .targets import bands_for

    return LevelGates(bands_for(config).targets_S, f.gates_V, f.set_V,
                      f.width_s)


def stop_rules(config: RunConfig) -> StopRules:
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
