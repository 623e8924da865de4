"""What one inference costs on the arrays: energy and latency of the read path, per block.

Each tile of the layout is read in its own phase (its rows driven, its columns converted). With
the measured conductances G (S, read at the model's voltage V_m) and the shared device I-V
I = G V_m sinh(V / V0) / sinh(V_m / V0), per phase and per inference (mean over the inputs):

- voltage mode, row i at V_i = x_i V_read: drivers n_rows E_dac; array
  t_int sum_i V_i I_i(V_i); a virtual-ground TIA per column, P_tia (t_settle + t_int);
  converters n_cols E_adc.
- current mode, row i fed I_i = x_i I_in: the row settles where its devices carry I_i,
  V_i = V0 asinh(I_i sinh(V_m / V0) / (V_m S_i)) (S_i: every device on the row); drivers
  I_i V_DD (t_settle + t_int) from the sources' supply; array t_int sum_i I_i V_i; a current
  input per column, P_mirror (t_settle + t_int); a SAR neuron per column,
  bits (E_comp + I_ref V_DD t_bit) with I_ref the converter's full scale.
- both: digital n_cols adds (pair difference, tile sums) and one activation per output.

Latency per phase: line settling to half an LSB, tau ln(2^(bits + 1)), with tau from the row
and column lines' R and C (a current-fed row node has 1 / S_i to ground instead of a driver);
then t_int; then conversions, ceil(n_cols / converters) of them in series. Phases add up.

The same read level, converter bits and clipping run the network (``ColumnReadout``): each
column current is quantised and clipped at the converter's full scale, then the pair's
difference taken digitally, so accuracy and energy come from one set of numbers.
"""

from __future__ import annotations

import math

import numpy as np

from .interface_presets import ReadCostSettings
from .layout import Layout, Tile
from .model_files import TrainedModel

BLOCKS = ("drivers", "array", "column interface", "conversion", "digital")


def full_read_energy_J(g: np.ndarray, volts: float, time_s: float) -> float:
    """sum_ij V^2 G_ij t (J): an ohmic array read with every row at ``volts`` for ``time_s``."""
    return float(volts**2 * np.nansum(g) * time_s)


class VoltageReadPath:
    """Rows driven by DACs at x V_read; columns held at virtual ground by TIAs, then ADCs."""

    name = "voltage"
    level_key = "read_voltage_V"

    def __init__(self, settings: ReadCostSettings, model: TrainedModel):
        self.s, self.v_m, self.v0 = settings, model.input_voltage_V, model.iv_v0_V
        self.level = settings.read_voltage_V or model.input_voltage_V

    def unit_current(self, block: np.ndarray, row_total: np.ndarray) -> np.ndarray:
        """Column current per unit of normalised input through each device (A per (S or 1))."""
        scale = self.v_m * math.sinh(self.level / self.v0) / math.sinh(self.v_m / self.v0)
        return block * scale

    def transfer(self, x: np.ndarray) -> np.ndarray:
        return (np.sinh(x * self.level / self.v0) / math.sinh(self.level / self.v0))

    def to_weight(self, layout: Layout, layer: int) -> float:
        """Weight units per ampere of column current (the digital side's scale)."""
        unit = self.v_m * math.sinh(self.level / self.v0) / math.sinh(self.v_m / self.v0)
        return layout.scales[layer] / unit

    def row_power(self, x: np.ndarray, block: np.ndarray,
                  row_total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(array power V_i I_i in W, row current in A) per sample and row. Only the tile's
        own devices conduct: the other columns of its rows are left floating."""
        row_g = block.sum(axis=1)
        v = x * self.level
        current = row_g * self.v_m * np.sinh(v / self.v0) / math.sinh(self.v_m / self.v0)
        return v * current, current

    def drivers_J(self, x, row_current, on_s) -> float:
        return x.shape[1] * self.s.dac_energy_J

    def interface_J(self, n_cols: int, on_s: float) -> float:
        return n_cols * self.s.tia_power_W * on_s

    def conversion(self, n_cols, full_scale_A, column_ohm) -> tuple[float, float]:
        adc = self.s.converter()
        bits = self.s.adc_bits
        return (n_cols * adc.energy_J(bits, column_ohm),
                self._rounds(n_cols) * adc.conversion_time_s(bits))

    def row_tau_s(self, n_cols: int, row_total: np.ndarray) -> float:
        s = self.s
        c = s.wire_capacitance_F * n_cols
        return (s.driver_resistance_ohm + s.wire_resistance_ohm * n_cols) * c

    def converter_name(self) -> str:
        return f"{self.s.adc} ADC"

    def read_level(self) -> dict:
        """The input level that sets the energy, under its ``[read_cost]`` key."""
        return {self.level_key: self.level}

    def _rounds(self, n_cols: int) -> int:
        share = self.s.adcs_per_array or n_cols
        return math.ceil(n_cols / share)


class CurrentReadPath(VoltageReadPath):
    """Rows fed by current sources at x I_in; columns into current inputs and SAR neurons."""

    name = "current"
    level_key = "input_current_A"

    def unit_current(self, block, row_total):
        return self.s.input_current_A * block / row_total

    def transfer(self, x):
        return x

    def to_weight(self, layout, layer):
        return 1.0 / self.s.input_current_A

    def read_level(self):
        return {self.level_key: self.s.input_current_A}

    def converter_name(self):
        return "current-mode SAR neuron"

    def row_power(self, x, block, row_total):
        """Every device on the row, ballast included, carries a share of its current."""
        row_g = row_total[:, 0]
        current = x * self.s.input_current_A
        ratio = math.sinh(self.v_m / self.v0) / self.v_m
        volts = self.v0 * np.arcsinh(current * ratio / row_g)
        return current * volts, current

    def drivers_J(self, x, row_current, on_s):
        return float(row_current.sum()) * self.s.source_supply_V * on_s

    def interface_J(self, n_cols, on_s):
        return n_cols * self.s.mirror_power_W * on_s

    def conversion(self, n_cols, full_scale_A, column_ohm):
        s = self.s
        per_bit = s.comparator_energy_J + full_scale_A * s.source_supply_V * s.bit_time_s
        return (n_cols * s.adc_bits * per_bit,
                self._rounds(n_cols) * s.adc_bits * s.bit_time_s)

    def row_tau_s(self, n_cols, row_total):
        c = self.s.wire_capacitance_F * n_cols
        return float(np.max(c / row_total + self.s.wire_resistance_ohm * n_cols * c))


READ_PATHS = {path.name: path for path in (VoltageReadPath, CurrentReadPath)}


def read_path(mode: str, settings: ReadCostSettings, model: TrainedModel) -> VoltageReadPath:
    return READ_PATHS[mode](settings, model)


def _tile_g(layout: Layout, tile: Tile, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(block, row_total): the tile's conductances and each row's total, ballast included when
    the mode's rows share current."""
    block = np.asarray(tile.block(g), dtype=np.float64)
    total = block.sum(axis=1, keepdims=True)
    if layout.weight_mode.row_shares_current:
        total = total + tile.ballast(g)
    return block, total


def full_scale_A(path: VoltageReadPath, block: np.ndarray, row_total: np.ndarray) -> float:
    """The converter's full scale: ``adc_clip`` of the largest column current, inputs full."""
    return path.s.adc_clip * float(path.unit_current(block, row_total).sum(axis=0).max())


def phase_cost(path: VoltageReadPath, block, row_total, x: np.ndarray) -> dict:
    """Energy per block (J) and latency (s) of one tile phase, mean over the rows of ``x``
    (samples, tile rows) of normalised inputs."""
    s = path.s
    n_rows, n_cols = block.shape
    column_tau = s.wire_resistance_ohm * s.wire_capacitance_F * n_rows**2
    tau = path.row_tau_s(n_cols, row_total) + column_tau
    settle = tau * math.log(2 ** (s.adc_bits + 1))
    on_s = settle + s.integration_time_s
    power, current = path.row_power(x, block, row_total)
    array = float(power.mean(axis=0).sum()) * s.integration_time_s
    row_current = current.mean(axis=0)
    column_ohm = 1.0 / float(block.sum(axis=0).mean())
    conv_J, conv_s = path.conversion(n_cols, full_scale_A(path, block, row_total), column_ohm)
    energy = {"drivers": path.drivers_J(x, row_current, on_s), "array": array,
              "column interface": path.interface_J(n_cols, on_s), "conversion": conv_J,
              "digital": n_cols * s.digital_add_energy_J}
    return {"energy_J": energy, "latency_s": on_s + conv_s, "settle_s": settle,
            "conversion_s": conv_s}


def quantise(current: np.ndarray, full_scale: float, bits: int) -> np.ndarray:
    """Column currents (A) through a ``bits`` converter spanning [0, full_scale]: rounded to
    its levels, clipped above full scale."""
    levels = 2**bits - 1
    return np.clip(np.rint(current * (levels / full_scale)), 0, levels) * (full_scale / levels)


class ColumnReadout:
    """The network as the read path computes it: per tile, column currents from the measured
    conductances at the read level, quantised and clipped, pair differences taken digitally,
    row tiles summed. ``product(k, a)`` is layer k's output before its gain."""

    def __init__(self, path: VoltageReadPath, layout: Layout, conductance: np.ndarray):
        self.path, self.layout = path, layout
        layout.conductances_to_layers(conductance)  # shape and completeness check
        g = np.asarray(conductance, dtype=np.float64)
        self.tiles = []
        for t in layout.tiles:
            block, total = _tile_g(layout, t, g)
            self.tiles.append((t, block, total, path.unit_current(block, total),
                               full_scale_A(path, block, total)))

    def product(self, layer: int, a: np.ndarray) -> np.ndarray:
        x = np.hstack([self.path.transfer(np.asarray(a, np.float64)), np.ones((len(a), 1))])
        out = np.zeros((len(a), self.layout.layer_shapes[layer][1]))
        to_weight = self.path.to_weight(self.layout, layer)
        for t, _, _, unit, fs in self.tiles:
            if t.layer == layer:
                q = quantise(x[:, t.in_start:t.in_stop] @ unit, fs, self.path.s.adc_bits)
                out[:, t.out_start:t.out_stop] += (q[:, 0::2] - q[:, 1::2]) * to_weight
        return out.astype(np.float32)

    def cost(self, inputs: list[np.ndarray]) -> dict:
        """Energy per block, latency and MACs of one inference, ``inputs`` being each layer's
        input activities over the test set (samples, n_in)."""
        s = self.path.s
        energy = dict.fromkeys(BLOCKS, 0.0)
        latency = 0.0
        for t, block, total, _, _ in self.tiles:
            x = np.hstack([inputs[t.layer], np.ones((len(inputs[t.layer]), 1))])
            phase = phase_cost(self.path, block, total, x[:, t.in_start:t.in_stop])
            for name, value in phase["energy_J"].items():
                energy[name] += value
            latency += phase["latency_s"]
        outputs = sum(n_out for _, n_out in self.layout.layer_shapes)
        energy["digital"] += outputs * s.activation_energy_J
        macs = sum(n_in * n_out for n_in, n_out in self.layout.layer_shapes)
        total_J = sum(energy.values())
        return {"mode": self.path.name, "energy_J": total_J, "energy_per_mac_J": total_J / macs,
                "latency_s": latency, "macs": macs, "blocks_J": energy,
                "dominant_block": max(energy, key=energy.get), "phases": len(self.tiles),
                "converter": self.path.converter_name(), "adc_bits": s.adc_bits,
                **self.path.read_level()}
