"""``hilctl characterize`` as a stored run: a killed characterization resumes to the table an
uninterrupted one with the same seed writes."""

import signal
import sqlite3
import subprocess
import time

import pytest

from tests.e2e.cli import assert_one_line_error, hilctl_command, hilctl_env, run_hilctl, run_json

ARGS = ("characterize", "--rows", 48, "--cols", 48, "--seed", 4, "--pulses", 60_000,
        "--preset", "hfox-1r", "--quiet")


def kill_after_rounds(cwd, run_dir: str, rounds: int, *args) -> None:
    """Start ``hilctl *args`` and SIGKILL it once its store holds ``rounds`` rounds."""
    victim = subprocess.Popen(hilctl_command(*args), cwd=cwd, env=hilctl_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = cwd / run_dir / "store.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and victim.poll() is None:
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=0.1) as db:
                    if db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] >= rounds:
                        break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"


def test_a_killed_characterization_resumes_to_the_uninterrupted_table(tmp_path):
    whole = run_json(*ARGS, "--out", "whole.csv", "--run-dir", "whole", cwd=tmp_path)
    kill_after_rounds(tmp_path, "killed", 4, *ARGS, "--out", "killed.csv", "--run-dir", "killed")
    assert not (tmp_path / "killed.csv").exists()

    resumed = run_json("characterize", "--resume", "killed", "--quiet", cwd=tmp_path)
    assert resumed["rows"] == whole["rows"] == 60_000
    assert (tmp_path / "killed.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    with sqlite3.connect(tmp_path / "killed" / "store.sqlite") as db:
        rounds = [r[0] for r in db.execute("SELECT round FROM rounds ORDER BY round")]
    assert rounds == list(range(len(rounds))) and len(rounds) == 1 + 60_000 // (48 * 48) + 1


def test_resume_keeps_the_run_as_made_and_a_program_run_is_not_a_characterization(tmp_path):
    done = run_hilctl("characterize", "--resume", "somewhere", "--seed", 3, cwd=tmp_path)
    assert_one_line_error(done, "--seed")
    done = run_hilctl("characterize", "--pulses", 10, cwd=tmp_path)
    assert_one_line_error(done, "--out")
    (tmp_path / "1r.toml").write_text('[array]\npreset = "hfox-1r"\n')
    run_json("program", "--config", "1r.toml", "--rows", 4, "--cols", 4, "--out", "prog",
             "--quiet", cwd=tmp_path)
    done = run_hilctl("characterize", "--resume", "prog", cwd=tmp_path)
    assert_one_line_error(done, "holds a program run", "hilctl program --resume")
    run_json("characterize", "--rows", 4, "--cols", 4, "--pulses", 30, "--preset", "hfox-1r",
             "--out", "t.csv", "--run-dir", "char", "--quiet", cwd=tmp_path)
    done = run_hilctl("program", "--resume", "char", cwd=tmp_path)
    assert_one_line_error(done, "holds a characterize run", "hilctl characterize --resume")


@pytest.mark.parametrize("flag", [[], ["--run-dir", "taken"]])
def test_a_run_directory_is_never_overwritten(tmp_path, flag):
    args = ("characterize", "--rows", 4, "--cols", 4, "--pulses", 30, "--preset", "hfox-1r",
            "--quiet", *flag)
    run_json(*args, "--out", "a.csv", cwd=tmp_path)
    done = run_hilctl(*args, "--out", "b.csv", cwd=tmp_path)
    if flag:
        assert_one_line_error(done, "already holds a run", "--resume")
    else:  # a default run directory of the same second is numbered, not reused
        assert done.returncode == 0, done.stderr
        assert len(list((tmp_path / "runs").iterdir())) == 2
