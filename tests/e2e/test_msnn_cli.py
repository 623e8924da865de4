"""A fully memristive spiking network through the CLI: train, program its synapses, infer with
the measured conductances."""

import pytest

from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json


@pytest.mark.slow
def test_train_program_and_infer_a_spiking_network(tmp_path):
    trained = run_json("train", "--model", "msnn", "--steps", 20, "--hidden", 32, "--epochs", 3,
                       "--out", "snn", cwd=tmp_path)
    assert trained["kind"] == "msnn" and trained["accuracy_software"] > 0.7
    run_json("program", "--weights", "snn", "--rows", 64, "--cols", 64, "--tolerance", "5%",
             "--out", "run", "--quiet", cwd=tmp_path)
    report = run_json("infer", "--run", "run", "--defects", "0,0.1", "--trials", 1,
                      cwd=tmp_path)
    assert report["model_kind"] == "msnn"
    assert report["accuracy_software"] == pytest.approx(trained["accuracy_software"])
    assert report["accuracy_measured"] > report["accuracy_software"] - 0.1
    assert report["defects"][1]["accuracy"] < report["defects"][0]["accuracy"]
    # The read-path cost model is for feed-forward networks: said, not guessed.
    assert_one_line_error(run_hilctl("infer", "--run", "run", "--cost", cwd=tmp_path),
                          "spiking network")


def test_a_spiking_network_refuses_mlp_only_settings(tmp_path):
    done = run_hilctl("train", "--model", "msnn", "--mode", "current", "--out", "snn",
                      cwd=tmp_path)
    assert_one_line_error(done, "--model msnn")
    assert not (tmp_path / "snn").exists()
