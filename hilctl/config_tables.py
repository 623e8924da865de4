"""The tables of a run configuration (``[array]``, ``[limits]``, ``[protocol]`` ...), one strict
pydantic model each; ``hilctl.config.RunConfig`` puts them together and ``hilctl.rig_config``
holds the ``[rig]`` tables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hilctl.drivers import SafetyLimits
from hilctl.protocols import SCHEDULES
from hilctl.simulated_backend.presets import DEFAULT_PRESET


class Strict(BaseModel):
    """Every config table: an unknown key is an error, never ignored; values never change;
    infinity and NaN are refused (they would run forever or write ``Infinity`` into
    ``result.json``, which is not JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ArrayConfig(Strict):
    """The embedded simulated array."""

    rows: int = Field(64, ge=1, le=8192)
    cols: int = Field(64, ge=1, le=8192)
    seed: int = Field(0, ge=0)
    preset: str = DEFAULT_PRESET
    # A measured pulse-response table (CSV): devices answer pulses as the measured ones did.
    empirical_table: str | None = None
    empirical_out_of_range: Literal["raise", "clamp"] = "raise"
    # Where the simulator computes (``simulated_backend.array_backend``): torch on a CUDA GPU.
    backend: Literal["numpy", "torch"] = "numpy"
    device: Literal["cpu", "cuda"] = "cpu"


class LimitsConfig(Strict):
    """Safety limits (see ``drivers.SafetyLimits``); volts, seconds, amperes."""

    set_max_V: float = Field(2.0, gt=0, le=20)
    reset_max_V: float = Field(2.5, gt=0, le=20)
    width_min_s: float = Field(10e-9, gt=0)
    width_max_s: float = Field(100e-6, gt=0, le=1.0)
    compliance_A: float = Field(1e-3, gt=0, le=1.0)
    read_V: float = Field(0.2, gt=0, le=1.0)
    read_max_V: float = Field(0.5, gt=0, le=1.0)
    gate_set_min_V: float = Field(0.0, ge=0, le=20)
    gate_set_max_V: float = Field(3.3, gt=0, le=20)
    gate_reset_min_V: float = Field(0.0, ge=0, le=20)
    gate_reset_max_V: float = Field(4.0, gt=0, le=20)

    def build(self) -> SafetyLimits:
        """The ``SafetyLimits`` these values describe (raises ``ConfigError`` if inconsistent)."""
        return SafetyLimits(**self.model_dump())

    @model_validator(mode="after")
    def _consistent(self) -> LimitsConfig:
        self.build()
        return self


class IsppConfig(Strict):
    set_start_V: float = Field(0.9, gt=0)
    reset_start_V: float = Field(0.9, gt=0)
    step_V: float = Field(0.05, gt=0)
    set_max_V: float = Field(2.0, gt=0)
    reset_max_V: float = Field(2.5, gt=0)
    width_s: float = Field(100e-9, gt=0)


class AdaptiveConfig(Strict):
    set_V: float = Field(1.3, gt=0)
    reset_V: float = Field(1.5, gt=0)
    start_width_s: float = Field(20e-9, gt=0)
    min_width_s: float = Field(10e-9, gt=0)
    max_width_s: float = Field(100e-6, gt=0)
    grow: float = Field(2.0, gt=1)
    shrink: float = Field(0.5, gt=0, lt=1)


class ResetConfig(Strict):
    """A full RESET (one-shot's block RESET; write-verify-wl's and fppv's restarts)."""

    amplitude_V: float = Field(2.0, gt=0)
    width_s: float = Field(10e-6, gt=0)
    gate_V: float | None = Field(None, gt=0)
    # Whether one-shot starts with it (None: on a 1T1R array, whose SET only raises G; not on
    # a 1R one, whose planner plans either polarity from each cell's read, as ISPP starts).
    one_shot: bool | None = None


class CharacterizeConfig(Strict):
    """hilctl characterize: what pulses it draws (see hilctl.protocols.characterize).

    Ranges are (low, high) in V or s; left out, the defaults of ``PulseRanges`` (and, on a
    1T1R array, the gate limits) apply. ``reset`` is the full RESET before each SET of an
    ``hrs`` start."""

    sampling: Literal["random", "grid"] = "random"
    grid_points: int = Field(5, ge=1, le=1000)
    start: Literal["random", "hrs"] = "random"
    repeats: int = Field(1, ge=1, le=1000)
    set_V: tuple[float, float] | None = None
    reset_V: tuple[float, float] | None = None
    width_s: tuple[float, float] | None = None
    set_gate_V: tuple[float, float] | None = None
    reset_gate_V: tuple[float, float] | None = None
    reset: ResetConfig = ResetConfig()


class WlConfig(Strict):
    """write-verify-wl: ISPP on the gate (see hilctl.protocols.write_verify_wl). The defaults
    are tuned on ``hfox-1t1r`` (``bench/bench_1t1r_program.py``): V_BL 2 V, 1 us, the gate from
    just below the switching threshold in 5 mV steps (L2's band is about 6 mV of gate wide),
    overshoots taken back by RESET corrections at a 3.5 V gate."""

    set_V: float = Field(2.0, gt=0)
    gate_start_V: float = Field(1.58, gt=0)
    gate_step_V: float = Field(0.005, gt=0)
    gate_max_V: float = Field(3.3, gt=0)
    width_s: float = Field(1e-6, gt=0)
    restart_back_V: float | None = Field(None, gt=0)
    reset_start_V: float = Field(0.8, gt=0)
    reset_step_V: float | None = Field(0.05, gt=0)
    reset_gate_V: float = Field(3.5, gt=0)
    reset_width_s: float | None = Field(None, gt=0)
    # One start gate per level in [levels] order (None: gate_start_V for every level).
    start_gates_V: list[float] | None = None


class FppvConfig(Strict):
    """fppv: one SET per try at the level's gate (``gates_V``, one per level in [levels]
    order) or from the planner when no gates are given."""

    max_tries: int = Field(8, ge=1, le=10_000)
    gates_V: list[float] | None = None
    nudge_V: float | None = Field(None, gt=0)
    reset_on_undershoot: bool = True
    set_V: float = Field(1.2, gt=0)
    width_s: float = Field(1e-6, gt=0)


class FallbackConfig(Strict):
    """Plans the polarity a trained predictor does not know."""

    kind: Literal["heuristic", "fixed"] = "heuristic"
    set_V: float = Field(1.2, gt=0)
    reset_V: float = Field(1.4, gt=0)
    width_s: float = Field(1e-6, gt=0)


class ObjectiveWeightsConfig(Strict):
    """``[protocol.objective_weights]``: what a planner minimises, as the cost of one pulse,
    one second and one joule (``hilctl.protocols.objective``); replaces ``objective``."""

    pulse: float = Field(0.0, ge=0)
    time_s: float = Field(0.0, ge=0)
    energy_J: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ObjectiveWeightsConfig:
        if self.pulse == self.time_s == self.energy_J == 0:
            raise ValueError("all weights are 0: give pulse, time_s or energy_J a positive one")
        return self


class ProtocolConfig(Strict):
    # registry.DEFAULT_PROTOCOL (not imported: the registry builds from this module; a test
    # keeps the two equal)
    name: str = "write-verify"
    planner: Literal["neural", "oracle", "heuristic", "lookup"] = "neural"
    # The gate every pulse carries where a protocol plans none (1T1R arrays); None: no gate.
    gate_V: float | None = Field(None, gt=0)
    predictor: str | None = None
    # What a planner minimises per cell (hilctl.protocols.objective); weights replace it.
    objective: Literal["pulses", "time", "energy"] = "time"
    objective_weights: ObjectiveWeightsConfig | None = None
    tolerance: float | None = Field(0.05, gt=0)
    tolerance_abs_S: float | None = Field(None, gt=0)
    max_pulses: int = Field(100, ge=1, le=100_000)
    stall_pulses: int = Field(5, ge=1)
    stall_response: float = Field(0.05, ge=0)
    # Overshoots of its band after which a cell fails (protocols.engine.StopRules); the default
    # leaves every run within the default budget as it was (a cell overshoots at most once a
    # pulse) and stops a band narrower than the noise within a few hundred pulses.
    max_crossings: int = Field(100, ge=1, le=100_000)
    ispp: IsppConfig = IsppConfig()
    adaptive: AdaptiveConfig = AdaptiveConfig()
    block_reset: ResetConfig = ResetConfig()
    wl: WlConfig = WlConfig()
    fppv: FppvConfig = FppvConfig()
    fallback: FallbackConfig = FallbackConfig()

    @model_validator(mode="before")
    @classmethod
    def _one_band(cls, data: object) -> object:
        """An absolute band replaces the default relative one; both given is a mistake (one
        of them would be silently ignored)."""
        if isinstance(data, dict) and data.get("tolerance_abs_S") is not None:
            if data.get("tolerance") is not None:
                raise ValueError("tolerance and tolerance_abs_S are both set; give one band")
            data = {**data, "tolerance": None}
        return data

    @field_validator("tolerance", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        """``"5%"`` is 0.05, in a TOML file as on any command line."""
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                return float(value.strip()[:-1]) / 100
            except ValueError:
                raise ValueError("expected a fraction (0.05) or a percentage (5%)") from None
        return value

    @field_validator("tolerance")
    @classmethod
    def _plausibly_relative(cls, value: float | None) -> float | None:
        """A band below 1e-4 of the target is below any read noise: it is a conductance in
        siemens given as a fraction, and would spend every cell's pulse budget."""
        if value is not None and value < MIN_RELATIVE_TOLERANCE:
            raise ValueError(f"a relative band of {value:g} is below {MIN_RELATIVE_TOLERANCE:g}; "
                             f"did you mean {value * 1e6:g}uS?")
        if value is not None and value >= 1:
            raise ValueError(f"a relative band of {value:g} is wider than the target itself; "
                             f"did you mean {value:g}%?")
        return value


# Smallest relative tolerance hilctl accepts (see ProtocolConfig._plausibly_relative).
MIN_RELATIVE_TOLERANCE = 1e-4


class TargetsConfig(Strict):
    pattern: Literal["random", "checkerboard", "gradient"] = "random"
    file: str | None = None
    # Each cell's level (.npy of indices or names) for the bands of [levels].
    level_map: str | None = None
    # Per-cell bands: an .npz of lower_S and upper_S shaped like the array (see hilctl.levels).
    bounds_file: str | None = None
    seed: int = Field(0, ge=0)


class WeightsConfig(Strict):
    """A trained model whose layers become the targets (``hilctl program --weights``)."""

    model: str | None = None
    rescale: bool = False
    # Fraction of the device range kept free at each bound (see hilctl.weights.job.target_window).
    margin: float = Field(0.1, ge=0, lt=0.5)
    common_mode: float = Field(1.0, ge=0, le=1)


class CostConfig(Strict):
    """What the modelled time and energy count (see ``hilctl.protocols.result``): seconds,
    volts. ``round_trip_s`` is what ``hilctl instruments check`` measures on a rig;
    ``iv_v0_V`` gives a rig's device I-V when no preset describes its array."""

    read_time_s: float = Field(1e-6, gt=0)
    pulse_setup_s: float = Field(0.0, ge=0)
    round_trip_s: float = Field(0.0, ge=0)
    settle_s: float = Field(0.0, ge=0)
    iv_v0_V: float | None = Field(None, gt=0, le=10)


class ScheduleConfig(Strict):
    """Which cells may be pulsed together (``hilctl.protocols.schedule``)."""

    mode: str = "none"

    @field_validator("mode")
    @classmethod
    def _known(cls, mode: str) -> str:
        if mode not in SCHEDULES:
            raise ValueError(f"expected one of {', '.join(SCHEDULES)}")
        return mode


class DeviceBookConfig(Strict):
    """The device book a run starts from and updates (see ``hilctl.run.device_book``).

    ``keep_per_run``, ``half_life_s`` and ``half_life_pulses`` discount a stored look's
    information by age (runs since, seconds since, pulses the device received since);
    ``array_name`` names a rig's array (a rig's identity is its instruments' and this name).
    """

    path: str | None = None
    keep_per_run: float = Field(1.0, gt=0, le=1)
    half_life_s: float | None = Field(None, gt=0)
    half_life_pulses: float | None = Field(None, gt=0)
    array_name: str | None = Field(None, min_length=1)


class OutputConfig(Strict):
    """What a run writes beside its store: ``plots = false`` (``--no-plots``) skips the PNG
    figures; the numbers (maps, result.json) are written either way."""

    plots: bool = True


# Names pydantic puts into an error's location for the member of a union it tried
# (``device.read_noise_relative.float``); they are no key of the user's.
_UNION_MEMBERS = ("float", "bool", "int", "str")


def describe_validation_error(exc: ValidationError, where: str = "") -> str:
    """``rig.limits.set_max_V = -1.0: Input should be greater than 0`` (first error, + count)."""
    first = exc.errors()[0]
    key = ".".join([*([where] if where else []),
                    *(str(part) for part in first["loc"] if part not in _UNION_MEMBERS)])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        text = f"{key}: unknown key"
    elif first["type"] == "missing":
        text = f"{key}: missing"
    elif not key or message.startswith(f"{key}."):
        text = message
    elif isinstance(first.get("input"), dict):
        text = f"{key}: {message}"
    else:
        text = f"{key} = {first.get('input')!r}: {message}"
    more = len(exc.errors()) - 1
    return text + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
