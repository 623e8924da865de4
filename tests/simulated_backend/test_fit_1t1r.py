"""Fitting the 1T1R model to a gate sweep: what the fit recovers and what it refuses."""

import numpy as np
import pytest

from hilctl.drivers import ConfigError, DataError, SafetyLimits
from hilctl.drivers.pulse_table import PulseTable
from hilctl.protocols.characterize import PulseRanges, characterize
from hilctl.protocols.settings import ResetPulse
from hilctl.simulated_backend.crossbar import SimulatedCrossbar
from hilctl.simulated_backend.fit import simulate_table
from hilctl.simulated_backend.fit_1t1r import fit_1t1r
from hilctl.simulated_backend.fit_1t1r_spreads import one_way_variance
from hilctl.simulated_backend.fit_quality import setting_quality
from hilctl.simulated_backend.one_t_one_r import OneTOneRDevice, OneTOneRParams, plateau_level
from hilctl.simulated_backend.presets import load_preset, preset, write_preset

BASE = OneTOneRParams()
# known parameters away from the base preset the fit starts from
KNOWN = BASE.replace(transistor_threshold_V=1.50, transistor_threshold_spread_V=0.02,
                     transistor_k_A=0.028, g_sat_S=280e-6, g_sat_spread=0.08)
LIMITS = SafetyLimits(reset_max_V=4.0)


def sweep(params: OneTOneRParams, gates=(1.3, 2.5), points=61, pulses=12_000, seed=0):
    """SETs from the high-resistance state on a gate grid, each cell's gate given twice."""
    crossbar = SimulatedCrossbar((20, 20), limits=LIMITS, model=OneTOneRDevice(params),
                                 seed=seed)
    ranges = PulseRanges(set_V=(2.0, 2.0), width_s=(1e-6, 1e-6), set_gate_V=gates,
                         reset_gate_V=(3.5, 3.5), sampling="grid", grid_points=points,
                         start="hrs", repeats=2, hrs_reset=ResetPulse(2.0, 2e-7))
    return characterize(crossbar, pulses, np.random.default_rng(seed), ranges=ranges)


@pytest.fixture(scope="module")
def measured() -> PulseTable:
    return sweep(KNOWN)


@pytest.fixture(scope="module")
def fitted(measured):
    return fit_1t1r(measured, BASE, read_V=LIMITS.read_V)[0]


def plateau(p):
    return float(plateau_level(p.transistor_k_A, p.g_sat_S, p))


def test_fit_recovers_threshold_plateau_and_its_spread(fitted):
    assert fitted.transistor_threshold_V == pytest.approx(KNOWN.transistor_threshold_V, abs=0.02)
    assert plateau(fitted) == pytest.approx(plateau(KNOWN), rel=0.05)
    # the plateau's device-to-device spread, seen through the level's sensitivity to g_sat
    assert fitted.g_sat_spread == pytest.approx(KNOWN.g_sat_spread, rel=0.3)
    assert fitted.transistor_threshold_spread_V == pytest.approx(
        KNOWN.transistor_threshold_spread_V, rel=0.3)


def test_random_settings_from_random_states_still_give_the_plateau_spread():
    """No cell gets a setting twice: its own share shows across its switches near the
    plateau, where the threshold hardly matters."""
    crossbar = SimulatedCrossbar((20, 20), limits=LIMITS, model=OneTOneRDevice(KNOWN), seed=5)
    ranges = PulseRanges(set_gate_V=(1.3, 3.0), reset_gate_V=(3.5, 3.5))
    table = characterize(crossbar, 16_000, np.random.default_rng(5), ranges=ranges)
    fitted, notes = fit_1t1r(table, BASE)
    assert any("near the plateau" in note for note in notes)
    assert fitted.g_sat_spread == pytest.approx(KNOWN.g_sat_spread, rel=0.3)
    assert fitted.transistor_threshold_V == pytest.approx(KNOWN.transistor_threshold_V, abs=0.02)


def test_fitted_preset_reproduces_the_settings_about_as_well_as_the_truth(measured, fitted):
    def met(params):
        quality, _ = setting_quality(measured, simulate_table(measured, params, 0.2, seed=1))
        return np.mean([q.meets for q in quality])

    assert met(fitted) >= met(KNOWN) - 0.1
    assert met(BASE) < met(fitted) - 0.3  # the base preset's threshold is 100 mV off


def test_threshold_may_sit_above_most_pulses_and_zero_volt_rows_are_data():
    # most gates lie below the threshold, some at 0 V
    table = sweep(KNOWN.replace(transistor_threshold_V=2.0), gates=(0.0, 2.4), points=121)
    gate = table.gate[table.polarity > 0]
    assert (gate == 0).sum() >= 50 and (gate < 1.95).mean() > 0.75
    fitted = fit_1t1r(table, BASE)[0]
    assert fitted.transistor_threshold_V == pytest.approx(2.0, abs=0.02)


def test_zero_volt_bit_line_rows_are_data_not_errors(measured):
    table = measured.subset(np.arange(len(measured)))
    idle = np.flatnonzero(table.polarity > 0)[::5]  # a fifth of the SETs at 0 V: no change
    table.amplitude[idle], table.g_after[idle] = 0.0, table.g_before[idle]
    fitted = fit_1t1r(table, BASE)[0]
    assert fitted.transistor_threshold_V == pytest.approx(KNOWN.transistor_threshold_V, abs=0.02)


def test_an_empty_gate_column_is_refused():
    table = sweep(BASE, pulses=400)
    table.gate[:] = np.nan
    with pytest.raises(DataError, match="gate_V column is empty"):
        fit_1t1r(table, BASE)


def test_fitted_preset_file_loads_back_as_the_same_1t1r_preset(fitted, tmp_path):
    write_preset(fitted, tmp_path / "fit.toml", comment="a test")
    loaded = load_preset(tmp_path / "fit.toml")
    assert isinstance(loaded, OneTOneRParams) and loaded == fitted
    write_preset(preset("hfox-1r"), tmp_path / "one_r.toml")
    assert load_preset(tmp_path / "one_r.toml") == preset("hfox-1r")


def test_a_negative_transistor_threshold_in_a_preset_file_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[device]\ncell = "1T1R"\ntransistor_threshold_V = -0.2\n')
    with pytest.raises(ConfigError, match="transistor_threshold_V"):
        load_preset(path)


def test_one_way_variance_separates_cell_and_pulse_scatter():
    rng = np.random.default_rng(0)
    cells = np.repeat(np.arange(4000), rng.integers(1, 5, 4000))
    values = 0.05 * rng.standard_normal(4000)[cells] + 0.02 * rng.standard_normal(cells.size)
    between, within, groups = one_way_variance(cells, values)
    assert np.sqrt(between) == pytest.approx(0.05, rel=0.05)
    assert np.sqrt(within) == pytest.approx(0.02, rel=0.05)
    assert groups == np.unique(cells[np.bincount(cells)[cells] >= 2]).size
