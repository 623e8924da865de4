"""Named converter presets and the read-path parameters, each with where its number comes from.

Three analog-to-digital converter models, one per preset name:

- ``isaac``: the 8-bit, 1.28 GS/s, 2 mW SAR converter of ISAAC (Shafiee et al., ISCA 2016), as
  the PUMA and MNSIM models carry it: E = P / f = 1.5625 pJ per conversion, 1 / f per
  conversion. It provides at most 8 bits; fewer bits from it cost the same (the converter is
  the same, its low bits are dropped).
- ``neurosim-sar``: the form NeuroSim uses for a SAR converter, power P = a log2(L) + b plus a
  column-resistance term c / R_col (more current to sense on a low-resistance column), with
  L = 2^bits levels and one clock cycle per bit plus one to sample. The coefficients are
  hilctl's own choice (an 8-bit conversion near ISAAC's energy), not NeuroSim's values.
- ``survey``: the energy bound fitted to Murmann's ADC survey: Schreier figure of merit
  FoM(f) = min(180.1 dB, 302.7 - 6.46 ln f), SNDR = 6.02 bits + 1.76 dB, and
  E = 1 / (2 x 10^((FoM - SNDR) / 10)) per conversion at sample rate f.

``ReadCostSettings`` is the ``[read_cost]`` table of a TOML file: the converter, its bits, the
read levels and every block parameter, validated strictly (an unknown key or a value out of
range is one line naming the key).
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hilctl.drivers import ConfigError
from hilctl.drivers.toml_file import read_toml


class IsaacAdc:
    """ISAAC's 8-bit, 1.28 GS/s, 2 mW converter (Shafiee et al. 2016, as in PUMA and MNSIM)."""

    name = "isaac"
    source = "ISAAC (Shafiee et al., ISCA 2016) 8-bit 1.28 GS/s 2 mW ADC, as carried by PUMA/MNSIM"
    max_bits = 8
    power_W = 2e-3
    rate_Hz = 1.28e9

    def conversion_time_s(self, bits: int) -> float:
        return 1.0 / self.rate_Hz

    def energy_J(self, bits: int, column_resistance_ohm: float) -> float:
        return self.power_W / self.rate_Hz


class NeurosimSarAdc:
    """A SAR converter in NeuroSim's form P = a log2(L) + b + c / R_col, one clock per bit
    plus one to sample. Coefficients are hilctl's (an 8-bit conversion near 1.6 pJ)."""

    name = "neurosim-sar"
    source = ("NeuroSim-style SAR form P = a log2(levels) + b + c / R_col; coefficients chosen "
              "by hilctl (not NeuroSim's values)")
    max_bits = 12
    a_W = 0.10e-3      # per bit of resolution
    b_W = 0.15e-3      # comparator and logic at any resolution
    c_W_ohm = 1.0      # c / R_col: a 10 kOhm column adds 0.1 mW
    clock_Hz = 1.0e9

    def conversion_time_s(self, bits: int) -> float:
        return (bits + 1) / self.clock_Hz

    def energy_J(self, bits: int, column_resistance_ohm: float) -> float:
        power = self.a_W * bits + self.b_W + self.c_W_ohm / column_resistance_ohm
        return power * self.conversion_time_s(bits)


class SurveyBoundAdc:
    """The best converters of Murmann's ADC survey: E = 1 / (2 x 10^((FoM - SNDR) / 10))."""

    name = "survey"
    source = ("Murmann ADC survey fit: Schreier FoM = min(180.1 dB, 302.7 - 6.46 ln f), "
              "E = 1 / (2 x 10^((FoM - SNDR)/10))")
    max_bits = 16
    rate_Hz = 1.28e9

    def conversion_time_s(self, bits: int) -> float:
        return 1.0 / self.rate_Hz

    def energy_J(self, bits: int, column_resistance_ohm: float) -> float:
        fom_dB = min(180.1, 302.7 - 6.46 * math.log(self.rate_Hz))
        sndr_dB = 6.02 * bits + 1.76
        return 1.0 / (2.0 * 10 ** ((fom_dB - sndr_dB) / 10.0))


ADCS = {adc.name: adc for adc in (IsaacAdc(), NeurosimSarAdc(), SurveyBoundAdc())}


def adc_preset(name: str, bits: int):
    """The converter called ``name``, checked to provide ``bits``; ``ConfigError`` otherwise."""
    try:
        adc = ADCS[name]
    except KeyError:
        raise ConfigError(f"[read_cost] adc = {name!r} is unknown; expected one of "
                          f"{', '.join(ADCS)}") from None
    if not 1 <= bits <= adc.max_bits:
        raise ConfigError(f"[read_cost] adc_bits = {bits}: the {name} converter provides "
                          f"1 to {adc.max_bits} bits")
    return adc


#: Where each default of the block parameters comes from (reported beside the costs).
SOURCES = {
    "dac_energy_J": "ISAAC row driver: 4 mW over 8 x 128 drivers at its 100 ns cycle",
    "tia_power_W": "hilctl assumption: a 10 uW virtual-ground TIA per column",
    "mirror_power_W": "hilctl assumption: a 1 uW low-impedance current input per column",
    "source_supply_V": "hilctl assumption: 1 V supply behind each row current source",
    "comparator_energy_J": "hilctl assumption: 10 fJ per comparator decision",
    "bit_time_s": "hilctl assumption: 1 ns per SAR decision of a current-mode neuron",
    "digital_add_energy_J": "hilctl assumption: 0.05 pJ per 16-bit add",
    "activation_energy_J": "hilctl assumption: 0.05 pJ per clipped-ReLU output",
    "wire_resistance_ohm": "hilctl assumption: 1 Ohm of line per cell pitch",
    "wire_capacitance_F": "hilctl assumption: 0.2 fF of line per cell pitch",
    "driver_resistance_ohm": "hilctl assumption: 1 kOhm row driver output",
}

_POSITIVE = {"gt": 0.0, "allow_inf_nan": False}


class ReadCostSettings(BaseModel):
    """The ``[read_cost]`` table: SI units, every power, energy and time strictly positive.

    ``read_voltage_V`` (voltage mode) defaults to the model's input voltage;
    ``input_current_A`` (current mode) is the full-scale current into each row. ``adc_clip``
    sets the converter's full scale as a fraction of the largest column current with every
    input at full scale (below 1: larger outputs clip). ``adcs_per_array`` converters are shared
    by the columns of a phase through a multiplexer (0: one per column).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    adc: str = "isaac"
    adc_bits: int = Field(8, ge=1, le=16)
    adcs_per_array: int = Field(0, ge=0)
    adc_clip: float = Field(1.0, gt=0.0, le=1.0)
    read_voltage_V: float | None = Field(None, gt=0.0, le=2.0)
    input_current_A: float = Field(1e-5, gt=0.0, le=1e-2)
    integration_time_s: float = Field(1e-8, **_POSITIVE)
    dac_energy_J: float = Field(4e-3 / 1024 * 100e-9, **_POSITIVE)
    tia_power_W: float = Field(10e-6, **_POSITIVE)
    mirror_power_W: float = Field(1e-6, **_POSITIVE)
    source_supply_V: float = Field(1.0, **_POSITIVE)
    comparator_energy_J: float = Field(10e-15, **_POSITIVE)
    bit_time_s: float = Field(1e-9, **_POSITIVE)
    digital_add_energy_J: float = Field(0.05e-12, **_POSITIVE)
    activation_energy_J: float = Field(0.05e-12, **_POSITIVE)
    wire_resistance_ohm: float = Field(1.0, **_POSITIVE)
    wire_capacitance_F: float = Field(0.2e-15, **_POSITIVE)
    driver_resistance_ohm: float = Field(1e3, **_POSITIVE)

    def converter(self):
        """The ADC preset, checked to provide ``adc_bits``."""
        return adc_preset(self.adc, self.adc_bits)


def load_read_cost_toml(path: str | Path, **overrides) -> ReadCostSettings:
    """The ``[read_cost]`` table of a TOML file (other tables are not this module's)."""
    document = read_toml(path, "read-cost file")
    table = document.get("read_cost", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: read_cost must be a table")
    return read_cost_settings(table, **overrides)


def read_cost_settings(table: dict | None = None, **overrides) -> ReadCostSettings:
    """Validate a ``[read_cost]`` table (plus CLI overrides); one line naming the bad key.

    Integers are accepted where a float is expected (``adc_clip = 1``), as TOML users write.
    """
    values = {**(table or {}), **{k: v for k, v in overrides.items() if v is not None}}
    floats = {k for k, f in ReadCostSettings.model_fields.items() if f.annotation in
              (float, float | None)}
    values = {k: float(v) if k in floats and type(v) is int else v for k, v in values.items()}
    try:
        settings = ReadCostSettings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "read_cost"
        raise ConfigError(f"[read_cost] {key}: {err['msg']} (got {err.get('input')!r})") from None
    settings.converter()
    return settings
