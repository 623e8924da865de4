"""The read-path cost model: the worked check, each mode's physics, the converters, the strict
[read_cost] table and the accuracy the same converters give."""

import math

import numpy as np
import pytest

from hilctl.drivers import ConfigError
from hilctl.weights.datasets import load_dataset
from hilctl.weights.inference import evaluate, load_run, read_cost_report, read_cost_sweep
from hilctl.weights.interface_presets import ADCS, load_read_cost_toml, read_cost_settings
from hilctl.weights.layout import usable_window
from hilctl.weights.model_files import TrainedModel
from hilctl.weights.network import TrainConfig, train_model
from hilctl.weights.read_cost import (
    CurrentReadPath,
    VoltageReadPath,
    full_read_energy_J,
    phase_cost,
    quantise,
)
from tests.hilctl.test_inference import write_run

G_LO, G_HI = usable_window()
MEAN_G = 20e-6


def a_model(mode="voltage", volts=0.2):
    return TrainedModel(mode, (2, 1), [np.zeros((3, 1))], [1.0], "digits", input_voltage_V=volts)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def runs(digits, tmp_path_factory):
    where = tmp_path_factory.mktemp("cost")
    return {mode: load_run(write_run(where / mode, train_model(TrainConfig(mode=mode, epochs=10),
                                                               digits)))
            for mode in ("voltage", "current")}


def test_the_worked_check_of_a_full_128x128_read():
    g = np.full((128, 128), MEAN_G)
    assert full_read_energy_J(g, 0.2, 10e-9) == pytest.approx(131e-12, rel=0.01)
    assert full_read_energy_J(g, 0.03, 10e-9) == pytest.approx(2.9e-12, rel=0.02)
    path = VoltageReadPath(read_cost_settings({"integration_time_s": 10e-9}), a_model())
    phase = phase_cost(path, g, g.sum(axis=1, keepdims=True), np.ones((1, 128)))
    # read at the voltage the conductances were measured at, the I-V adds nothing
    assert phase["energy_J"]["array"] == pytest.approx(131e-12, rel=0.01)
    assert phase["energy_J"]["conversion"] == pytest.approx(128 * 1.5625e-12)
    assert phase["energy_J"]["conversion"] == pytest.approx(200e-12, rel=0.001)


def test_a_higher_read_voltage_reads_more_than_ohmic_through_the_iv():
    g = np.full((4, 4), MEAN_G)
    high = VoltageReadPath(read_cost_settings({"read_voltage_V": 0.4}), a_model(volts=0.2))
    array = phase_cost(high, g, g.sum(axis=1, keepdims=True), np.ones((1, 4)))["energy_J"]["array"]
    assert array > full_read_energy_J(g, 0.4, 1e-8)


def test_current_mode_rows_settle_at_the_divider_voltage():
    g = np.full((8, 16), MEAN_G)
    total = g.sum(axis=1, keepdims=True)
    current = 1e-7  # small: V = I / S, the ohmic limit
    path = CurrentReadPath(read_cost_settings({"input_current_A": current}), a_model("current"))
    phase = phase_cost(path, g, total, np.ones((1, 8)))
    assert phase["energy_J"]["array"] == pytest.approx(8 * current**2 / total[0, 0] * 1e-8,
                                                       rel=1e-3)
    # the sources draw from their supply, not from the row voltage
    assert phase["energy_J"]["drivers"] > 100 * phase["energy_J"]["array"]


def test_shared_converters_take_turns():
    g = np.full((16, 32), MEAN_G)
    total = g.sum(axis=1, keepdims=True)
    x = np.ones((1, 16))
    own = phase_cost(VoltageReadPath(read_cost_settings(), a_model()), g, total, x)
    shared = phase_cost(VoltageReadPath(read_cost_settings({"adcs_per_array": 4}), a_model()),
                        g, total, x)
    assert shared["conversion_s"] == pytest.approx(8 * own["conversion_s"])
    assert shared["energy_J"]["conversion"] == pytest.approx(own["energy_J"]["conversion"])


def test_quantise_rounds_to_levels_and_clips_at_full_scale():
    got = quantise(np.array([0.0, 0.26, 0.5, 2.0]), 1.0, 2)
    assert np.allclose(got, [0.0, 1 / 3, 2 / 3, 1.0])


def test_the_survey_bound_follows_its_formula_and_grows_4x_per_bit():
    adc = ADCS["survey"]
    fom = min(180.1, 302.7 - 6.46 * math.log(adc.rate_Hz))
    assert adc.energy_J(8, 1e4) == pytest.approx(1 / (2 * 10 ** ((fom - 49.92) / 10)))
    assert adc.energy_J(9, 1e4) / adc.energy_J(8, 1e4) == pytest.approx(10 ** 0.602, rel=1e-6)


def test_neurosim_sar_costs_more_per_bit_and_on_a_low_resistance_column():
    adc = ADCS["neurosim-sar"]
    assert adc.energy_J(8, 1e4) > adc.energy_J(6, 1e4)
    assert adc.energy_J(8, 1e3) > adc.energy_J(8, 1e5)


@pytest.mark.parametrize("table, words", [
    ({"adc": "flash9"}, ["adc", "flash9"]),
    ({"adc_bits": 9}, ["adc_bits", "isaac", "8"]),
    ({"tia_power_W": -1e-6}, ["tia_power_W"]),
    ({"integration_time_s": 0.0}, ["integration_time_s"]),
    ({"tia_power": 1e-6}, ["tia_power"]),
])
def test_bad_read_cost_settings_are_one_line_naming_the_key(table, words):
    with pytest.raises(ConfigError) as err:
        read_cost_settings(table)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_the_toml_table_overrides_presets(tmp_path):
    path = tmp_path / "cost.toml"
    path.write_text("[read_cost]\nadc = 'survey'\nadc_bits = 10\nadc_clip = 1\n")
    settings = load_read_cost_toml(path)
    assert (settings.adc, settings.adc_bits, settings.adc_clip) == ("survey", 10, 1.0)


@pytest.mark.parametrize("mode", ["voltage", "current"])
def test_fine_converters_keep_the_measured_accuracy(runs, digits, mode):
    run = runs[mode]
    fine = read_cost_report(run, digits, read_cost_settings({"adc": "survey", "adc_bits": 14}))
    assert fine["accuracy"] == pytest.approx(evaluate(run, digits)["accuracy_measured"],
                                             abs=0.01)
    coarse = read_cost_report(run, digits, read_cost_settings({"adc_bits": 2}))
    assert coarse["accuracy"] < fine["accuracy"] - 0.05


def test_clipping_the_columns_costs_accuracy(runs, digits):
    run = runs["voltage"]
    clipped = read_cost_report(run, digits, read_cost_settings({"adc_clip": 0.05}))
    assert clipped["accuracy"] < evaluate(run, digits)["accuracy_measured"] - 0.05


def test_the_report_splits_energy_by_block_and_per_mac(runs, digits):
    for run in runs.values():
        cost = read_cost_report(run, digits, read_cost_settings())
        assert sum(cost["blocks_J"].values()) == pytest.approx(cost["energy_J"])
        assert cost["energy_per_mac_J"] * cost["macs"] == pytest.approx(cost["energy_J"])
        assert cost["macs"] == sum(a * b for a, b in (w.shape for w in run.model.weights))
        assert cost["dominant_block"] == max(cost["blocks_J"], key=cost["blocks_J"].get)
        assert cost["latency_s"] > cost["phases"] * 1e-8


def test_the_sweep_reads_more_energy_at_higher_levels(runs, digits):
    rows = read_cost_sweep(runs["current"], digits, read_cost_settings(), [1e-6, 1e-4], [6])
    assert rows[1]["energy_J"] > rows[0]["energy_J"]
    assert [r["input_current_A"] for r in rows] == [1e-6, 1e-4]
    volts = read_cost_sweep(runs["voltage"], digits, read_cost_settings(), [0.05, 0.3], [8])
    assert volts[1]["blocks_J"]["array"] > 30 * volts[0]["blocks_J"]["array"]
