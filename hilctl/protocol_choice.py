"""Protocol names on the command line and in config, and the objects they build."""

from __future__ import annotations

from drivers import ConfigError
from hilctl.config import RunConfig
from protocols import AdaptiveWidth, IncrementalStep, Protocol, StopRules, Tolerance

WRITE_VERIFY_VARIANTS = {
    "write-verify": "incremental-step voltage ramp (ISPP-style), fixed width",
    "write-verify-adaptive": "adaptive pulse-width search at fixed amplitudes",
}


def build_protocol(config: RunConfig) -> Protocol:
    name = config.protocol.name
    if name == "write-verify":
        return IncrementalStep(**config.protocol.ispp.model_dump())
    if name == "write-verify-adaptive":
        return AdaptiveWidth(**config.protocol.adaptive.model_dump())
    known = ", ".join(WRITE_VERIFY_VARIANTS)
    raise ConfigError(f"protocol.name = {name!r} is unknown; known protocols: {known}")


def stop_rules(config: RunConfig) -> StopRules:
    p = config.protocol
    if p.tolerance_abs_S is not None:
        tolerance = Tolerance(relative=None, absolute_S=p.tolerance_abs_S)
    else:
        tolerance = Tolerance(relative=p.tolerance)
    return StopRules(tolerance, p.max_pulses, p.stall_pulses, p.stall_response)
