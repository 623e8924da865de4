"""Training reports every epoch, so ``train`` and ``predictor train`` draw a progress bar on
stderr instead of printing nothing for many seconds."""

from __future__ import annotations

import io
from unittest.mock import patch

import numpy as np
from rich.console import Console

from hilctl.api.networks import training_report
from hilctl.predictor.training import train_predictor
from hilctl.protocols.characterize import characterize
from hilctl.report.progress import epoch_progress
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.weights.datasets import load_dataset
from hilctl.weights.network import TrainConfig, train_model
from tests.e2e.cli import run_hilctl


def test_both_trainings_call_back_after_every_epoch():
    seen: list[tuple[int, int]] = []
    table = characterize(SimulatedCrossbar((8, 8), seed=1), 1500, np.random.default_rng(0))
    train_predictor(table, epochs=3, hidden=(8,), on_epoch=lambda *a: seen.append(a))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    seen.clear()
    train_model(TrainConfig(hidden=(4,), epochs=2), load_dataset("digits"),
                on_epoch=lambda *a: seen.append(a))
    assert seen == [(1, 2), (2, 2)]


def test_the_epoch_bar_shows_epochs_done_of_all_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, no_color=True, width=100)
    with epoch_progress("training", console=console) as on_epoch:
        for done in (1, 2, 3):
            on_epoch(done, 3)
    drawn = out.getvalue()
    # drawn, then cleared at the end (transient)
    assert "training" in drawn and "3/3" in drawn and "epochs" in drawn
    with epoch_progress("training", enabled=False) as hook:
        assert hook is None


def test_a_spiking_network_trains_under_the_same_epoch_bar(tmp_path):
    seen: list[tuple[int, int]] = []
    with patch("hilctl.api.networks.epoch_progress") as bar:
        bar.return_value.__enter__.return_value = lambda *a: seen.append(a)
        training_report(tmp_path / "snn", kind="msnn", steps=5, hidden=8, epochs=2,
                        progress=True)
    assert bar.call_args.args[0] == "training a spiking network"
    assert seen == [(1, 2), (2, 2)]
    done = run_hilctl("train", "--model", "msnn", "--steps", 5, "--hidden", 8, "--epochs", 2,
                      "--out", "snn2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "epoch 1/2" not in done.stderr + done.stdout  # no line per epoch
