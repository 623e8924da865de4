"""``hilctl demo`` as a call: the whole story on the embedded simulated array.

    story = story("runs/demo", mode="voltage")      # what ``hilctl demo --json`` prints
    [(r["protocol"], r["accuracy_measured"]) for r in story["runs"]]

Train a network for the crossbar on digits, program its weights with classic write-verify (the
variant that suits the default preset: ISPP on the gate of its 1T1R cells), with planned
write-verify and with one-shot (both planned by a neural predictor trained on a separate array:
a gate sweep on 1T1R cells), and run inference with the conductances each run measured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hilctl.drivers.atomic_file import check_output_directory

from ..assemble import Job
from ..config_tables import ProtocolConfig
from ..registry import PLANNED
from ..report.console import COST_AXES
from ..report.progress import round_progress
from ..run.compare import ratios_over
from ..run.runner import new_run
from ..weights.job import pair_compensation, weights_job
from .parameters import SettingError, configure, silent
from .runs import tolerance_settings

# The default write-verify as the baseline, then every planned protocol.
PROTOCOLS = (ProtocolConfig().name, *PLANNED)
# One-shot leaves every device with a ~20 % error (one unverified pulse); a network trained
# against that error keeps most of its accuracy (digits, voltage mode: one-shot 92.6 % against
# 85.9 % for a conventionally trained one).
NOISE_AWARE = {"conductance_noise": 0.2, "stuck_fraction": 0.01}
NOISE_AWARE_EPOCHS = 120


def story(out: str | Path, mode: str = "voltage", kind: str = "mlp", seed: int = 0,
          tolerance: float | str = "5%", progress: bool = False, plots: bool = True,
          say: Callable[[str], None] | None = None) -> dict:
    """Train (``kind`` ``"mlp"`` or ``"msnn"``), program with every protocol of ``PROTOCOLS``
    on the array of ``seed`` and infer; the model, predictor and runs (with their figures
    unless ``plots=False``) go to ``out``. Each run's ``ratio_to_ispp`` compares its pulses,
    time and energy with the first run's."""
    from ..run.sibling_predictor import train_on_sibling_array  # torch: import late

    say = say or silent
    protocol = {**tolerance_settings(tolerance)}
    configure({"protocol": protocol}, {"protocol": protocol}, "hilctl.story()")  # before work
    out = check_output_directory(out, None, "demo")
    base = {"array": {"seed": seed},
            "weights": {"model": str((out / "model").resolve()), "rescale": True},
            "protocol": {**protocol, "predictor": str((out / "predictor").resolve())},
            "output": {"plots": plots}}
    job = Job(configure(base, {}, "hilctl.story()"))
    model, data = train_network(mode, kind, out, job.params.iv_v0_V, say)
    predictor, _ = train_on_sibling_array(job, say=say)
    predictor.save(out / "predictor")
    runs = with_ratios_to_ispp([program_and_infer(name, base, out, data, not progress)
                                for name in PROTOCOLS])
    return {"mode": mode, "model": kind, "dataset": "digits", "runs": runs,
            "layer_sizes": list(model.layer_sizes), "preset": job.config.array.preset,
            "out": str(out)}


def train_network(mode: str, kind: str, out: Path, iv_v0_V: float, say) -> tuple:
    from ..weights.datasets import load_dataset
    from ..weights.model_files import save_model

    data = load_dataset("digits")
    if kind == "msnn":
        from ..weights.spiking import SpikingTrainConfig, train_spiking  # torch: when needed

        if mode != "voltage":
            raise SettingError("mode", mode, "a spiking network runs voltage-mode synapses")
        say("training a 64-64-10 fully memristive spiking network (MIF neurons) on digits")
        model = train_spiking(SpikingTrainConfig(hidden=(64,)), data)
    else:
        from ..weights.network import TrainConfig, train_model  # torch: imported when needed

        say(f"training a 64-32-10 {mode}-mode network on digits, noise-aware (20 % device "
            "error, 1 % stuck devices)")
        model = train_model(TrainConfig(mode=mode, hidden=(32,), iv_v0_V=iv_v0_V,
                                        epochs=NOISE_AWARE_EPOCHS, **NOISE_AWARE), data)
    save_model(model, out / "model")
    return model, data


def program_and_infer(protocol: str, base: dict, out: Path, data, quiet: bool) -> dict:
    from ..weights.inference import evaluate, load_run  # torch: import late

    job = Job(configure({**base, "protocol": {**base["protocol"], "name": protocol}}, {},
                        "hilctl.story()"))
    targets, files, layout = weights_job(job)
    with round_progress(protocol, not quiet) as hook:
        outcome = new_run(job, out / f"run-{protocol}", targets, progress=hook,
                          extra_files=files, retarget=pair_compensation(layout, targets))
    report = evaluate(load_run(out / f"run-{protocol}"), data)
    s = outcome.summary
    return {"protocol": protocol, "variant": s["protocol"], "arrays": layout.n_arrays,
            "cells": s["cells"],
            "success_rate": s["success_rate"], "pulses_mean": s["pulses_mean"],
            "program_time_s": s["program_time_s"], "time_terms_s": s["time_terms_s"],
            "energy_J": s["energy_J"], "energy_model": s["energy_model"],
            "cost_settings": s["cost_settings"],
            "accuracy_software": report["accuracy_software"],
            "accuracy_ideal": report["accuracy_ideal"],
            "accuracy_measured": report["accuracy_measured"], "run_dir": s["run_dir"]}


def with_ratios_to_ispp(rows: list[dict]) -> list[dict]:
    """Each run's pulses, time and energy over the first run's (the classic write-verify)."""
    return [{**r, "ratio_to_ispp": ratios_over(r, rows[0], COST_AXES)} for r in rows]
