"""Placing a network's conductance targets on arrays, and reading weights back."""

import json

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.drivers import DataError
from hilctl.weights.layout import Layout, plan_layout, usable_window
from hilctl.weights.model_files import TrainedModel
from hilctl.weights.modes import row_bound

G_LO, G_HI = usable_window()


def _model(mode: str, sizes=(64, 32, 10), seed=0, row_sum=0.3) -> TrainedModel:
    rng = np.random.default_rng(seed)
    weights = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.normal(size=(a + 1, b))
        if mode == "current":
            w *= row_sum / np.abs(w).sum(axis=1, keepdims=True)
        weights.append(w)
    gains = [1.0] * len(weights) if mode == "voltage" else [50.0] * len(weights)
    return TrainedModel(mode=mode, layer_sizes=sizes, weights=weights, gains=gains,
                        dataset="digits")


@pytest.mark.parametrize("mode", ["voltage", "current"])
@pytest.mark.parametrize("shape", [(64, 64), (128, 128), (20, 16)])
def test_ideal_targets_give_back_the_trained_weights(mode, shape):
    model = _model(mode)
    layout = plan_layout(model, shape, G_LO, G_HI)
    targets = layout.targets()
    assert targets.shape == (layout.n_arrays, *shape)
    used = targets[np.isfinite(targets)]
    assert used.min() >= G_LO * (1 - 1e-12) and used.max() <= G_HI * (1 + 1e-12)
    for got, want in zip(layout.conductances_to_layers(targets), model.weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_a_layer_larger_than_an_array_is_tiled_and_said_so():
    layout = plan_layout(_model("voltage"), (64, 64), G_LO, G_HI)
    assert layout.tiled_layers() == [0]  # 65 rows (64 inputs + bias) do not fit 64
    assert layout.n_arrays == 3
    assert "layers [0] tiled" in layout.describe()
    single = plan_layout(_model("voltage"), (128, 128), G_LO, G_HI)
    assert single.n_arrays == 1 and single.tiled_layers() == []


@pytest.mark.parametrize("shape", [(64, 64), (128, 128), (20, 16)])
def test_every_weight_has_its_own_pair_of_cells_and_tiles_share_no_line(shape):
    layout = plan_layout(_model("voltage"), shape, G_LO, G_HI)
    seen = set()
    for k in range(2):
        cells = layout.cells_of(k)
        assert (cells["array"] >= 0).all()
        for col in ("col_plus", "col_minus"):
            keys = zip(cells["array"].ravel(), cells["row"].ravel(), cells[col].ravel(),
                       strict=True)
            for key in keys:
                assert key not in seen
                seen.add(key)
    assert len(seen) == np.isfinite(layout.targets()).sum()
    for a in range(layout.n_arrays):
        tiles = [t for t in layout.tiles if t.array == a]
        rows = [r for t in tiles for r in range(t.row0, t.row0 + t.n_rows)]
        cols = [c for t in tiles for c in range(t.col0, t.col0 + t.n_cols)]
        assert len(rows) == len(set(rows)) and len(cols) == len(set(cols))


def test_the_bias_is_the_last_row_of_each_layer():
    model = _model("voltage")
    layout = plan_layout(model, (128, 128), G_LO, G_HI)
    cells = layout.cells_of(0)
    g = layout.targets()
    row, col_p, col_m = cells["row"][64, 3], cells["col_plus"][64, 3], cells["col_minus"][64, 3]
    bias = layout.scales[0] * (g[0, row, col_p] - g[0, row, col_m])
    assert bias == pytest.approx(model.weights[0][64, 3])


def test_current_mode_ballast_sits_at_g_lo_and_counts_in_the_divider():
    layout = plan_layout(_model("current"), (64, 64), G_LO, G_HI)
    targets = layout.targets()
    last = [t for t in layout.tiles if t.layer == 1][0]
    ballast = targets[last.array, last.row0:last.row0 + last.n_rows, last.n_cols:]
    np.testing.assert_allclose(ballast, G_LO)
    raised = targets.copy()
    raised[last.array, last.row0, last.n_cols:] *= 3
    w = layout.conductances_to_layers(raised)[1]
    assert np.all(np.abs(w[last.in_start]) < np.abs(_model("current").weights[1][0]))


def test_rows_beyond_the_bound_are_reported_or_rescaled():
    model = _model("current", row_sum=0.97 * row_bound(G_LO, G_HI))
    with pytest.raises(DataError, match=r"layer 0 .*row bound.*--rescale"):
        plan_layout(model, (128, 128), G_LO, G_HI)
    layout = plan_layout(model, (128, 128), G_LO, G_HI, rescale=True)
    assert layout.rescaled_rows and all(0 < r["factor"] < 1 for r in layout.rescaled_rows)
    w = layout.conductances_to_layers(layout.targets())[0]
    assert np.abs(w).sum(axis=1).max() < np.abs(model.weights[0]).sum(axis=1).max()


def test_a_layout_round_trips_through_json():
    layout = plan_layout(_model("current"), (64, 64), G_LO, G_HI)
    text = layout.to_json()
    json.loads(text)
    again = Layout.from_json(text, layout.targets())
    assert again.tiles == layout.tiles and again.n_arrays == layout.n_arrays
    for a, b in zip(again.conductances_to_layers(layout.targets()),
                    layout.conductances_to_layers(layout.targets()), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="targets.npy"):
        Layout.from_json(text).targets()


def test_conductances_that_do_not_fit_the_layout_are_refused():
    layout = plan_layout(_model("voltage"), (64, 64), G_LO, G_HI)
    with pytest.raises(DataError, match="shape"):
        layout.conductances_to_layers(np.zeros((1, 64, 64)))
    g = layout.targets().copy()
    cells = layout.cells_of(1)
    g[cells["array"][0, 0], cells["row"][0, 0], cells["col_plus"][0, 0]] = np.nan
    with pytest.raises(DataError, match="1 used cell"):
        layout.conductances_to_layers(g)
    with pytest.raises(DataError, match="not a weight layout"):
        Layout.from_json('{"mode": "voltage"}')


def test_a_model_of_another_mode_or_size_does_not_fit_the_layout():
    layout = plan_layout(_model("voltage"), (64, 64), G_LO, G_HI)
    layout.check_model(_model("voltage", seed=5))
    with pytest.raises(DataError, match="not the one the layout places"):
        layout.check_model(_model("current"))
    with pytest.raises(DataError, match="not the one the layout places"):
        layout.check_model(_model("voltage", sizes=(64, 16, 10)))


def test_the_configured_common_mode_reaches_the_programming_job(tmp_path):
    from hilctl.config import build_config
    from hilctl.weights.job import weights_job
    from hilctl.weights.model_files import save_model

    model = _model("current", row_sum=0.05)  # realisable in every protocol's window
    save_model(model, tmp_path / "model")
    default = weights_job(Job(build_config({"weights": {"model": str(tmp_path / "model")}})))[2]
    small = weights_job(Job(build_config({"weights": {"model": str(tmp_path / "model"),
                                                      "common_mode": 0.25}})))[2]
    assert default.common_mode == 1.0 and small.common_mode == 0.25
    assert np.nanmean(small.targets()) < np.nanmean(default.targets())
    for got, want in zip(small.conductances_to_layers(small.targets()), model.weights,
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
