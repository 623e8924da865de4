"""The simulator's float32 physics agrees with the same physics in float64 far within the noise
each event carries (cycle-to-cycle noise of several per cent, read noise of 0.4-1 %)."""

import numpy as np

from hilctl.simulated_backend.one_t_one_r import (
    OneTOneRParams,
    OneTOneRPopulation,
    level_of,
    reset_response,
)
from hilctl.simulated_backend.physics import (
    DeviceParams,
    DevicePopulation,
    noise_free_response,
    switching_rate,
    window_decay,
)

N = 4096


def _pulses(rng):
    polarity = np.where(rng.random(N) < 0.5, 1.0, -1.0)
    volts = polarity * rng.uniform(0.6, 2.0, N)
    return volts, 10 ** rng.uniform(-8, -4, N)


def test_1r_noise_free_response_in_float32_matches_float64_within_rounding():
    rng = np.random.default_rng(5)
    params = DeviceParams()
    pop = DevicePopulation.sample(params, N, rng)
    x = rng.random(N)
    volts, width = _pulses(rng)
    flat = np.arange(N)
    x32, switching = noise_free_response(pop, flat, x.astype(np.float32),
                                         volts.astype(np.float32), width.astype(np.float32))
    assert x32.dtype == np.float32
    is_set = volts > 0

    def param(name):
        return np.where(is_set, getattr(pop, f"set_{name}"),
                        getattr(pop, f"reset_{name}")).astype(np.float64)

    kt = switching_rate(volts, param("rate"), param("threshold"), param("slope")) * width
    u = window_decay(np.where(is_set, 1 - x, x), param("window"), kt)
    x64 = np.where(is_set, 1 - u, u)
    np.testing.assert_array_equal(switching, np.abs(volts) > param("threshold"))
    # the smallest noise on an event: the additive 0.2 uS over a 40 uS window, 5e-3 of x
    additive = params.c2c_additive_S / (params.g_max_S - params.g_min_S)
    assert np.max(np.abs(x32 - x64)) < additive / 100


def test_1t1r_set_and_reset_levels_in_float32_match_float64_within_rounding():
    rng = np.random.default_rng(6)
    p = OneTOneRParams()
    pop = OneTOneRPopulation.sample(p, N, rng)
    gate = rng.uniform(1.6, 3.0, N)
    level32 = level_of(gate.astype(np.float32), pop.vt, pop.k, pop.g_sat, p)
    level64 = level_of(gate, pop.vt.astype(float), pop.k.astype(float),
                       pop.g_sat.astype(float), p)
    assert level32.dtype == np.float32
    # Just above the transistor's threshold V_G - V_T cancels digits: there the level is a few
    # 0.1 uS and float32 is off by up to 1e-4 of it, still 1/1000 of the read noise floor.
    np.testing.assert_allclose(level32, level64, rtol=p.set_c2c / 1000,
                               atol=p.read_noise_floor_S / 1000)
    g = rng.uniform(20e-6, 200e-6, N)
    v_sl = rng.uniform(0.5, 2.5, N)
    reset32 = reset_response(g.astype(np.float32), v_sl.astype(np.float32), np.float32(3.3),
                             np.float32(1e-6), pop.vt, pop.reset_onset, p)
    reset64 = reset_response(g, v_sl, 3.3, 1e-6, pop.vt.astype(float),
                             pop.reset_onset.astype(float), p)
    np.testing.assert_allclose(reset32, reset64, rtol=p.reset_c2c / 1000)
