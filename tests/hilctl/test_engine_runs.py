"""The engine as an object with subscribers, and runs (programming and characterization)
through it that resume to what an uninterrupted run gives."""

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells, ResumeError
from hilctl.protocols import Engine, IncrementalStep, StopRules, Subscriber, Tolerance
from hilctl.protocols.characterize import characterize
from hilctl.run.characterization import new_characterization, resume_characterization
from hilctl.run.runner import STORE_NAME, new_run, resume_run
from hilctl.run.store import RunStore
from hilctl.simulated_backend import SimulatedCrossbar


class Recorder(Subscriber):
    def __init__(self, stop_at: int | None = None) -> None:
        self.seen, self.progress, self.stop_at = [], [], stop_at

    def start(self, record):
        self.seen.append(("start", record))

    def round(self, record):
        self.seen.append(("round", record))
        self.progress.append(record.state.progress()[:2])
        if record.round == self.stop_at:
            raise KeyboardInterrupt

    def stop(self, record):
        self.seen.append(("stop", record))


def config(**array):
    return build_config({"array": {"rows": 12, "cols": 12, "seed": 6, "preset": "hfox-1r",
                                   **array}})


def test_subscribers_see_start_rounds_and_stop_with_run_id_and_seed_also_on_an_error():
    crossbar = SimulatedCrossbar((6, 6), seed=1)
    engine = Engine(crossbar, run_id="r1", seed=1)
    first, second = Recorder(stop_at=3), Recorder()
    engine.subscribe(first)
    engine.subscribe(second)
    with pytest.raises(KeyboardInterrupt):
        engine.program(IncrementalStep(), Cells.all((6, 6)), np.full(36, 30e-6),
                       StopRules(Tolerance(0.01)))
    kinds = [kind for kind, _ in first.seen]
    assert kinds == ["start", "round", "round", "round", "round", "stop"]
    assert [kind for kind, _ in second.seen] == ["start", "round", "round", "round", "stop"]
    assert all((r.run_id, r.seed) == ("r1", 1) for _, r in first.seen)
    start, stop = first.seen[0][1], first.seen[-1][1]
    assert (start.kind, start.cells, start.resumed) == ("program", 36, False)
    assert (stop.rounds, stop.reason) == (3, "KeyboardInterrupt")


def test_an_interrupted_program_run_resumes_to_the_uninterrupted_result(tmp_path):
    targets = np.random.default_rng(2).uniform(8e-6, 30e-6, (12, 12))
    whole = new_run(Job(config()), tmp_path / "whole", targets).result
    with pytest.raises(KeyboardInterrupt):
        new_run(Job(config()), tmp_path / "cut", targets, progress=Recorder(stop_at=4))
    progress = Recorder()
    resumed = resume_run(tmp_path / "cut", progress=progress).result
    for name in ("final_read", "true_final", "pulses", "failed", "after_first_pulse"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name)), name
    assert (resumed.rounds, resumed.energy_J, resumed.pulse_time_s, resumed.reads) == (
        whole.rounds, whole.energy_J, whole.pulse_time_s, whole.reads)
    with RunStore(tmp_path / "cut" / STORE_NAME) as store:
        assert store.round_count() == whole.rounds + 1
        # A lean store resumes from its last checkpoint: the engine runs the rounds after it
        # again (checked against the stored ones) and goes on from there.
        assert progress.seen[0][1].resumed
        assert progress.seen[1][1].round == store.last_checkpoint() + 1 <= 5


def test_a_stored_characterization_writes_the_table_of_the_library_call(tmp_path):
    run = new_characterization(Job(config()), tmp_path / "run", 700, tmp_path / "t.csv")
    with SimulatedCrossbar((12, 12), seed=6) as crossbar:
        library = characterize(crossbar, 700, np.random.default_rng(6))
        library.read_V = crossbar.limits.read_V  # a stored run's table says how it was read
    library.write_csv(tmp_path / "library.csv")
    assert len(run.table) == 700
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "library.csv").read_bytes()


def test_an_interrupted_characterization_resumes_to_the_same_table(tmp_path):
    new_characterization(Job(config()), tmp_path / "whole", 1000, tmp_path / "whole.csv")
    with pytest.raises(KeyboardInterrupt):
        new_characterization(Job(config()), tmp_path / "cut", 1000, tmp_path / "cut.csv",
                             progress=Recorder(stop_at=3))
    assert not (tmp_path / "cut.csv").exists()
    progress = Recorder()
    resumed = resume_characterization(tmp_path / "cut", progress=progress)
    assert (tmp_path / "cut.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert progress.progress[0] == (4 * 144, 1000) and progress.progress[-1] == (1000, 1000)
    assert resumed.summary["rows"] == 1000


def test_a_round_stored_without_its_device_snapshot_is_refused(tmp_path):
    new_characterization(Job(config()), tmp_path / "run", 500, tmp_path / "t.csv")
    with RunStore(tmp_path / "run" / STORE_NAME) as store:
        store._db.execute("DELETE FROM checkpoints WHERE round = 2")
        with pytest.raises(ResumeError, match="round 2 has no device snapshot"):
            resume_characterization(tmp_path / "run")


def test_a_lean_resume_that_comes_out_differently_is_refused(tmp_path):
    """The rounds re-run from a checkpoint must be the stored ones, bit for bit."""
    targets = np.random.default_rng(3).uniform(8e-6, 30e-6, (12, 12))
    with pytest.raises(KeyboardInterrupt):
        new_run(Job(config()), tmp_path / "cut", targets, progress=Recorder(stop_at=3))
    with RunStore(tmp_path / "cut" / STORE_NAME) as store:
        store._db.execute("UPDATE rounds SET checksum = 'x' WHERE round = 2")
    with pytest.raises(ResumeError, match="round 2 came out differently"):
        resume_run(tmp_path / "cut")
