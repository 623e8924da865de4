"""Turns a trained model into a programming job: conductance targets on arrays plus the files
``hilctl infer`` needs to read the run back (which cell holds which weight, and the model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hilctl.protocols import ProgramState
from hilctl.protocols.engine import Retarget
from hilctl.simulated_backend import DeviceParams

from ..assemble import Job
from ..registry import protocol_entry
from ..targets import programmed_cells
from .layout import Layout, device_range, plan_layout, usable_window
from .model_files import META_FILE, WEIGHTS_FILE, load_model


def weights_job(job: Job) -> tuple[np.ndarray, dict[str, bytes | str], Layout]:
    """Targets shaped (n_arrays, rows, cols), NaN where no weight sits, and the run files."""
    settings = job.config.weights
    model_dir = Path(settings.model)
    model = load_model(model_dir)
    g_lo, g_hi = window_of(job)
    layout = plan_layout(model, job.shape, g_lo, g_hi, common_mode=settings.common_mode,
                         rescale=settings.rescale,
                         stuck_range=device_range(job.params, job.limits.read_V))
    files = {"layout.json": layout.to_json(),
             f"model/{WEIGHTS_FILE}": (model_dir / WEIGHTS_FILE).read_bytes(),
             f"model/{META_FILE}": (model_dir / META_FILE).read_text()}
    return layout.targets(), files, layout


def window_of(job: Job) -> tuple[float, float]:
    """The window (S) ``weights_job`` maps a model into for ``job``; ``hilctl train`` trains
    for it, so a current-mode model's rows fit the divider's bound without rescaling."""
    config = job.config
    return target_window(job.params, job.limits.read_V, config.weights.margin,
                         protocol_entry(config.protocol.name).verifies)


def target_window(params: DeviceParams, read_V: float, margin: float,
                  verifies: bool) -> tuple[float, float]:
    """The conductance window (S, read at ``read_V``) the weights are mapped into.

    Verify protocols want targets ``margin`` of the device range away from both bounds,
    where every device can be moved in either direction by a pulse within the width limits.
    One-shot starts every device near G_min (block RESET), so there a low edge just above G_min
    is better: small weights then need little or no pulse, and one unverified pulse adds less
    error (measured on digits 64-32-10: one-shot 85.9 % near G_min against 78.8 %; planned
    write-verify 98.9 % of cells in band in 2.7 pulses against 71 % in 5.5 near G_min).
    """
    g_min, g_max = device_range(params, read_V)
    span = g_max - g_min
    g_hi = g_max - margin * span
    if not verifies:
        return usable_window(params, read_V, margin)[0], g_hi
    return g_min + margin * span, g_hi


def pair_compensation(layout: Layout, targets: np.ndarray) -> Retarget:
    """Compensate a device that missed its target through the other device of its pair.

    A weight is the difference of a pair, w ~ G+ - G- (current mode divides it by the row
    total, which this barely changes), so when one device ends outside its band (stuck, or
    unable to reach) the partner is retargeted to restore the intended difference from what the
    missed device actually reads, within the layout's conductance window. A pair whose devices
    both missed is left as it is.
    """
    n_arrays, rows, cols = targets.shape
    used = programmed_cells(targets)
    plus, minus = [], []
    for layer in range(len(layout.layer_shapes)):
        cells = layout.cells_of(layer)
        base = (cells["array"].ravel() * rows + cells["row"].ravel()) * cols
        plus.append(base + cells["col_plus"].ravel())
        minus.append(base + cells["col_minus"].ravel())
    plus = np.searchsorted(used, np.concatenate(plus))
    minus = np.searchsorted(used, np.concatenate(minus))
    wanted = targets.ravel()[used][plus] - targets.ravel()[used][minus]

    def retarget(state: ProgramState) -> tuple[np.ndarray, np.ndarray] | None:
        fix_minus = ~state.done[plus] & state.done[minus]
        fix_plus = state.done[plus] & ~state.done[minus]
        positions = np.concatenate([minus[fix_minus], plus[fix_plus]])
        new = np.clip(np.concatenate([state.read[plus][fix_minus] - wanted[fix_minus],
                                      state.read[minus][fix_plus] + wanted[fix_plus]]),
                      layout.g_lo, layout.g_hi)
        changed = ~np.isclose(state.targets[positions], new, rtol=1e-9, atol=0.0)
        if not changed.any():
            return None
        return positions[changed], new[changed]

    return retarget


def compensation_for_run(run_dir: Path) -> Retarget | None:
    """The pair compensation of a weights run directory, or None for a plain run."""
    path = Path(run_dir) / "layout.json"
    if not path.is_file():
        return None
    targets = np.load(Path(run_dir) / "targets.npy", allow_pickle=False)
    return pair_compensation(Layout.from_json(path.read_text(), targets), targets)
