"""Fitting the parametric model to a pulse-response table, and grading a preset against one."""

import numpy as np
import pytest

from hilctl.drivers import DataError
from hilctl.drivers.pulse_table import PulseTable
from hilctl.simulated_backend import DeviceParams
from hilctl.simulated_backend.fit import (
    compare,
    fit_device,
    ks_statistic,
    plot_comparison,
    quality_summary,
    simulate_table,
)
from hilctl.simulated_backend.presets import load_preset, preset, write_preset

TRUE = DeviceParams(rate_spread=0.0, g_spread=0.0, threshold_spread_V=0.0, slope_spread=0.0,
                    window_spread=0.0, stuck_fraction=0.0, read_noise_relative=0.0,
                    read_noise_floor_S=0.0, c2c_relative=0.1, c2c_additive_S=0.1e-6)


@pytest.fixture(scope="module")
def measured() -> PulseTable:
    """A table 'measured' on devices with known parameters: 3 amplitudes x 2 widths a side."""
    rng = np.random.default_rng(0)
    n = 2400
    polarity = np.where(rng.random(n) < 0.5, 1, -1)
    amplitude = np.where(polarity > 0, rng.choice([1.0, 1.2, 1.4], n),
                         rng.choice([1.1, 1.3, 1.5], n))
    width = rng.choice([1e-7, 1e-6], n)
    g_before = rng.uniform(3e-6, 38e-6, n)
    cells = np.array([f"c{i % 30}" for i in range(n)])
    probe = PulseTable(cells, g_before, polarity, amplitude, width, np.full(n, np.nan), g_before)
    g_after = simulate_table(probe, TRUE, read_V=0.2, seed=1)
    return PulseTable(cells, g_before, polarity, amplitude, width, probe.gate, g_after)


@pytest.fixture(scope="module")
def fitted(measured):
    return fit_device(measured, read_V=0.2, seed=0)


def test_fit_recovers_the_response_shape_and_noise(fitted):
    p = fitted.params
    assert p.set_window == pytest.approx(TRUE.set_window, rel=0.15)
    assert p.reset_window == pytest.approx(TRUE.reset_window, rel=0.15)
    assert p.set_slope_V == pytest.approx(TRUE.set_slope_V, rel=0.15)
    assert p.g_max_S == pytest.approx(TRUE.g_max_S, rel=0.05)
    assert p.c2c_relative == pytest.approx(TRUE.c2c_relative, rel=0.3)


def test_fitted_preset_is_graded_about_as_well_as_the_true_one(measured, fitted):
    truth = quality_summary(compare(measured, TRUE, read_V=0.2, seed=0))
    fit = quality_summary(fitted.quality)
    wrong = quality_summary(compare(measured, preset("alox-hfo2"), read_V=0.2, seed=0))
    assert fit["median_ks"] <= truth["median_ks"] + 0.05
    assert wrong["median_ks"] > fit["median_ks"] + 0.3
    assert fit["bins"] == 2 * 3 * 2 * 6


def test_fitted_preset_round_trips_through_toml(fitted, tmp_path):
    write_preset(fitted.params, tmp_path / "fit.toml", comment="test")
    assert load_preset(tmp_path / "fit.toml") == fitted.params


def test_one_amplitude_keeps_the_base_threshold_and_says_so(measured):
    one = measured.subset(np.flatnonzero(np.isin(measured.amplitude, (1.2, 1.3))))
    result = fit_device(one, read_V=0.2)
    assert result.params.set_threshold_V == DeviceParams().set_threshold_V
    assert any("one measured amplitude" in note for note in result.notes)


def test_a_table_too_small_to_fit_is_refused(measured):
    with pytest.raises(DataError, match="5 rows"):
        fit_device(measured.subset(np.arange(5)))


def test_ks_statistic_bounds():
    a = np.arange(100.0)
    assert ks_statistic(a, a) == 0.0
    assert ks_statistic(a, a + 1000) == 1.0


def test_comparison_plot_is_written(measured, fitted, tmp_path, monkeypatch):
    one_setting = measured.subset(np.flatnonzero((measured.amplitude == 1.2)
                                                 & (measured.width == 1e-7)))
    simulated = simulate_table(one_setting, fitted.params, 0.2)
    import matplotlib.pyplot as plt

    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    plot_comparison(one_setting, simulated, tmp_path / "c.png", "test")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    first_column = [ax for ax in closed[0].axes if ax.get_subplotspec().colspan.start == 0]
    assert all(ax.get_ylabel() == "density (1/uS)" for ax in first_column if ax.axison)


def test_zero_volt_and_sub_threshold_rows_are_data_not_errors(measured):
    """A table holding 0 V pulses and pulses below threshold fits, and the SET threshold is free
    to sit above the weakest pulse."""
    rng = np.random.default_rng(2)
    n = 600
    g_before = rng.uniform(3e-6, 38e-6, n)
    probe = PulseTable(np.array([f"w{i % 30}" for i in range(n)]), g_before,
                       np.ones(n, dtype=int), rng.choice([0.0, 0.3], n), np.full(n, 1e-6),
                       np.full(n, np.nan), g_before)
    g_after = simulate_table(probe, TRUE, read_V=0.2, seed=3)
    columns = ("cell", "g_before", "polarity", "amplitude", "width", "gate")
    table = PulseTable(*(np.concatenate([getattr(measured, k), getattr(probe, k)])
                         for k in columns), np.concatenate([measured.g_after, g_after]))
    fit = fit_device(table, read_V=0.2, seed=0)
    assert fit.params.set_threshold_V > 0.3  # above every weak pulse
    assert np.isfinite(fit.params.set_rate_per_s) and fit.params.set_rate_per_s > 0
