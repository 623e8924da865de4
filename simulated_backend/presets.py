"""Named device presets, the published weight-update presets built from their tables, and preset
files (TOML) written by ``hilctl device fit``.

``hfox-1t1r``, the default preset, is a 1T1R array (``one_t_one_r``: the access transistor's
gate sets the SET compliance) calibrated against the measured statistics of Le et al., "RADAR",
IEEE TED 2021 (``bench/bench_1t1r.py`` prints the calibration table): HRS near 10 uS, SET levels
up to about 220 uS set by the gate, gradual RESET in the source-line voltage. Every pulse to it
carries a gate; protocols that plan none send the gate fully on (its read gate, 3.3 V).

``hfox-1r`` is the transistor-less cell model (state x in [0, 1], ``physics``) that results
before the 1T1R default were produced with, kept so they can be reproduced: a HfOx device with a
1-40 uS window, SET at +0.8..2.0 V and RESET at -0.8..-2.5 V, 10 ns - 100 us pulses, a full-range
SET in about 1 us at 1.5 V, ~15 % cycle-to-cycle noise plus 0.2 uS, 1 % read noise plus a 0.05 uS
floor, and 1 % stuck devices. The figures are typical of published HfOx characterisations (for
example Yu et al., "HfOx-based RRAM" review, Proc. IEEE 2012; Prezioso et al., Nature 521, 2015
for window and noise magnitudes); the rates are calibrated so that the closed-form response of
``physics`` meets them. The published presets below are 1R cells too.

The published presets reproduce, at the tabulated write pulse, the weight-update numbers that
NeuroSim-based benchmarks use for these devices: on-state conductance and on/off ratio, the
number of identical pulses that traverses the range (levels) per direction, the up/down
nonlinearity label (P.-Y. Chen, X. Peng, S. Yu, IEEE TCAD 37, 2018) and the cycle-to-cycle
sigma (a fraction of the range per pulse). Each entry of ``PUBLISHED`` names the stored public
source every number was checked against, and says which numbers only a secondary source gives.
``calibrate`` turns those numbers into ``DeviceParams``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError
from hilctl.drivers.atomic_file import write_atomic
from hilctl.drivers.toml_file import read_toml

from .device_model import DeviceModel, ParametricDevice
from .one_t_one_r import OneTOneRDevice, OneTOneRParams
from .physics import CellParams, DeviceParams

ONE_T_ONE_R = "hfox-1t1r"
ONE_R = "hfox-1r"
DEFAULT_PRESET = ONE_T_ONE_R

# The nonlinearity label of NeuroSim is defined through the exponential update curve; its
# table of the curve parameter (getParamA in NeuroSim's formula.cpp) corresponds to a maximum
# deviation of the normalised conductance-vs-pulse curve from the straight line of
# 0.098995 per unit of label (checked over the table's range 0.01..9 to 0.1 %).
DEVIATION_PER_LABEL = 0.098995
# Window exponent of both directions of the published presets: close to 1, the train response
# is close to NeuroSim's exponential curve.
_WINDOW = 1.05
# A RESET train in this model slows as x -> 0 (rate ~ x^q), so with G_min >= 0 it cannot span an
# on/off ratio R with less nonlinearity than a train whose start/end state ratio is R. Where a
# table asks for less (a near-linear depression over a wide range), the preset keeps the on/off
# ratio and the levels and takes that smallest reachable RESET nonlinearity instead.
_RATIO_MARGIN = 1.01


@dataclass(frozen=True)
class WeightUpdateTable:
    """The tabulated weight-update numbers of one device (SI units)."""

    source: str
    g_on_S: float  # 1 / R_on
    on_off: float  # G_on / G_off
    levels_set: int  # identical SET (potentiation) pulses from G_off to G_on
    levels_reset: int  # identical RESET (depression) pulses from G_on to G_off
    nonlinearity_set: float  # NeuroSim label, > 0
    nonlinearity_reset: float  # NeuroSim label, < 0 (depression)
    c2c_sigma: float  # cycle-to-cycle sigma per pulse, fraction of (G_on - G_off)
    set_V: float
    set_width_s: float
    reset_V: float  # magnitude
    reset_width_s: float

    @property
    def g_off_S(self) -> float:
        return self.g_on_S / self.on_off


PUBLISHED: dict[str, WeightUpdateTable] = {
    # Ag:a-Si (Jo et al., Nano Lett. 10, 2010). Every number checked against the RealDevice
    # constructor in neurosim/MLP_NeuroSim_V3.0 documents/Cell.cpp: maxConductance 3.8462e-8 S
    # (1/26 MOhm), minConductance 3.0769e-9 S (on/off 12.5), maxNumLevelLTP/LTD 97/100,
    # NL_LTP/LTD 2.4/-4.88, sigmaCtoC 0.035, writeVoltageLTP/LTD 3.2/2.8 V, writePulseWidthLTP/LTD
    # 300 us; R_on, on/off, 97 states, nonlinearity and 3.5 % also in Table I of Chen, Peng, Yu,
    # IEEE TCAD 37, 2018.
    "ag-asi": WeightUpdateTable("Jo 2010 via NeuroSim Cell.cpp", 1 / 26e6, 12.5, 97, 100, 2.4,
                                -4.88, 0.035, 3.2, 300e-6, 2.8, 300e-6),
    # TaOx/HfOx (Wu et al., VLSI 2018); not in Chen et al., TCAD 2018, whose Table I has
    # TaOx/TiO2. R_on 100 kOhm, on/off 10: Table 1 of Peng et al., "DNN+NeuroSim", IEDM 2019,
    # and max/minConductance 1e-5/1e-6 S in disys-lab/meliso config_files/device_TaOx-HfOx.yaml.
    # 128/128 levels, nonlinearity 0.04/-0.63, c2c 3.7 %: that file (maxNumLevelLTP/LTD,
    # NL_LTP/LTD, sigmaCtoC) and Table I of Chowdhury et al., MELISO, ICONS 2024. +-1.6 V 50 ns
    # pulses: that file only (writeVoltage/writePulseWidth LTP/LTD), not found in a NeuroSim one.
    "taox-hfox": WeightUpdateTable("Wu 2018 via MELISO device file", 1 / 100e3, 10.0, 128, 128,
                                   0.04, -0.63, 0.037, 1.6, 50e-9, 1.6, 50e-9),
    # AlOx/HfO2 (Woo et al., IEEE EDL 37, 2016): Table I of Chen, Peng, Yu, IEEE TCAD 37, 2018:
    # 40 states, nonlinearity 1.94/-0.61, R_on 16.9 kOhm, on/off 4.43, c2c 5 %; the same in
    # disys-lab/meliso config_files/device_AlOx-HfO2.yaml (5.9172e-5/1.3357e-5 S, 40/40 levels).
    # +0.9 V / -1.0 V 100 us pulses: that file only, not found in a NeuroSim source.
    "alox-hfo2": WeightUpdateTable("Woo 2016 via Chen 2018", 1 / 16.9e3, 4.43, 40, 40, 1.94,
                                   -0.61, 0.05, 0.9, 100e-6, 1.0, 100e-6),
    # EpiRAM (Choi et al., Nature Materials 17, 2018): not found in a stored NeuroSim source.
    # R_on 81 kOhm, on/off 50.2, nonlinearity 0.5/-0.5, c2c 2 %, +5 V / -3 V 5 us pulses:
    # disys-lab/meliso config_files/device_EpiRAM.yaml (1.2346e-5/2.4593e-7 S). 64 levels: Table
    # I of Chowdhury et al., MELISO, ICONS 2024 (which also gives 50.2, 0.5/-0.5 and 2 %); the
    # device file itself sets 256/256, so the level count is not settled by the stored sources.
    "epiram": WeightUpdateTable("Choi 2018 via MELISO", 1 / 81e3, 50.2, 64, 64, 0.5, -0.5,
                                0.02, 5.0, 5e-6, 3.0, 5e-6),
}


def curve_deviation(ratio: float, window: float = _WINDOW, points: int = 2001) -> float:
    """Largest deviation from linear of the normalised train response of the window ODE.

    A train of identical pulses moves the distance u to the bound so that u^-(p-1) grows
    linearly with the pulse count; the normalised curve depends only on the ratio of the start
    distance to the end distance, ``ratio`` > 1.
    """
    e = window - 1.0
    n = np.linspace(0.0, 1.0, points)
    u = (1.0 + n * (ratio ** e - 1.0)) ** (-1.0 / e)  # u_start = 1, u_end = 1 / ratio
    y = (1.0 - u) / (1.0 - 1.0 / ratio)
    return float(np.max(y - n))


def ratio_for_label(label: float, window: float = _WINDOW) -> float:
    """The start/end distance ratio whose curve has the nonlinearity ``label`` (bisection)."""
    target = abs(label) * DEVIATION_PER_LABEL
    if not 0 < target < 1:
        raise ConfigError(f"nonlinearity label {label!r}: expected 0 < |label| < 10")
    lo, hi = 1.0 + 1e-9, 1e12
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if mid in (lo, hi):  # adjacent floats: every further step would change nothing
            break
        lo, hi = (mid, hi) if curve_deviation(mid, window) < target else (lo, mid)
    return math.sqrt(lo * hi)


def calibrate(table: WeightUpdateTable) -> DeviceParams:
    """``DeviceParams`` that reproduce ``table`` at its tabulated write pulses.

    The tabulated range [G_off, G_on] is placed at states [a, b] inside the model's [0, 1] so
    that a SET train from a to b and a RESET train from b to a have the tabulated nonlinearity;
    the rates then make ``levels`` identical pulses cover the range. Thresholds sit 30 % below
    the tabulated pulse and slopes at 8 % of it: the tables give neither, only what the pulse
    does, so these choices only shape the response to other pulses.
    """
    r_set = ratio_for_label(table.nonlinearity_set)
    r_reset = max(ratio_for_label(table.nonlinearity_reset), table.on_off * _RATIO_MARGIN)
    a = (r_set - 1.0) / (r_set * r_reset - 1.0)  # (1 - a) = r_set (1 - b) and b = r_reset a
    b = r_reset * a
    span = (table.g_on_S - table.g_off_S) / (b - a)
    g_min = table.g_off_S - a * span
    e = _WINDOW - 1.0
    kt_set = ((1 - b) ** -e - (1 - a) ** -e) / (e * table.levels_set)
    kt_reset = (a ** -e - b ** -e) / (e * table.levels_reset)
    drive = math.expm1(0.30 / 0.08)  # (V - V_th) / V_s at the tabulated pulse
    return DeviceParams(
        g_min_S=g_min, g_max_S=g_min + span, g_spread=0.0,
        set_rate_per_s=kt_set / (table.set_width_s * drive), set_threshold_V=0.7 * table.set_V,
        set_slope_V=0.08 * table.set_V, set_window=_WINDOW,
        reset_rate_per_s=kt_reset / (table.reset_width_s * drive),
        reset_threshold_V=0.7 * table.reset_V, reset_slope_V=0.08 * table.reset_V,
        reset_window=_WINDOW,
        # The tables report no device-to-device spread (NeuroSim sets sigmaDtoD = 0).
        rate_spread=0.0, threshold_spread_V=0.0, slope_spread=0.0, window_spread=0.0,
        c2c_relative=0.0, c2c_additive_S=table.c2c_sigma * (table.g_on_S - table.g_off_S),
        # Not tabulated: 1 % read noise with a floor of 1 % of G_off, no stuck devices.
        read_noise_relative=0.01, read_noise_floor_S=0.01 * table.g_off_S, stuck_fraction=0.0,
        initial_state=a, initial_state_spread=0.0)


class _Presets(Mapping):
    """The presets by name; a published one is calibrated when first asked for (each takes a
    bisection, which every command would otherwise pay for at start-up)."""

    def __init__(self) -> None:
        self._made: dict[str, CellParams] = {ONE_T_ONE_R: OneTOneRParams(),
                                             ONE_R: DeviceParams()}

    def __getitem__(self, name: str) -> CellParams:
        if name not in self._made:
            self._made[name] = calibrate(PUBLISHED[name])
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter([ONE_T_ONE_R, ONE_R, *PUBLISHED])

    def __len__(self) -> int:
        return 2 + len(PUBLISHED)


PRESETS: Mapping[str, CellParams] = _Presets()


def device_for(params: CellParams) -> DeviceModel:
    """The device model that simulates cells of ``params``' kind (1R or 1T1R)."""
    if isinstance(params, OneTOneRParams):
        return OneTOneRDevice(params)
    return ParametricDevice(params)


def preset(name: str) -> CellParams:
    """The preset called ``name``; an unknown name lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"device preset {name!r} is unknown; known presets: {', '.join(sorted(PRESETS))}"
        ) from None


def load_preset(name_or_path: str | os.PathLike) -> CellParams:
    """A preset by registry name, or from a ``.toml`` file with a ``[device]`` table.

    The table's ``cell`` key says the cell kind: "1T1R" (``OneTOneRParams``) or "1R" (the
    default, ``DeviceParams``). Keys the file leaves out take that kind's defaults; an unknown
    key is a ``ConfigError`` that names it.
    """
    text = str(name_or_path)
    if not text.endswith(".toml"):
        return preset(text)
    path = Path(text)
    data = read_toml(path, "preset")
    extra = sorted(set(data) - {"device"})
    if extra or not isinstance(data.get("device"), dict):
        raise ConfigError(f"{path}: expected one [device] table, found "
                          f"{', '.join(extra) or 'no [device] table'}")
    values = dict(data["device"])
    kinds = {kind.cell: kind for kind in (DeviceParams, OneTOneRParams)}
    kind = kinds.get(values.pop("cell", "1R"))
    if kind is None:
        raise ConfigError(f"{path}: device.cell = {data['device']['cell']!r}: expected "
                          f"{' or '.join(repr(k) for k in kinds)}")
    known = {f.name for f in fields(kind)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{path}: device.{key}: unknown device parameter ({kind.cell} "
                              "cell)")
    try:
        return kind(**values)
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def write_preset(params: CellParams, path: str | os.PathLike, comment: str = "") -> None:
    """Write ``params`` as a ``[device]`` TOML table (atomically), ``comment`` lines on top;
    its ``cell`` key says the cell kind, so the file loads back as the same kind."""
    path = Path(path)
    lines = [f"# {line}" for line in comment.splitlines()] + ["[device]",
                                                              f'cell = "{params.cell}"']
    for name, value in asdict(params).items():
        shown = ("true" if value else "false") if isinstance(value, bool) else repr(float(value))
        lines.append(f"{name} = {shown}")
    write_atomic(path, "\n".join(lines) + "\n")
