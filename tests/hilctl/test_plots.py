"""Figures are written atomically, and the comparison figures have titles and mark the
tolerance."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from hilctl.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _shift_map(path, value: float) -> None:
    plots.shift_maps(np.full((2, 3, 3), value), ("RESET", "SET"), ("V", "ln s"), path)


def test_a_failure_mid_write_keeps_the_previous_figure(tmp_path, monkeypatch):
    path = tmp_path / "shift.png"
    _shift_map(path, 0.1)
    before = path.read_bytes()
    assert before.startswith(PNG_MAGIC)

    def torn_savefig(self, fh, **kwargs):
        fh.write(PNG_MAGIC)
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", torn_savefig)
    with pytest.raises(KeyboardInterrupt):
        _shift_map(path, 0.5)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["shift.png"]


def _captured(monkeypatch) -> list:
    figures = []
    real = plots.save_figure

    def keep(fig, path, plt, **kwargs):
        figures.append(fig)
        fig.canvas.draw()
        real(fig, path, plt, **kwargs)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


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
