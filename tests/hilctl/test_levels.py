"""Multi-level bands from a [levels] table and each cell's level from a map."""

import numpy as np
import pytest

from hilctl.drivers import ConfigError, DataError
from hilctl.levels import level_targets, parse_levels

WINDOW = (2e-6, 260e-6)
TWO_BIT = {"L0": {"lower": "200uS"}, "L1": {"lower": "166.4uS", "upper": "173.3uS"},
           "L2": {"lower": 107.4e-6, "upper": 117.5e-6}, "L3": {"upper": "12.5uS"}}


def test_units_and_one_sided_bands_closed_at_the_device_range():
    bands = parse_levels(TWO_BIT, WINDOW)
    assert bands.names == ("L0", "L1", "L2", "L3")
    assert np.allclose(bands.lower_S, [200e-6, 166.4e-6, 107.4e-6, 0.0])
    assert np.allclose(bands.upper_S, [260e-6, 173.3e-6, 117.5e-6, 12.5e-6])
    # A cell at a level's target is judged by that level's own band.
    assert np.allclose(bands.half_width(bands.targets_S[[1, 3]]), [3.45e-6, 6.25e-6])


@pytest.mark.parametrize("table, words", [
    ({"a": {"lower": "100uS", "upper": "120uS"}, "b": {"lower": "110uS"}}, "'a' and 'b' overlap"),
    ({"a": {"lower": "120uS", "upper": "100uS"}}, "is empty"),
    ({"a": {"lower": "300uS"}}, "outside the devices' range"),
    ({"a": {"lowest": "3uS"}}, "expected lower and/or upper"),
    ({"a": {"lower": "3uA"}}, "expected unit 'S'"),
    ({}, "no levels"),
])
def test_bad_level_specs_are_one_clear_error(table, words):
    with pytest.raises(ConfigError, match=words):
        parse_levels(table, WINDOW)


def test_a_map_of_names_or_indices_gives_each_cell_its_levels_target(tmp_path):
    bands = parse_levels(TWO_BIT, WINDOW)
    np.save(tmp_path / "names.npy", np.array([["L0", "L3"], ["", "L1"]]))
    np.save(tmp_path / "index.npy", np.array([[0, 3], [-1, 1]]))
    for name in ("names.npy", "index.npy"):
        targets = level_targets(tmp_path / name, bands, (2, 2))
        assert np.allclose(targets[[0, 0, 1], [0, 1, 1]], bands.targets_S[[0, 3, 1]])
        assert np.isnan(targets[1, 0])


@pytest.mark.parametrize("levels, words", [
    (np.array([["L0", "L9"]]), "'L9' is not one of L0, L1, L2, L3"),
    (np.array([[0, 4]]), "level 4 is unknown"),
    (np.array([[0.5, 1.0]]), "indices or names"),
])
def test_unknown_levels_in_a_map_are_refused(tmp_path, levels, words):
    np.save(tmp_path / "map.npy", levels)
    with pytest.raises(DataError, match=words):
        level_targets(tmp_path / "map.npy", parse_levels(TWO_BIT, WINDOW), (1, 2))


def test_a_bounds_file_gives_each_cell_its_own_band_with_open_sides(tmp_path):
    from hilctl.levels import bounds_targets

    lower = np.array([[100e-6, np.nan], [np.nan, 20e-6]])
    upper = np.array([[110e-6, 10e-6], [np.nan, 30e-6]])
    np.savez(tmp_path / "b.npz", lower_S=lower, upper_S=upper)
    targets, bands = bounds_targets(tmp_path / "b.npz", (2, 2), WINDOW)
    assert np.allclose(targets[[0, 0, 1], [0, 1, 1]], [105e-6, 5e-6, 25e-6])
    assert np.isnan(targets[1, 0])
    assert np.allclose(bands.half_width(np.array([5e-6, 105e-6])), [5e-6, 5e-6])
    np.savez(tmp_path / "wide.npz", lower_S=lower, upper_S=upper * 3)
    with pytest.raises(DataError, match=r"\(0, 0\) .* outside the devices' range"):
        bounds_targets(tmp_path / "wide.npz", (2, 2), WINDOW)
