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
