"""The torch backend computes the numpy backend's physics: the same pulses and the same noise
give the same devices within float32 rounding, a closed-loop programming job ends alike, and a
torch array snapshots, restores and refuses what it cannot run in one line."""

import numpy as np
import pytest

pytest.importorskip("torch")

from hilctl.assemble import Job  # noqa: E402
from hilctl.config import build_config  # noqa: E402
from hilctl.drivers import Cells, ConfigError, DataError, PulseBatch  # noqa: E402
from hilctl.protocols import (  # noqa: E402
    GateIspp,
    IncrementalStep,
    OnRound,
    ResetPulse,
    program,
)
from hilctl.run.runner import new_run, resume_run  # noqa: E402
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar  # noqa: E402
from hilctl.simulated_backend.array_backend import TorchArrays, arrays_for  # noqa: E402
from hilctl.simulated_backend.presets import ONE_T_ONE_R, load_preset  # noqa: E402
from hilctl.targets import targets_for  # noqa: E402

SHAPE = (24, 24)
SEED = 5


class NumpyDrawnNoise:
    """The numpy backend's noise stream, handed to a torch array as tensors: both backends
    then see the very same draws."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed).spawn(4)[2]

    def normals(self, count, n):
        import torch
        return torch.from_numpy(self.rng.standard_normal((count, n)).astype(np.float32))


def _pair(params):
    numpy_xb = SimulatedCrossbar(SHAPE, params, seed=SEED)
    torch_xb = SimulatedCrossbar(SHAPE, params, seed=SEED, arrays=TorchArrays())
    torch_xb._noise = NumpyDrawnNoise(SEED)
    return numpy_xb, torch_xb


def _pulse_trains(xb, rounds, rng):
    """``rounds`` batches of mixed SET and RESET pulses over every cell, amplitudes, widths and
    gates spread over what the limits allow."""
    cells = Cells.all(xb.shape)
    n = len(cells)
    for _ in range(rounds):
        polarity = np.where(rng.random(n) < 0.6, 1, -1).astype(np.int8)
        amplitude = np.where(polarity > 0, rng.uniform(0.6, 1.9, n), rng.uniform(0.6, 2.4, n))
        width = np.exp(rng.uniform(np.log(20e-9), np.log(50e-6), n))
        gate = np.where(polarity > 0, rng.uniform(1.5, 2.4, n), 3.3)
        yield PulseBatch(cells, polarity, amplitude, width, gate)


@pytest.mark.parametrize("params", [DeviceParams(), load_preset(ONE_T_ONE_R)],
                         ids=["1R", "1T1R"])
def test_the_same_pulses_and_noise_give_the_same_devices_on_both_backends(params):
    numpy_xb, torch_xb = _pair(params)
    cells = Cells.all(SHAPE)
    start = numpy_xb.sim_state()
    trains = zip(_pulse_trains(numpy_xb, 12, np.random.default_rng(1)),
                 _pulse_trains(torch_xb, 12, np.random.default_rng(1)), strict=True)
    for numpy_batch, torch_batch in trains:
        numpy_xb.apply(numpy_batch)
        torch_xb.apply(torch_batch)
    numpy_state, torch_state = numpy_xb.sim_state(), torch_xb.sim_state()
    assert isinstance(torch_state, np.ndarray) and torch_state.dtype == np.float32
    assert (np.abs(numpy_state - start) > 0.1 * start).mean() > 0.5  # the trains moved them
    # float32 rounding differs between the libraries' exp and pow; a device sitting on a
    # switching threshold may go either way, so allow a stray one.
    close = np.isclose(torch_state, numpy_state, rtol=1e-4, atol=1e-6)
    assert close.mean() >= 0.995
    numpy_read, torch_read = numpy_xb.read(cells), torch_xb.read(cells)
    agree = np.isclose(torch_read.conductance, numpy_read.conductance, rtol=1e-4)
    assert agree.mean() >= 0.995
    assert np.allclose(torch_xb.sim_true_conductance(cells)[close],
                       numpy_xb.sim_true_conductance(cells)[close], rtol=1e-4, atol=1e-12)


# write-verify-wl as ``[protocol.wl]``'s defaults set it up for hfox-1t1r.
_GATE_RAMP = GateIspp(set_V=2.0, gate_start_V=1.58, gate_step_V=0.005, gate_max_V=3.3,
                      reset_step_V=0.05, reset_gate_V=3.5, reset=ResetPulse(2.0, 10e-6, 3.3))


@pytest.mark.parametrize("params,protocol", [(DeviceParams(), IncrementalStep()),
                                             (load_preset(ONE_T_ONE_R), _GATE_RAMP)],
                         ids=["1R-ISPP", "1T1R-WL-ISPP"])
def test_write_verify_on_torch_ends_as_on_numpy(params, protocol):
    results = []
    for arrays in (None, TorchArrays()):
        xb = SimulatedCrossbar((48, 48), params, seed=SEED, arrays=arrays)
        cells = Cells.all(xb.shape)
        span = params.g_max_S - params.g_min_S
        targets = np.random.default_rng(2).uniform(params.g_min_S + 0.15 * span,
                                                   params.g_max_S - 0.15 * span, len(cells))
        targets = targets * params.read_factor(xb.limits.read_V)
        results.append(program(protocol, xb, cells, targets))
    on_numpy, on_torch = results
    assert on_torch.success.mean() >= 0.9
    assert abs(on_torch.success.mean() - on_numpy.success.mean()) <= 0.03
    assert on_torch.pulses.mean() == pytest.approx(on_numpy.pulses.mean(), rel=0.1)


def test_a_torch_array_is_reproducible_by_seed_and_restores_its_snapshot():
    cells = Cells.all(SHAPE)
    first, second = (SimulatedCrossbar(SHAPE, seed=SEED, arrays=TorchArrays())
                     for _ in range(2))
    batches = list(_pulse_trains(first, 3, np.random.default_rng(4)))
    first.apply(batches[0])
    snapshot = first.sim_snapshot()
    first.apply(batches[1])
    after = first.read(cells).conductance
    second.sim_restore(snapshot)
    second.apply(batches[1])
    assert np.array_equal(second.read(cells).conductance, after)
    with pytest.raises(DataError, match="another array backend"):
        SimulatedCrossbar(SHAPE, seed=SEED).sim_restore(snapshot)


def test_what_torch_cannot_run_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="drift"):
        SimulatedCrossbar(SHAPE, DeviceParams().replace(drift_per_cycle=0.01),
                          arrays=TorchArrays())
    with pytest.raises(ConfigError, match="expected one of numpy, torch"):
        arrays_for("jax")
    with pytest.raises(ConfigError, match="numpy backend runs on the CPU"):
        arrays_for("numpy", "cuda")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            arrays_for("torch", "cuda")


class CutAfter(OnRound):
    """Ctrl-C after ``rounds`` stored rounds."""

    def __init__(self, rounds: int) -> None:
        super().__init__(self._count)
        self.left = rounds

    def _count(self, record) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def test_a_torch_run_cut_short_resumes_to_the_uninterrupted_result(tmp_path):
    config = build_config({"array": {"rows": 40, "cols": 40, "seed": 3, "preset": "hfox-1r",
                                     "backend": "torch"}, "output": {"plots": False}})
    whole = new_run(Job(config), tmp_path / "whole", targets_for(Job(config)))
    with pytest.raises(KeyboardInterrupt):
        new_run(Job(config), tmp_path / "cut", targets_for(Job(config)), progress=CutAfter(7))
    resumed = resume_run(tmp_path / "cut")
    assert whole.result.rounds > 7
    assert resumed.result.rounds == whole.result.rounds
    assert np.array_equal(resumed.result.final_read, whole.result.final_read)
    assert np.array_equal(resumed.result.pulses, whole.result.pulses)
