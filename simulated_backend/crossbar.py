"""A simulated crossbar: the device physics behind the batched ``Crossbar`` interface.

Randomness comes from one seed split into independent streams (device parameters, initial
states, switching/read noise), so the same seed and the same calls give the same run.
Methods only a simulator can offer start with ``sim_``.

Pulses and reads are computed in chunks of ``CHUNK`` cells in float32 (``physics.SIM_FLOAT``):
a chunk's temporaries stay in cache and are reused from the allocator's free lists, where one
temporary per array-sized batch costs a page fault per 4 KiB. Noise is drawn chunk by chunk,
so results depend on the seed and ``CHUNK``, never on the machine (a batch of at most
``CHUNK`` cells draws what it drew before chunks).
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import (
    Cells,
    ConfigError,
    Crossbar,
    DataError,
    PulseBatch,
    Reading,
    SafetyLimits,
)

from .array_backend import (
    NumpyArrays,
    TorchArrays,
    generator_state,
    ops,
    set_generator_state,
)
from .device_model import DeviceModel
from .drift import drift, drifting_arrays, restore_drifting
from .physics import SIM_FLOAT, DeviceParams, standard_normals
from .presets import device_for

# Cells per chunk of a pulse or read batch: 64 Ki cells of float32 are 256 KiB a temporary.
CHUNK = 1 << 16


class SimulatedCrossbar(Crossbar):
    """An array of simulated devices.

    Parameters
    ----------
    shape : (rows, cols)
    params : CellParams
        The preset (nominal values and spreads), of either kind of cell (1R or 1T1R).
    limits : SafetyLimits
    seed : int
        Makes the devices, their starting states and every noise draw reproducible.
    model : DeviceModel, optional
        The device model (one object per array); default the model of ``params``' kind. Give
        ``params`` or ``model``, not both: a model carries its own read and relaxation params.
    arrays : NumpyArrays or TorchArrays, optional
        The library the physics computes on (``array_backend``); default numpy.
    """

    def __init__(self, shape: tuple[int, int], params: DeviceParams | None = None,
                 limits: SafetyLimits | None = None, seed: int = 0,
                 model: DeviceModel | None = None,
                 arrays: NumpyArrays | TorchArrays | None = None) -> None:
        super().__init__(shape, limits or SafetyLimits())
        if model is not None and params is not None:
            raise ConfigError("SimulatedCrossbar: give params or a device model, not both")
        self.model = model or device_for(params or DeviceParams())
        self.params = self.model.params
        # A fourth stream for drift, so that drift off leaves the first three untouched.
        population_rng, state_rng, self._noise, self._drift = (
            np.random.default_rng(seed).spawn(4))
        n = self.shape[0] * self.shape[1]
        x = np.asarray(self.model.start(n, population_rng, state_rng), SIM_FLOAT)
        self.arrays = arrays or NumpyArrays()
        self.arrays.check(self.model)
        self.model.work_on(self.arrays)
        self._x = self.arrays.asarray(x)
        self._noise = self.arrays.noise(self._noise)
        self.population = self.model.population
        self._healthy = self.arrays.asarray(self.model.healthy)
        self._pulses_applied = 0

    def __repr__(self) -> str:
        p = self.params
        return (f"<SimulatedCrossbar {self.shape[0]}x{self.shape[1]} "
                f"{type(self.model).__name__}, G {p.g_min_S:.3g}..{p.g_max_S:.3g} S, "
                f"read at {self.limits.read_V:g} V, {self._pulses_applied} pulses applied>")

    # -- Crossbar ---------------------------------------------------------------------------
    def _apply(self, pulses: PulseBatch) -> None:
        flat = pulses.cells.flat(self.shape)
        for layer in _occurrence_layers(flat):
            for part in _chunks(layer):
                self._switch(flat[part], pulses.polarity[part] * pulses.amplitude[part],
                             pulses.width[part], None if pulses.gate is None else pulses.gate[part])
            self._drift_by(flat[layer], pulses=1.0, hours=0.0)
        self._pulses_applied += len(pulses)

    def _switch(self, flat: np.ndarray, volts: np.ndarray, width: np.ndarray,
                gate: np.ndarray | None) -> None:
        here = self.arrays.asarray
        flat = here(flat)
        x = self._x[flat]
        new = self.model.switch(flat, x, here(volts.astype(SIM_FLOAT)),
                                here(width.astype(SIM_FLOAT)),
                                None if gate is None else here(gate.astype(SIM_FLOAT)),
                                self._noise)
        self._x[flat] = ops(x).where(self._healthy[flat], new, x)

    def _drift_by(self, flat: np.ndarray, pulses: float, hours: float) -> None:
        p = self.params
        drift(self.population, flat, pulses, hours, p.drift_per_cycle, p.drift_per_hour,
              self._drift)

    @property
    def _drifts(self) -> bool:
        p = self.params
        return self.population is not None and (p.drift_per_cycle > 0 or p.drift_per_hour > 0)

    def _read(self, cells: Cells) -> Reading:
        flat = cells.flat(self.shape)
        measured = np.empty(flat.size, SIM_FLOAT)
        p = self.params
        for part in _chunks(np.arange(flat.size)):
            g = self._true_conductance(self.arrays.asarray(flat[part]))
            relative, floor = standard_normals(self._noise, 2, len(g))
            measured[part] = self.arrays.to_numpy(g * (1.0 + p.read_noise_relative * relative)
                                                  + p.read_noise_floor_S * floor)
        current = measured * self.limits.read_V
        return Reading(cells, measured, current > self.limits.compliance_A)

    def _make_safe(self) -> None:
        """Nothing is energised between calls in a simulation."""

    # -- simulator-only controls ------------------------------------------------------------
    def sim_true_conductance(self, cells: Cells) -> np.ndarray:
        """Noise-free conductance (S) as a read at ``limits.read_V`` would see it."""
        flat = self.arrays.asarray(cells.flat(self.shape))
        return self.arrays.to_numpy(self._true_conductance(flat)).copy()

    def _true_conductance(self, flat: np.ndarray) -> np.ndarray:
        g = self.model.conductance(self._x[flat], flat)
        return g * SIM_FLOAT(self.model.read_factor(self.limits.read_V))

    def sim_state(self) -> np.ndarray:
        """The state x in [0, 1] of every device, flat row-major (a copy)."""
        return self.arrays.to_numpy(self._x).copy()

    def sim_set_state(self, x: np.ndarray) -> None:
        """Force device states (stuck devices keep theirs); for experiments and tests."""
        x = np.asarray(x, dtype=SIM_FLOAT).ravel()
        if x.size != len(self._x) or not np.isfinite(x).all():
            raise DataError(f"state must be {len(self._x)} finite values in [0, 1]")
        x = self.arrays.asarray(np.clip(x, 0.0, 1.0))
        self._x = ops(x).where(self._healthy, x, self._x)

    def sim_relax(self, seconds: float) -> bool:
        """Let programmed states drift for ``seconds``: a random walk whose spread grows with
        log time (off unless ``params.relaxation_sigma`` > 0); device parameters drift with
        the time too if ``params.drift_per_hour`` > 0 (``drift``). False when nothing can
        change, so a caller can say the relaxation it asked for did nothing."""
        p = self.params
        if seconds > 0:
            self._drift_by(np.arange(len(self._x)), pulses=0.0, hours=seconds / 3600)
        if p.relaxation_sigma <= 0 or seconds <= 0:
            return seconds > 0 and p.drift_per_hour > 0
        sigma = float(p.relaxation_sigma * np.sqrt(np.log1p(seconds / p.relaxation_t0_s)))
        drift = sigma * standard_normals(self._noise, 1, len(self._x))[0]
        xp = ops(self._x)
        self._x = xp.where(self._healthy, xp.clip(self._x + drift, 0.0, 1.0), self._x)
        return True

    def sim_snapshot(self, cells: Cells | None = None) -> dict[str, np.ndarray]:
        """Device states (of ``cells`` only, if given) and the noise generator's position.

        Restoring a full snapshot and then the partial snapshots of later rounds, in order,
        rebuilds the array exactly, at a cost proportional to the cells each round touched.
        """
        snapshot = {self.arrays.noise_key: self.arrays.noise_state(self._noise),
                    "pulses_applied": np.array(self._pulses_applied)}
        if cells is None:
            snapshot["x"] = self.arrays.to_numpy(self._x).copy()
        else:
            flat = cells.flat(self.shape)
            x = self._x[self.arrays.asarray(flat)]  # only these cells leave the device
            snapshot["index"], snapshot["x"] = flat, self.arrays.to_numpy(x).copy()
        if self._drifts:
            snapshot["drift_rng"] = generator_state(self._drift)
            snapshot.update(drifting_arrays(self.population, snapshot.get("index", slice(None))))
        return snapshot

    def sim_restore(self, snapshot: dict[str, np.ndarray]) -> None:
        x = np.asarray(snapshot["x"], dtype=SIM_FLOAT)
        if self.arrays.noise_key not in snapshot:
            raise DataError(f"the snapshot was taken on another array backend than this "
                            f"{self.arrays.name} one")
        if "index" in snapshot:
            self._x[self.arrays.asarray(np.asarray(snapshot["index"]))] = self.arrays.asarray(x)
        elif x.size != len(self._x):
            raise DataError(f"snapshot holds {x.size} devices, the array has {len(self._x)}")
        else:
            self._x = self.arrays.asarray(x.copy())
        self.arrays.restore_noise(self._noise, snapshot[self.arrays.noise_key])
        if "drift_rng" in snapshot:
            set_generator_state(self._drift, snapshot["drift_rng"])
            index = np.asarray(snapshot["index"]) if "index" in snapshot else slice(None)
            restore_drifting(self.population, index, snapshot)
        self._pulses_applied = int(snapshot["pulses_applied"])


def _chunks(index: np.ndarray) -> list[np.ndarray | slice]:
    """``index`` (positions into a batch) in pieces of at most ``CHUNK``; slices where the
    positions run on one by one (the common case), which index without a copy."""
    if index.size and index[-1] - index[0] == index.size - 1:
        start = int(index[0])
        return [slice(i, min(i + CHUNK, start + index.size))
                for i in range(start, start + index.size, CHUNK)]
    return [index[i:i + CHUNK] for i in range(0, index.size, CHUNK)]


def _occurrence_layers(flat: np.ndarray) -> list[np.ndarray]:
    """Split a batch so that no cell appears twice in a layer; layers run in batch order.

    A rig pulses a repeated cell twice in sequence, so the simulator must too. A batch in
    increasing cell order (every batch the engine builds) is one layer, seen in one pass.
    """
    if flat.size < 2 or (flat[1:] > flat[:-1]).all():
        return [np.arange(flat.size)]
    order = np.argsort(flat, kind="stable")
    sorted_flat = flat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_flat)) + 1]
    rank = np.arange(flat.size) - np.repeat(starts, np.diff(np.r_[starts, flat.size]))
    occurrence = np.empty(flat.size, dtype=np.int64)
    occurrence[order] = rank
    return [np.flatnonzero(occurrence == k) for k in range(int(occurrence.max()) + 1)]
