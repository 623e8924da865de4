"""Run configuration: a TOML file validated by pydantic, with command-line overrides on top.

An unknown key or an out-of-range value is a ``ConfigError`` whose one line names the key
(``protocol.tolerance``) and what was expected. The configuration a run used is written into its
run directory, and ``--resume`` refuses a directory made with a different one.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hilctl.drivers import ConfigError, SafetyLimits
from hilctl.drivers.toml_file import read_toml
from hilctl.simulated_backend.presets import DEFAULT_PRESET


class StricterLimits(UserWarning):
    """Limits in force are stricter than the rig's own table says."""


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


class ProtocolConfig(Strict):
    # registry.DEFAULT_PROTOCOL (not imported: the registry builds from this module; a test
    # keeps the two equal)
    name: str = "write-verify"
    planner: Literal["neural", "oracle", "heuristic", "lookup"] = "neural"
    # The gate every pulse carries where a protocol plans none (1T1R arrays); None: no gate.
    gate_V: float | None = Field(None, gt=0)
    predictor: str | None = None
    tolerance: float | None = Field(0.05, gt=0)
    tolerance_abs_S: float | None = Field(None, gt=0)
    max_pulses: int = Field(100, ge=1, le=100_000)
    stall_pulses: int = Field(5, ge=1)
    stall_response: float = Field(0.05, ge=0)
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
    read_time_s: float = Field(1e-6, gt=0)


class DeviceBookConfig(Strict):
    """The device book a run starts from and updates (see ``hilctl.run.device_book``).

    ``keep_per_run`` and ``half_life_s`` discount a stored look's information by age;
    ``array_name`` names a rig's array (a rig's identity is its instruments' and this name).
    """

    path: str | None = None
    keep_per_run: float = Field(1.0, gt=0, le=1)
    half_life_s: float | None = Field(None, gt=0)
    array_name: str | None = Field(None, min_length=1)


class OutputConfig(Strict):
    """What a run writes beside its store: ``plots = false`` (``--no-plots``) skips the PNG
    figures; the numbers (maps, result.json) are written either way."""

    plots: bool = True


# The pyvisa backend a config or a run directory may name: pure Python, loads no shared
# library. Any other VISA library is named on the command line only (``--visa-library``),
# so a config received from someone else never loads code.
SAFE_VISA_LIBRARY = "@py"
# Serial URLs a board may have: a port name, a raw socket, the simulator's own scheme.
# pyserial's other handlers (spy://, loop://, rfc2217:// ...) can write files or log traffic.
BOARD_URL_SCHEMES = ("socket://", "hilsim://")


class SmuConfig(Strict):
    """The source-measure unit.

    ``nplc`` is the measurement aperture in power-line cycles; ``line_frequency_Hz`` turns it
    into seconds for timeouts and cost.
    """

    model: Literal["2600", "2400"]
    resource: str = Field(min_length=1)
    visa_library: str = SAFE_VISA_LIBRARY
    channel: Literal["a", "b"] = "a"
    nplc: float = Field(default=0.01, gt=0, le=25)
    line_frequency_Hz: float = Field(default=50.0, gt=0)

    @field_validator("visa_library")
    @classmethod
    def _pure_python_only(cls, value: str) -> str:
        if value != SAFE_VISA_LIBRARY:
            raise ValueError(f"only {SAFE_VISA_LIBRARY!r} is accepted from a config or run "
                             "directory (a VISA library is code hilctl loads); name another "
                             "with `hilctl instruments check --visa-library`")
        return value


class BoardConfig(Strict):
    """The crossbar test board, opened with ``serial.serial_for_url(url, baudrate=...)``."""

    url: str = Field(min_length=1)
    baudrate: int = Field(default=115200, gt=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if "://" in value:
            if not value.startswith(BOARD_URL_SCHEMES) or "?" in value:
                raise ValueError("expected a port name (/dev/..., COMn), socket://host:port or "
                                 "hilsim://")
        elif not (value.startswith("/dev/") or value.upper().startswith("COM")):
            raise ValueError("expected a port name (/dev/..., COMn), socket://host:port or "
                             "hilsim://")
        return value


class TimeoutsConfig(Strict):
    """How long to wait for an instrument, in seconds.

    Each query waits for its expected duration (pulse widths plus measurement apertures) times
    ``factor`` plus ``margin_s``; ``connect_s`` bounds opening a connection.
    """

    connect_s: float = Field(default=5.0, gt=0, le=600)
    margin_s: float = Field(default=2.0, gt=0, le=600)
    factor: float = Field(default=2.0, ge=1, le=100)


class RigConfig(Strict):
    """One instrument rig: an SMU, a crossbar board, limits and timeouts.

    ``rows``/``cols`` are optional: the board reports its array size, and when they are given
    the rig refuses to open a board of another size.
    """

    smu: SmuConfig
    board: BoardConfig
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    rows: int | None = Field(default=None, gt=0)
    cols: int | None = Field(default=None, gt=0)


def rig_config_from_table(table: object, where: str = "rig") -> RigConfig:
    """Validate a parsed ``[rig]`` table; any problem is one ``ConfigError`` naming the key."""
    try:
        return RigConfig.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, where)) from None


# Limits where a smaller value is the looser one.
_LOWER_BOUNDS = ("width_min_s",)


def stricter(a: SafetyLimits, b: dict[str, float]) -> tuple[SafetyLimits, list[str]]:
    """``a`` tightened by the values of ``b`` (a subset of its fields), and the names of the
    fields ``b`` tightened: two sources of limits are obeyed together."""
    values = vars(a).copy()
    tightened = []
    for key, value in b.items():
        pick = max if key in _LOWER_BOUNDS else min
        new = pick(values[key], value)
        if new != values[key]:
            tightened.append(key)
        values[key] = new
    return SafetyLimits(**values), tightened


# (table, key) of the rig's instrument addresses.
INSTRUMENT_ADDRESSES = (("smu", "resource"), ("board", "url"))


class RunConfig(Strict):
    """Everything a ``hilctl program`` run depends on."""

    array: ArrayConfig = ArrayConfig()
    device: dict[str, float | bool] = Field(default_factory=dict)
    limits: LimitsConfig = LimitsConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    targets: TargetsConfig = TargetsConfig()
    weights: WeightsConfig = WeightsConfig()
    cost: CostConfig = CostConfig()
    device_book: DeviceBookConfig = DeviceBookConfig()
    characterize: CharacterizeConfig = CharacterizeConfig()
    output: OutputConfig = OutputConfig()
    rig: RigConfig | None = None
    # Named bands {name: {lower, upper}} in S or with units (see hilctl.levels).
    levels: dict[str, dict[str, float | str]] | None = None

    @model_validator(mode="after")
    def _known_device_keys(self) -> RunConfig:
        """``[device]`` overrides name parameters of the preset's own cell model."""
        if self.array.empirical_table is None:
            from hilctl.simulated_backend.presets import load_preset

            load_preset(self.array.preset).replace(**self.device)  # names an unknown key
        return self

    def limits_in_force(self) -> SafetyLimits:
        """The limits every part of a run obeys (pulses, targets, weights window, cost).

        With a rig, the stricter of ``[limits]`` and ``[rig.limits]`` per field, at the rig's
        read voltage, and a one-line ``StricterLimits`` warning names the fields where
        ``[limits]`` was the stricter table; without a rig, ``[limits]``.
        """
        if self.rig is None:
            return self.limits.build()
        top = {k: v for k, v in vars(self.limits.build()).items() if k != "read_V"}
        limits, tightened = stricter(self.rig.limits.build(), top)
        if tightened:
            fields = ", ".join(f"{key} = {getattr(limits, key):.3g}" for key in tightened)
            warnings.warn(f"[limits] is stricter than [rig.limits]; in force: {fields}",
                          StricterLimits, stacklevel=2)
        return limits

    def fingerprint(self) -> str:
        """A hash of everything that changes what a run does (for ``--resume`` checks).

        Where the instruments are (VISA resource, board URL) is left out: a rig that comes back
        at another address after a fault is still the same rig; so is ``[output]``, which
        changes only the figures.
        """
        text = json.dumps(self.what_it_does(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def what_it_does(self) -> dict:
        data = self.model_dump(mode="json", exclude={"output"})
        for part, key in INSTRUMENT_ADDRESSES:
            ((data["rig"] or {}).get(part) or {}).pop(key, None)
        return data


def build_config(data: dict, source: str = "config") -> RunConfig:
    """Validate a nested dict into a ``RunConfig``; errors name the first offending key."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


# (table, key) of every setting that names a file or folder.
PATH_KEYS = (("array", "preset"), ("array", "empirical_table"), ("protocol", "predictor"),
             ("targets", "file"), ("targets", "level_map"), ("targets", "bounds_file"),
             ("weights", "model"))


def names_file(table: str, key: str, value: object) -> bool:
    """Whether a setting's value is a path (a preset is a file only as ``.toml``)."""
    if not isinstance(value, str) or not value:
        return False
    return (table, key) != ("array", "preset") or value.endswith(".toml")


def resolve_paths(data: dict, base: Path) -> dict:
    """``data`` with relative paths resolved against ``base``: a TOML's paths are relative to
    the TOML itself, so a config (or a run directory) works from any working directory."""
    return _map_paths(data, lambda path: path if path.is_absolute() else base / path)


def relative_paths(data: dict, base: Path) -> dict:
    """The inverse of ``resolve_paths`` for paths inside ``base`` (others stay as they are)."""
    return _map_paths(data, lambda path: path.relative_to(base) if path.is_relative_to(base)
                      else path)


def _map_paths(data: dict, change: Callable[[Path], Path]) -> dict:
    out = {table: dict(value) if isinstance(value, dict) else value
           for table, value in data.items()}
    for table, key in PATH_KEYS:
        section = out.get(table)
        if isinstance(section, dict) and names_file(table, key, section.get(key)):
            section[key] = change(Path(section[key])).as_posix()
    return out


def config_from_toml(path: str | Path) -> RunConfig:
    """A TOML configuration, its paths taken relative to the file."""
    return build_config(resolve_paths(read_toml(path), Path(path).resolve().parent), str(path))


def assemble_config(config_file: str | None, base: dict, flags: dict) -> RunConfig:
    """The configuration a command runs with: ``config_file`` (or ``base`` without one), with
    the command-line ``flags`` on top (``None`` flags left out). Paths in the file are relative
    to the file; paths among the flags to the working directory."""
    data = (resolve_paths(read_toml(config_file), Path(config_file).resolve().parent)
            if config_file else base)
    source = config_file or "command line"
    return build_config(merge(data, flags), source)


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


def merge(base: dict, overrides: dict) -> dict:
    """Nested dict merge; ``overrides`` wins, ``None`` values in it are ignored."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict):
            base_value = out.get(key)
            out[key] = merge(base_value if isinstance(base_value, dict) else {}, value)
        else:
            out[key] = value
    return out


def dump_toml(config: RunConfig, base: Path | None = None) -> str:
    """The configuration as TOML (tables of scalars; ``None`` values left out), paths inside
    ``base`` written relative to it (read back with ``config_from_toml``)."""
    lines: list[str] = []

    def emit(prefix: str, table: dict) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and v is not None}
        if scalars or not prefix:
            if prefix:
                lines.append(f"[{prefix}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(f"{prefix}.{key}" if prefix else key, value)

    data = config.model_dump(mode="json")
    emit("", relative_paths(data, Path(base).resolve()) if base is not None else data)
    return "\n".join(lines).strip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
