"""A new run is checked before anything is made, and one that never stored a round is resumed
from its first read rather than left a dead end."""

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import ConfigError, ResumeError
from hilctl.protocols import IncrementalStep, Subscriber
from hilctl.run.runner import STORE_NAME, new_run, resume_run
from hilctl.run.store import RunStore


class Refused(IncrementalStep):
    def check(self, limits):
        raise ConfigError("ramp exceeds the SET limit")


def config():
    return build_config({"array": {"rows": 4, "cols": 4, "seed": 3}})


def test_a_run_refused_before_its_store_leaves_no_directory(tmp_path):
    with pytest.raises(ConfigError, match="ramp exceeds"):
        new_run(Job(config()), tmp_path / "run", np.full((4, 4), 20e-6), protocol=Refused())
    assert not (tmp_path / "run").exists()  # the same command can simply be run again


def test_a_run_with_no_stored_round_resumes_like_a_fresh_one(tmp_path):
    targets = np.full((4, 4), 20e-6)
    fresh = new_run(Job(config()), tmp_path / "fresh", targets).result
    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        new_run(Job(config()), stopped, targets, progress=interrupt)
    with RunStore(stopped / STORE_NAME) as store:
        store._db.execute("DELETE FROM rounds")  # as if stopped during the first read
    resumed = resume_run(stopped).result
    assert np.array_equal(resumed.final_read, fresh.final_read)
    assert np.array_equal(resumed.pulses, fresh.pulses)


class Interrupt(Subscriber):
    def round(self, record):
        raise KeyboardInterrupt


interrupt = Interrupt()


def test_a_swapped_targets_file_is_refused_on_resume(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        new_run(Job(config()), tmp_path / "run", np.full((4, 4), 20e-6), progress=interrupt)
    np.save(tmp_path / "run" / "targets.npy", np.full((4, 4), 30e-6))
    with pytest.raises(ResumeError, match="targets.npy was changed"):
        resume_run(tmp_path / "run")
