"""Figures are written atomically: a failure while drawing leaves the previous PNG whole."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from hilctl.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_error_map_is_a_png(tmp_path):
    path = tmp_path / "error_map.png"
    plots.error_heatmap(np.full((4, 4), 0.01), path, "error")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_a_failure_mid_write_keeps_the_previous_figure(tmp_path, monkeypatch):
    path = tmp_path / "error_map.png"
    plots.error_heatmap(np.full((4, 4), 0.01), path, "error")
    before = path.read_bytes()

    def torn_savefig(self, fh, **kwargs):
        fh.write(PNG_MAGIC)
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", torn_savefig)
    with pytest.raises(KeyboardInterrupt):
        plots.error_heatmap(np.full((4, 4), 0.5), path, "error")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["error_map.png"]


def _captured(monkeypatch) -> list:
    figures = []
    real = plots.save_figure

    def keep(fig, path, plt, **kwargs):
        figures.append(fig)
        fig.canvas.draw()
        real(fig, path, plt, **kwargs)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_the_error_map_keeps_a_fixed_scale_marks_the_band_and_states_clipping(tmp_path,
                                                                             monkeypatch):
    figures = _captured(monkeypatch)
    error = np.full((2, 8, 8), np.nan)
    error[0] = 0.02
    error[0, 3, 3] = 7.31  # one cell far beyond the scale
    error[1, 0, :5] = 0.01  # an array that programs one row only
    plots.error_heatmap(error, tmp_path / "map.png", "wv", tolerance=0.05)
    fig = figures[0]
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    assert [ax.images[0].get_clim() for ax in panels] == [(0, plots.ERROR_SCALE_PCT)] * 2
    assert panels[1].images[0].get_array().shape == (1, 5)  # cropped, not lost in 8x8
    title = panels[0].get_title()
    assert "1 of 69 cells beyond it" in title and "largest 731 %" in title
    bar = next(ax for ax in fig.axes if not ax.images)
    assert any(np.allclose(line.get_ydata(), 5.0) for line in bar.lines)  # the 5 % band


def test_compare_histograms_have_titles_and_the_tolerance(tmp_path, monkeypatch):
    figures = _captured(monkeypatch)

    class Result:
        targets = np.full(16, 20e-6)
        band = 0.05 * targets
        after_first_pulse = targets * 1.2
        pulses = np.arange(16) % 4 + 1
        initial = np.full(16, 1e-6)
        final_read = targets * 1.01

    plots.compare_figures({"wv": Result()}, tmp_path)
    error_fig, pulses_fig = figures[0], figures[1]
    assert error_fig.axes[0].get_title() and pulses_fig.axes[0].get_title()
    assert any(np.allclose(line.get_xdata(), 0.05) for line in error_fig.axes[0].lines)
