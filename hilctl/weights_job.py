"""Turns a trained model into a programming job: conductance targets on arrays plus the files
``hilctl infer`` needs to read the run back (which cell holds which weight, and the model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hilctl.backends import device_params
from hilctl.config import RunConfig
from hilctl.model_files import META_FILE, WEIGHTS_FILE, load_model
from hilctl.weight_layout import Layout, device_range, plan_layout, usable_window


def weights_job(config: RunConfig) -> tuple[np.ndarray, dict[str, bytes | str], Layout]:
    """Targets shaped (n_arrays, rows, cols), NaN where no weight sits, and the run files."""
    model_dir = Path(config.weights.model)
    model = load_model(model_dir)
    params = device_params(config)
    read_V = config.limits.read_V
    g_lo, g_hi = usable_window(params, read_V, config.weights.margin)
    layout = plan_layout(model, (config.array.rows, config.array.cols), g_lo, g_hi,
                         rescale=config.weights.rescale,
                         stuck_range=device_range(params, read_V))
    files = {"layout.json": layout.to_json(),
             f"model/{WEIGHTS_FILE}": (model_dir / WEIGHTS_FILE).read_bytes(),
             f"model/{META_FILE}": (model_dir / META_FILE).read_text()}
    return layout.targets(), files, layout
