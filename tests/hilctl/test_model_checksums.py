"""A model folder's ``model.json`` names the sha256 of its ``weights.npz``: weights saved by
another save (a save torn between the two files) are refused, older folders still load."""

import json

import numpy as np
import pytest

from hilctl.drivers import DataError
from hilctl.weights.model_files import TrainedModel, load_model, save_model


def model(scale: float) -> TrainedModel:
    rng = np.random.default_rng(0)
    return TrainedModel(mode="voltage", layer_sizes=(4, 3, 2), gains=[1.0, 1.0], dataset="toy",
                        weights=[scale * rng.normal(size=(5, 3)), scale * rng.normal(size=(4, 2))])


def test_weights_from_another_save_are_refused_and_old_folders_still_load(tmp_path):
    save_model(model(1.0), tmp_path / "old")
    save_model(model(5.0), tmp_path / "new")
    (tmp_path / "old" / "weights.npz").write_bytes((tmp_path / "new" / "weights.npz").read_bytes())
    with pytest.raises(DataError, match="does not match the checksum in model.json"):
        load_model(tmp_path / "old")
    meta_path = tmp_path / "new" / "model.json"
    meta = json.loads(meta_path.read_text())
    del meta["weights_sha256"]  # as saved before checksums
    meta_path.write_text(json.dumps(meta))
    loaded = load_model(tmp_path / "new")
    assert np.array_equal(loaded.weights[0], model(5.0).weights[0])
