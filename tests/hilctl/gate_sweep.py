"""A synthetic 1T1R gate-sweep pulse table, for the gate knob, the lookup planner and the
evaluation (the simulator's own 1T1R physics is not needed to test those).

SET (from the high-resistance state, fixed bit-line amplitude and width, gate swept): the cell
switches abruptly with a probability that rises steeply with the gate past a per-device
threshold, and then lands at a level that rises smoothly with the gate (the compliance current
the transistor allows), scaled per device and spread lognormally per pulse. A pulse that does
not switch leaves the cell where it was, up to read noise. RESET (from the low-resistance
state, fixed gate and width, source-line amplitude swept): a gradual fall in the amplitude.
"""

import numpy as np

from hilctl.drivers.pulse_table import PulseTable

DEVICES = 1024
SET_GATES = np.round(np.arange(0.80, 1.81, 0.02), 2)
RESET_AMPLITUDES = np.round(np.arange(0.80, 1.81, 0.02), 2)
SET_V, SET_WIDTH, RESET_GATE, RESET_WIDTH = 1.5, 1e-6, 2.5, 1e-6


def devices(seed: int = 0) -> dict[str, np.ndarray]:
    """Per-device threshold gate (V), SET level factor and RESET depth factor."""
    rng = np.random.default_rng(seed)
    return {"threshold": rng.normal(0.90, 0.04, DEVICES),
            "level": rng.lognormal(0.0, 0.15, DEVICES),
            "depth": rng.lognormal(0.0, 0.15, DEVICES)}


def set_level(gate) -> np.ndarray:
    """Median SET level (S) of an average device at a gate voltage (V)."""
    return 250e-6 * np.tanh((np.asarray(gate) - 0.78) / 0.6)


def set_response(device, g_before, gate, dev, rng) -> np.ndarray:
    switched = rng.random(device.size) < 1 / (1 + np.exp(-(gate - dev["threshold"][device])
                                                          / 0.03))
    level = set_level(gate) * dev["level"][device] * rng.lognormal(0.0, 0.08, device.size)
    stayed = g_before * rng.normal(1.0, 0.01, device.size)
    return np.where(switched, np.maximum(level, g_before), stayed)


def reset_response(device, g_before, amplitude, dev, rng) -> np.ndarray:
    depth = 2.5 / (1 + np.exp(-(amplitude - 1.3) / 0.12)) * dev["depth"][device]
    return np.maximum(g_before * np.exp(-depth * rng.lognormal(0.0, 0.1, device.size)), 2e-6)


def gate_sweep_table(set_rows: int, reset_rows: int, seed: int, dev=None) -> PulseTable:
    """SET rows from the high-resistance state over ``SET_GATES``, RESET rows from the
    low-resistance state over ``RESET_AMPLITUDES``."""
    rng = np.random.default_rng(seed)
    dev = devices() if dev is None else dev
    d_set, d_reset = rng.integers(0, DEVICES, set_rows), rng.integers(0, DEVICES, reset_rows)
    g_set = rng.lognormal(np.log(5e-6), 0.3, set_rows)
    gate = rng.choice(SET_GATES, set_rows)
    g_reset = rng.uniform(60e-6, 250e-6, reset_rows)
    amplitude = rng.choice(RESET_AMPLITUDES, reset_rows)
    after = np.concatenate([set_response(d_set, g_set, gate, dev, rng),
                            reset_response(d_reset, g_reset, amplitude, dev, rng)])
    n = set_rows + reset_rows
    return PulseTable(np.array([f"{d // 32}:{d % 32}" for d in np.concatenate([d_set, d_reset])]),
                      np.concatenate([g_set, g_reset]),
                      np.concatenate([np.ones(set_rows), -np.ones(reset_rows)]),
                      np.concatenate([np.full(set_rows, SET_V), amplitude]),
                      np.concatenate([np.full(set_rows, SET_WIDTH), np.full(reset_rows,
                                                                            RESET_WIDTH)]),
                      np.concatenate([gate, np.full(reset_rows, RESET_GATE)]), after[:n])
