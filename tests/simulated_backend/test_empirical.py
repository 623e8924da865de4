"""The empirical device model: measured responses in, the same responses out of the crossbar."""

from pathlib import Path

import numpy as np
import pytest

from hilctl.data_import import Mapping, import_table
from hilctl.drivers import Cells, ConfigError, DataError, PulseBatch
from hilctl.drivers.pulse_table import PulseTable
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar
from hilctl.simulated_backend.empirical import EmpiricalDevice

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crosssim"


@pytest.fixture(scope="module")
def measured() -> PulseTable:
    mapping = Mapping(layout="pulse-train", measure="current", units={"measure": "A"},
                      read_voltage_V=0.1, pulse={1: (1.2, 100e-9), -1: (1.5, 100e-9)})
    return import_table([(FIXTURES / "set_sample.csv", 1), (FIXTURES / "reset_sample.csv", -1)],
                        mapping).table


def _synthetic(widths=(1e-7, 1e-6), steps=(1e-6, 3e-6), amplitudes=(1.0,), n=200, seed=0):
    """SET rows whose dG is ``step`` (+-5 %) at each width, for any G_before in 10..50 uS."""
    rng = np.random.default_rng(seed)
    parts = []
    for amplitude in amplitudes:
        for width, step in zip(widths, steps, strict=True):
            g = rng.uniform(10e-6, 50e-6, n)
            dg = step * amplitude * (1 + 0.05 * rng.standard_normal(n))
            parts.append(PulseTable(np.full(n, "c"), g, np.ones(n), np.full(n, amplitude),
                                    np.full(n, width), np.full(n, np.nan), g + dg))
    return PulseTable.concat(parts)


def _iqr(values: np.ndarray) -> float:
    return float(np.subtract(*np.percentile(values, [75, 25])))


def test_held_out_rows_get_the_measured_median_and_spread(measured):
    index = np.arange(len(measured))
    build, held = measured.subset(index[index % 2 == 0]), measured.subset(index[index % 2 == 1])
    model = EmpiricalDevice(build, min_per_bin=30)
    repeats = 20  # many draws per held-out row, so only the held-out sample's own noise is left
    simulated = model.respond_as_read(*(np.tile(a, repeats) for a in (
        held.g_before, held.polarity, held.amplitude, held.width, held.gate)),
        rng=np.random.default_rng(0))
    for polarity in (1, -1):
        sel = held.polarity == polarity
        measured_dg = held.g_after[sel] - held.g_before[sel]
        simulated_dg = (simulated - np.tile(held.g_before, repeats))[np.tile(sel, repeats)]
        assert np.median(simulated_dg) == pytest.approx(np.median(measured_dg), rel=0.05)
        assert _iqr(simulated_dg) == pytest.approx(_iqr(measured_dg), rel=0.25)
        assert np.median(np.tile(held.g_before, repeats)[np.tile(sel, repeats)]
                         + simulated_dg) == pytest.approx(np.median(held.g_after[sel]), rel=0.05)


def test_it_plugs_into_the_simulated_crossbar_and_moves_like_the_trains(measured):
    model = EmpiricalDevice(measured, min_per_bin=30)
    crossbar = SimulatedCrossbar((4, 8), seed=3, model=model)
    cells = Cells.all((4, 8))
    start = crossbar.read(cells).conductance
    assert np.all((start >= model.g_low) & (start <= model.g_high))
    for _ in range(10):
        crossbar.apply(PulseBatch(cells, -1, 1.5, 100e-9))
    after_reset = crossbar.read(cells).conductance
    assert crossbar.population is None and crossbar.params.read_noise_relative == 0
    assert np.all(after_reset <= start + 1e-9)
    for _ in range(20):
        crossbar.apply(PulseBatch(cells, 1, 1.2, 100e-9))
    after_set = crossbar.read(cells).conductance
    set_steps = measured.g_after[measured.polarity == 1] - measured.g_before[measured.polarity == 1]
    gained = np.median(after_set - after_reset)
    assert 10 * np.median(set_steps) < gained < 30 * np.median(set_steps)


def test_same_seed_same_run(measured):
    runs = []
    for _ in range(2):
        crossbar = SimulatedCrossbar((2, 3), seed=9, model=EmpiricalDevice(measured, 30))
        crossbar.apply(PulseBatch(Cells.all((2, 3)), 1, 1.2, 100e-9))
        runs.append(crossbar.sim_state())
    np.testing.assert_array_equal(*runs)


def test_interpolates_between_measured_widths_in_log_width():
    model = EmpiricalDevice(_synthetic())
    g = np.full(2000, 30e-6)
    ones = np.ones(2000)
    width = np.full(2000, np.sqrt(1e-7 * 1e-6))
    dg = model.respond(g, ones, ones, width, np.full(2000, np.nan), np.random.default_rng(0)) - g
    assert np.median(dg) == pytest.approx(2e-6, rel=0.03)


def test_interpolates_between_measured_amplitudes():
    table = _synthetic(widths=(1e-7,), steps=(1e-6,), amplitudes=(1.0, 2.0))
    model = EmpiricalDevice(table)
    g, n = np.full(1000, 30e-6), 1000
    dg = model.respond(g, np.ones(n), np.full(n, 1.5), np.full(n, 1e-7), np.full(n, np.nan),
                       np.random.default_rng(0)) - g
    assert np.median(dg) == pytest.approx(1.5e-6, rel=0.03)


def test_a_pulse_beyond_the_measured_settings_raises_or_is_clamped_and_counted():
    table = _synthetic()
    with pytest.raises(DataError, match=r"width 1e-05 s lies outside the measured widths"):
        EmpiricalDevice(table).respond(np.array([2e-5]), np.array([1]), np.array([1.0]),
                                       np.array([1e-5]), np.array([np.nan]),
                                       np.random.default_rng(0))
    clamped = EmpiricalDevice(table, out_of_range="clamp")
    g = clamped.respond(np.full(3, 2e-5), np.ones(3), np.ones(3), np.full(3, 1e-5),
                        np.full(3, np.nan), np.random.default_rng(0))
    assert clamped.flags["pulse_clamped"] == 3
    assert np.median(g - 2e-5) == pytest.approx(3e-6, rel=0.1)


def test_an_unmeasured_polarity_is_refused_with_the_measured_settings():
    crossbar = SimulatedCrossbar((1, 2), model=EmpiricalDevice(_synthetic()))
    with pytest.raises(DataError, match="RESET 1 V.*measured settings: SET 1 V, 100 ns"):
        crossbar.apply(PulseBatch(Cells.all((1, 2)), -1, 1.0, 1e-7))


def test_too_few_rows_or_a_ragged_grid_cannot_be_conditioned_on():
    with pytest.raises(DataError, match="has 10 rows; at least 40"):
        EmpiricalDevice(_synthetic(n=10))
    ragged = PulseTable.concat([_synthetic(widths=(1e-7, 1e-6), steps=(1e-6, 2e-6)),
                                _synthetic(widths=(1e-7,), steps=(2e-6,), amplitudes=(2.0,))])
    with pytest.raises(DataError, match="do not form a grid: amplitude 2 V with width 1e-06 s"):
        EmpiricalDevice(ragged)


def test_a_model_and_params_together_are_refused():
    with pytest.raises(ConfigError, match="not both"):
        SimulatedCrossbar((1, 1), params=DeviceParams(), model=EmpiricalDevice(_synthetic()))


def test_a_large_batch_is_one_vectorised_call():
    model = EmpiricalDevice(_synthetic(n=2000), max_bins=16)
    n = 200_000
    g = np.random.default_rng(1).uniform(10e-6, 50e-6, n)
    out = model.respond(g, np.ones(n), np.ones(n), np.full(n, 1e-7), np.full(n, np.nan),
                        np.random.default_rng(2))
    assert out.shape == (n,) and np.all(np.isfinite(out))
    assert np.median(out - g) == pytest.approx(1e-6, rel=0.02)


def _chains(cells: int, pulses: int, switch_sigma: float, read_sigma: float) -> PulseTable:
    """SET trains: true G grows by 2 uS +- switch_sigma a pulse; every read adds read_sigma."""
    rng = np.random.default_rng(5)
    steps = 2e-6 + switch_sigma * rng.standard_normal((cells, pulses))
    true = 10e-6 + np.concatenate([np.zeros((cells, 1)), np.cumsum(steps, axis=1)], axis=1)
    read = true + read_sigma * rng.standard_normal(true.shape)
    n = cells * pulses
    return PulseTable(np.repeat([f"t{i}" for i in range(cells)], pulses), read[:, :-1].ravel(),
                      np.ones(n), np.ones(n), np.full(n, 1e-7), np.full(n, np.nan),
                      read[:, 1:].ravel())


def test_read_noise_is_told_apart_from_switching_noise_in_chained_reads():
    table = _chains(cells=60, pulses=100, switch_sigma=0.3e-6, read_sigma=0.5e-6)
    model = EmpiricalDevice(table)
    assert model.read_noise_S == pytest.approx(0.5e-6, rel=0.15)
    assert model.params.read_noise_floor_S == model.read_noise_S
    g = np.full(20000, 50e-6)
    ones = np.ones(g.size)
    switching = model.respond(g, ones, ones, 1e-7 * ones, np.full(g.size, np.nan),
                              np.random.default_rng(1)) - g
    assert np.std(switching) == pytest.approx(0.3e-6, rel=0.25)
    as_read = model.respond_as_read(g, ones, ones, 1e-7 * ones, np.full(g.size, np.nan),
                                    np.random.default_rng(1)) - g
    measured = table.g_after - table.g_before
    assert np.std(as_read) == pytest.approx(np.std(measured), rel=0.1)


def test_unchained_rows_or_a_given_read_noise_skip_the_estimate():
    assert EmpiricalDevice(_synthetic()).read_noise_S == 0.0
    table = _chains(cells=10, pulses=50, switch_sigma=0.3e-6, read_sigma=0.5e-6)
    assert EmpiricalDevice(table, read_noise_S=0.1e-6).params.read_noise_floor_S == 0.1e-6


def _width_grid_table(widths: np.ndarray, rounds: int = 30) -> PulseTable:
    """A 'measured' table: a parametric array pulsed at AdaptiveWidth's amplitudes on a grid
    of widths, polarity biased towards the middle of the range, reads chained."""
    lab = SimulatedCrossbar((16, 16), seed=2)
    cells = Cells.all(lab.shape)
    rng = np.random.default_rng(3)
    before = lab.read(cells).conductance
    parts = []
    for _ in range(rounds):
        rank = np.argsort(np.argsort(before)) / (before.size - 1)
        polarity = np.where(rng.random(before.size) < 0.9 - 0.8 * rank, 1, -1)
        amplitude = np.where(polarity > 0, 1.3, 1.5)
        width = rng.choice(widths, before.size)
        lab.apply(PulseBatch(cells, polarity, amplitude, width))
        after = lab.read(cells).conductance
        parts.append(PulseTable(np.arange(before.size).astype(str), before, polarity, amplitude,
                                width, np.full(before.size, np.nan), after))
        before = after
    return PulseTable.concat(parts)


def test_a_write_verify_protocol_programs_devices_built_from_measurements():
    from hilctl.protocols import AdaptiveWidth, StopRules, Tolerance, program

    model = EmpiricalDevice(_width_grid_table(np.geomspace(10e-9, 100e-6, 9)))
    crossbar = SimulatedCrossbar((6, 6), seed=4, model=model)
    targets = np.random.default_rng(5).uniform(8e-6, 30e-6, 36)
    result = program(AdaptiveWidth(), crossbar, Cells.all((6, 6)), targets,
                     StopRules(tolerance=Tolerance(0.1), max_pulses=60))
    assert result.success.mean() >= 0.8
    assert model.flags["pulse_clamped"] == 0
