"""A device that misses its target is compensated through the other device of its pair."""

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.run.runner import new_run, resume_run
from hilctl.simulated_backend import DeviceParams
from hilctl.weights.job import pair_compensation
from hilctl.weights.layout import plan_layout, usable_window
from hilctl.weights.model_files import TrainedModel


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.5, (9, 6)), rng.normal(0, 0.5, (7, 3))]
    return TrainedModel(weights=weights, mode="voltage", layer_sizes=(8, 6, 3), gains=[1.0, 1.0],
                        dataset="synthetic", accuracy_software=1.0, input_voltage_V=0.2,
                        iv_aware=False, iv_v0_V=0.3)


@pytest.fixture
def job(tmp_path):
    model = small_model()
    lo, hi = usable_window(DeviceParams())
    layout = plan_layout(model, (16, 16), lo, hi)
    targets = layout.targets()
    config = build_config({"array": {"rows": 16, "cols": 16, "seed": 5, "preset": "hfox-1r"},
                           "device": {"stuck_fraction": 0.15}})
    return config, layout, targets, tmp_path


def pairs(layout, targets):
    rows, cols = targets.shape[1:]
    out = []
    for layer in range(2):
        c = layout.cells_of(layer)
        base = (c["array"] * rows + c["row"]) * cols
        out.append((base + c["col_plus"], base + c["col_minus"]))
    return [np.concatenate([p.ravel() for p, _ in out]),
            np.concatenate([m.ravel() for _, m in out])]


def pair_error(run_dir, layout, targets):
    read = np.load(run_dir / "conductance.npy").ravel()
    plus, minus = pairs(layout, targets)
    wanted = targets.ravel()[plus] - targets.ravel()[minus]
    return np.abs((read[plus] - read[minus]) - wanted), wanted


def test_partners_of_missed_devices_restore_the_pair_difference(job):
    config, layout, targets, tmp = job
    plain = new_run(Job(config), tmp / "plain", targets)
    fixed = new_run(Job(config), tmp / "fixed", targets,
                    retarget=pair_compensation(layout, targets))
    assert plain.summary["retargeted_cells"] == 0
    assert fixed.summary["retargeted_cells"] > 5
    before, wanted = pair_error(tmp / "plain", layout, targets)
    after, _ = pair_error(tmp / "fixed", layout, targets)
    # identical arrays: only the compensated pairs differ, and they got much closer
    changed = ~np.isclose(before, after)
    assert changed.sum() >= 5
    assert np.median(after[changed]) < 0.2 * np.median(before[changed])
    assert np.mean(after) < 0.7 * np.mean(before)


def test_retarget_asks_nothing_twice(job):
    config, layout, targets, tmp = job
    retarget = pair_compensation(layout, targets)
    outcome = new_run(Job(config), tmp / "run", targets, retarget=retarget)
    from hilctl.protocols import ProgramState, Totals

    flat = np.flatnonzero(np.isfinite(targets.ravel()))
    r = outcome.result
    state = ProgramState(targets=r.targets.copy(), band=r.band, initial=r.initial,
                         read=r.final_read, after_first_pulse=r.after_first_pulse,
                         pulses=r.pulses, done=r.success, failed=r.failed,
                         stalled=np.zeros(flat.size, np.int32), stall_ref=r.final_read,
                         crossings=np.zeros(flat.size, np.int32), totals=Totals())
    assert retarget(state) is None


def test_a_compensated_run_resumes_to_the_same_result(job):
    config, layout, targets, tmp = job
    whole = new_run(Job(config), tmp / "whole", targets,
                    retarget=pair_compensation(layout, targets))
    (tmp / "whole" / "layout.json").write_text(layout.to_json())
    # already complete: replays, and the same compensation asks nothing new
    resumed = resume_run(tmp / "whole", retarget=pair_compensation(layout, targets))
    assert resumed.summary["retargeted_cells"] == whole.summary["retargeted_cells"]
    assert np.array_equal(resumed.result.final_read, whole.result.final_read)
