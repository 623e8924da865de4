"""PNG figures of comparisons, inference costs and device books (matplotlib, no display
needed, imported only when a figure is drawn); a run's error map is ``error_map``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hilctl.drivers.atomic_file import atomic_output


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def compare_figures(results: dict, directory: Path) -> list[Path]:
    """Error after one pulse, pulses per cell, and conductance before/after, per protocol.

    ``results`` maps a label to a ``ProgramResult``.
    """
    plt = _pyplot()
    paths = [directory / name for name in ("error_1pulse.png", "pulses_per_cell.png",
                                           "conductance_before_after.png")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bins = np.logspace(-4, 1, 60)
    for label, result in results.items():
        error = np.abs(result.after_first_pulse - result.targets) / result.targets
        ax.hist(np.clip(error, bins[0], bins[-1]), bins=bins, histtype="step", label=label)
    first = next(iter(results.values()))
    tolerance = float(np.median(first.band / first.targets))
    ax.axvline(tolerance, color="k", ls="--", lw=1, label=f"tolerance {tolerance:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("|G - G_target| / G_target after one pulse (clipped to 1e-4..10)")
    ax.set_ylabel("cells")
    ax.set_title(f"error after the first pulse, {len(first.targets)} cells per protocol")
    ax.legend(fontsize=8)
    save_figure(fig, paths[0], plt)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    top = max(int(r.pulses.max()) for r in results.values())
    edges = np.arange(0.5, top + 1.5)
    for label, result in results.items():
        ax.hist(result.pulses, bins=edges, histtype="step", label=label)
    ax.set_xlabel("pulses per cell")
    ax.set_ylabel("cells")
    ax.set_yscale("log")
    ax.set_title(f"pulses per cell to reach the tolerance ({tolerance:.3g}) or stop")
    ax.legend(fontsize=8)
    save_figure(fig, paths[1], plt)

    columns = len(results)
    fig, axes = plt.subplots(1, columns, figsize=(3.6 * columns, 3.6), squeeze=False)
    for ax, (label, result) in zip(axes[0], results.items(), strict=True):
        scale = 1e6
        ax.scatter(result.targets * scale, result.initial * scale, s=1, alpha=0.3, label="before")
        ax.scatter(result.targets * scale, result.final_read * scale, s=1, alpha=0.3,
                   label="after")
        top = result.targets.max() * scale
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        ax.set_title(f"{label} (tolerance {tolerance:.3g})", fontsize=9)
        ax.set_xlabel("target (uS)")
    axes[0][0].set_ylabel("read conductance (uS)")
    axes[0][0].legend(fontsize=8, markerscale=8)
    save_figure(fig, paths[2], plt)
    return paths


def save_figure(fig, path: Path, plt, dpi: int = 100, layout: bool = True) -> None:
    """Write the figure atomically, so a killed run never leaves a truncated PNG; ``layout``
    tightens it first (not for figures whose colour bar spans several panels)."""
    if layout:
        fig.tight_layout()
    with atomic_output(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
    plt.close(fig)


def plot_accuracy_energy(rows: list[dict], path: Path) -> Path:
    """Accuracy against read energy per inference (log scale), one line per mode and converter
    bits, each point a read level; written atomically (a temporary file, then a rename) so a
    reader never sees half a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    series: dict[tuple, list[dict]] = {}
    for r in rows:
        series.setdefault((r["mode"], r["adc_bits"]), []).append(r)
    for (mode, bits), points in sorted(series.items()):
        points = sorted(points, key=lambda r: r["energy_J"])
        ax.plot([1e12 * r["energy_J"] for r in points], [100 * r["accuracy"] for r in points],
                {"voltage": "o-", "current": "s--"}.get(mode, "^:"),
                label=f"{mode} mode, {bits} bits")
    ax.set(xscale="log", xlabel="read energy per inference (pJ)", ylabel="test accuracy (%)",
           title="accuracy vs energy over read level and converter bits")
    ax.legend(fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fig.tight_layout()
    fig.savefig(partial, dpi=100, format="png")
    plt.close(fig)
    partial.replace(path)
    return path


def shift_maps(shift: np.ndarray, titles: tuple[str, ...], units: tuple[str, ...],
               path: Path) -> None:
    """One heat map per polarity of a device book's learned knob shift (NaN: no look), on one
    colour scale centred on 0 so that slow and fast devices read alike in both (``units``: each
    polarity's knob coordinate, ln width or V)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(titles), figsize=(5.5 * len(titles), 4.5), squeeze=False)
    finite = shift[np.isfinite(shift)]
    top = float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0
    for ax, values, title, unit in zip(axes[0], shift, titles, units, strict=True):
        image = ax.imshow(values, cmap="coolwarm", vmin=-top, vmax=top, interpolation="nearest")
        fig.colorbar(image, ax=ax, label=f"knob shift ({unit})")
        ax.set_xlabel("column")
        ax.set_ylabel("row")
        ax.set_title(title)
    save_figure(fig, path, plt)
