"""The run's error map: a fixed scale, the tolerance marked, clipping and blocks stated, small
arrays kept visible, large ones downsampled without hiding a bad cell, written atomically."""

import numpy as np
import pytest
from PIL import Image

from hilctl.report import error_map
from hilctl.report.error_map import BEYOND, ERROR_SCALE_PCT, NO_TARGET

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _description(path) -> str:
    with Image.open(path) as image:
        return image.text["Description"]


def test_a_cell_keeps_its_colour_whatever_the_other_cells_of_the_run():
    calm = np.array([[2.0, 25.0]])
    wild = np.array([[40.0, 25.0]])
    assert (error_map.colourise(calm)[0, 1] == error_map.colourise(wild)[0, 1]).all()
    assert tuple(error_map.colourise(np.array([731.0]))[0]) == BEYOND
    assert tuple(error_map.colourise(np.array([np.nan]))[0]) == NO_TARGET
    # darker (lower sum of RGB) means smaller error along the scale
    ramp = error_map.colourise(np.linspace(0, ERROR_SCALE_PCT, 11)).astype(int).sum(axis=1)
    assert ramp[0] < ramp[5] < ramp[-1]


def test_the_colour_bar_marks_the_tolerance_at_its_height():
    bar = error_map.colour_bar(0.05)
    white = np.flatnonzero((bar == 255).all(axis=(1, 2)))
    assert white.tolist() == [error_map.bar_row(5.0)]
    assert error_map.bar_row(5.0) > error_map.bar_row(40.0)  # 0 % at the bottom
    assert not (error_map.colour_bar(None) == 255).all(axis=(1, 2)).any()


def test_the_title_states_the_clipping(tmp_path):
    error = np.full((2, 8, 8), np.nan)
    error[0] = 0.02
    error[0, 3, 3] = 7.31  # one cell far beyond the scale
    error[1, 0, :5] = 0.01
    path = tmp_path / "map.png"
    error_map.write_error_map(error, path, "wv", tolerance=0.05)
    assert path.read_bytes().startswith(PNG_MAGIC)
    text = _description(path)
    assert "1 of 69 cells beyond it" in text and "largest 731 %" in text
    assert "block" not in text  # every cell has its own pixels


def test_a_one_row_array_is_cropped_and_stretched_not_lost():
    error = np.full((8, 8), np.nan)
    error[0, :5] = 1.0
    panel = error_map.panel(error)
    assert (panel.rows, panel.cols) == (slice(0, 1), slice(0, 5))
    assert panel.pixels.shape[0] >= error_map.MIN_SIDE_PIXELS
    assert panel.pixels.shape[1] <= error_map.PANEL_PIXELS


def test_a_large_array_is_shown_in_blocks_and_one_bad_cell_stays_visible(tmp_path):
    error = np.full((1100, 1030), 0.01)
    error[777, 555] = 3.0
    panel = error_map.panel(error * 100)
    assert panel.block == 3
    assert max(panel.pixels.shape[:2]) <= error_map.PANEL_PIXELS
    assert (panel.pixels == BEYOND).all(axis=2).sum() == 1  # the block of the bad cell
    path = tmp_path / "map.png"
    error_map.write_error_map(error, path, "wv", tolerance=0.05)
    assert "largest error of a block of up to 3x3 cells" in _description(path)
    with Image.open(path) as image:
        assert max(image.size) < 1000


def test_block_max_keeps_the_largest_finite_value_of_each_block():
    values = np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, np.nan]])
    np.testing.assert_array_equal(error_map.block_max(values, 2), [[2.0, 3.0]])


def test_a_failure_mid_write_keeps_the_previous_map(tmp_path, monkeypatch):
    path = tmp_path / "error_map.png"
    error_map.write_error_map(np.full((4, 4), 0.01), path, "error")
    before = path.read_bytes()

    def torn_save(self, fh, **kwargs):
        fh.write(PNG_MAGIC)
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        error_map.write_error_map(np.full((4, 4), 0.5), path, "error")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["error_map.png"]
