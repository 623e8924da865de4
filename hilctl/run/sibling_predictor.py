"""A predictor trained on the spot: characterize a separate, differently seeded array of the
same device type and train on its pulse-response table, so a planner is never evaluated on the
devices it learned from."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from hilctl.protocols.characterize import characterize

from ..assemble import open_crossbar
from ..config import RunConfig
from ..predictor.model import Predictor
from ..predictor.training import train_predictor

TRAINING_PULSES = 50_000
TRAINING_SEED_OFFSET = 1000


def train_on_sibling_array(config: RunConfig, pulses: int = TRAINING_PULSES,
                           say: Callable[[str], None] = print) -> tuple[Predictor, dict]:
    """A predictor for the configured preset, and a note of how it was made."""
    seed = config.array.seed + TRAINING_SEED_OFFSET
    sibling = config.model_copy(update={"array": config.array.model_copy(update={"seed": seed})})
    say(f"characterizing a separate array (seed {seed}) with {pulses} random pulses and "
        "training a predictor on it")
    started = time.perf_counter()
    with open_crossbar(sibling) as crossbar:
        table = characterize(crossbar, pulses, np.random.default_rng(seed))
    predictor = train_predictor(table, seed=seed, source=f"characterized array seed {seed}")
    info = {"source": "trained on a separate array", "training_array_seed": seed,
            "training_pulses": pulses, "seconds": round(time.perf_counter() - started, 2)}
    return predictor, info
