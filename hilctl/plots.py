"""PNG figures for run directories and reports (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def error_heatmap(relative_error: np.ndarray, path: Path, title: str) -> None:
    """Per-cell relative error |G - G_target| / G_target as a heat map (NaN: no target)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    shown = relative_error * 100
    image = ax.imshow(shown, cmap="magma", vmin=0, vmax=max(10.0, np.nanpercentile(shown, 99)),
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="relative error (%)")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
