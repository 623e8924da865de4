"""Published presets reproduce the tabulated weight-update numbers they were built from."""

import numpy as np
import pytest

from hilctl.drivers import Cells, ConfigError, PulseBatch, SafetyLimits
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar
from hilctl.simulated_backend.presets import (
    DEFAULT_PRESET,
    DEVIATION_PER_LABEL,
    PRESETS,
    PUBLISHED,
    curve_deviation,
    load_preset,
    preset,
    write_preset,
)

# A train of float32 pulses (the simulator's arithmetic) ends within ~1e-7 per pulse of the
# float64 curve the presets were built on: up to 1.2e-4 over the longest trains (hundreds of
# pulses), three orders below the cycle-to-cycle noise.
TRAIN = 5e-4
LIMITS = SafetyLimits(set_max_V=6.0, reset_max_V=4.0, width_min_s=1e-9, width_max_s=1e-3,
                      read_V=0.01)


def _crossbar(params: DeviceParams, n: int = 1, seed: int = 0) -> SimulatedCrossbar:
    return SimulatedCrossbar((1, n), params=params, limits=LIMITS, seed=seed)


def _low_field(crossbar: SimulatedCrossbar) -> np.ndarray:
    cells = Cells.all(crossbar.shape)
    return crossbar.sim_true_conductance(cells) / crossbar.params.read_factor(LIMITS.read_V)


def _pulse_train(name: str, polarity: int, start_state: float | None = None) -> np.ndarray:
    table = PUBLISHED[name]
    crossbar = _crossbar(PRESETS[name].replace(c2c_additive_S=0.0, read_noise_relative=0.0))
    if start_state is not None:
        crossbar.sim_set_state(np.array([start_state]))
    amplitude, width, pulses = ((table.set_V, table.set_width_s, table.levels_set)
                                if polarity > 0 else
                                (table.reset_V, table.reset_width_s, table.levels_reset))
    curve = [_low_field(crossbar)[0]]
    for _ in range(pulses):
        crossbar.apply(PulseBatch(Cells.all((1, 1)), polarity, amplitude, width))
        curve.append(_low_field(crossbar)[0])
    return np.array(curve)


def _label(curve: np.ndarray) -> float:
    """NeuroSim nonlinearity label of a train: max deviation of the normalised curve."""
    y = (curve - curve[0]) / (curve[-1] - curve[0])
    return float(np.max(y - np.linspace(0.0, 1.0, curve.size)) / DEVIATION_PER_LABEL)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_set_train_covers_the_range_in_the_tabulated_levels_with_its_nonlinearity(name):
    table = PUBLISHED[name]
    curve = _pulse_train(name, +1)
    assert curve[0] == pytest.approx(table.g_off_S, rel=TRAIN)
    assert curve[-1] == pytest.approx(table.g_on_S, rel=TRAIN)
    assert curve[-1] / curve[0] == pytest.approx(table.on_off, rel=TRAIN)
    assert np.all(np.diff(curve) > 0)
    assert _label(curve) == pytest.approx(table.nonlinearity_set, rel=0.03, abs=0.01)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_reset_train_covers_the_range_back_in_the_tabulated_levels(name):
    table, params = PUBLISHED[name], PRESETS[name]
    top = (table.g_on_S - params.g_min_S) / (params.g_max_S - params.g_min_S)
    curve = _pulse_train(name, -1, start_state=top)
    assert curve[0] == pytest.approx(table.g_on_S, rel=TRAIN)
    assert curve[-1] == pytest.approx(table.g_off_S, rel=TRAIN)
    # Depression: the normalised drop, measured like the potentiation curve.
    reached = _label(curve[0] - curve)
    floor = curve_deviation(table.on_off * 1.01, params.reset_window) / DEVIATION_PER_LABEL
    expected = max(abs(table.nonlinearity_reset), floor)
    assert reached == pytest.approx(expected, rel=0.03)


def test_only_near_linear_depression_over_a_wide_range_departs_from_its_table():
    departs = {name for name, table in PUBLISHED.items()
               if abs(table.nonlinearity_reset) < curve_deviation(
                   table.on_off * 1.01, PRESETS[name].reset_window) / DEVIATION_PER_LABEL}
    assert departs == {"taox-hfox", "alox-hfo2", "epiram"}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_cycle_to_cycle_sigma_is_the_tabulated_fraction_of_the_range(name):
    table, params = PUBLISHED[name], PRESETS[name]
    n = 4000
    noisy, clean = _crossbar(params, n, seed=1), _crossbar(
        params.replace(c2c_additive_S=0.0), n, seed=1)
    mid = np.full(n, 0.5 * (params.initial_state + (table.g_on_S - params.g_min_S)
                            / (params.g_max_S - params.g_min_S)))
    for crossbar in (noisy, clean):
        crossbar.sim_set_state(mid)
        crossbar.apply(PulseBatch(Cells.all((1, n)), 1, table.set_V, table.set_width_s))
    spread = np.std(_low_field(noisy) - _low_field(clean)) / (table.g_on_S - table.g_off_S)
    assert spread == pytest.approx(table.c2c_sigma, rel=0.05)


def test_the_default_is_the_1t1r_preset_and_the_1r_one_reproducible():
    assert DEFAULT_PRESET == "hfox-1t1r" and preset(DEFAULT_PRESET).cell == "1T1R"
    assert preset("hfox-1r") == DeviceParams()


def test_load_preset_by_name_and_from_a_written_toml(tmp_path):
    assert load_preset("ag-asi") == PRESETS["ag-asi"]
    fitted = PRESETS["epiram"].replace(rate_spread=0.2, random_initial_state=True)
    write_preset(fitted, tmp_path / "fit.toml", comment="fitted to lab.csv\nmedian distance 0.1")
    assert load_preset(tmp_path / "fit.toml") == fitted
    assert (tmp_path / "fit.toml").read_text().startswith("# fitted to lab.csv")


def test_preset_file_with_an_unknown_key_names_it(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[device]\ng_min_S = 1e-6\nset_rate = 3.0\n")
    with pytest.raises(ConfigError, match="device.set_rate: unknown device parameter"):
        load_preset(path)
    path.write_text("[devices]\ng_min_S = 1e-6\n")
    with pytest.raises(ConfigError, match="devices"):
        load_preset(path)


def test_unknown_preset_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="ag-asi.*epiram"):
        load_preset("nafion")
