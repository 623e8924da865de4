"""One process per run directory: a second one is refused up front, while the first runs."""

import sqlite3
import subprocess
import time

import pytest

from tests.e2e.cli import assert_one_line_error, hilctl_command, hilctl_env, run_hilctl, run_json

# Large enough that the first run is still going when a second process has started.
ARGS = ["--rows", 512, "--cols", 512, "--seed", 4, "--quiet"]


def stored_rounds(store):
    try:
        with sqlite3.connect(store, timeout=0.1) as db:
            return db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def wait_for_rounds(process, store, count):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if store.exists() and stored_rounds(store) >= count:
            return
        time.sleep(0.01)
    pytest.fail("the first run finished or stalled before the second could start")


@pytest.mark.parametrize("second", [["--resume", "run"], [*ARGS, "--out", "run"]],
                         ids=["resume", "fresh-run-on-the-same-out"])
def test_a_second_process_on_a_running_run_is_refused_with_one_line(tmp_path, second):
    first = subprocess.Popen(hilctl_command("program", *ARGS, "--out", "run", "--json"),
                             cwd=tmp_path, env=hilctl_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    store = tmp_path / "run" / "store.sqlite"
    try:
        wait_for_rounds(first, store, 2)
        done = run_hilctl("program", *second, cwd=tmp_path)
        assert_one_line_error(done, "another hilctl process is running this run")
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    # the refused process wrote nothing: the first run's rounds are numbered without a gap
    with sqlite3.connect(store) as db:
        rounds = [r[0] for r in db.execute("SELECT round FROM rounds ORDER BY round")]
    assert rounds == list(range(len(rounds)))


def test_the_lock_is_released_when_the_run_ends(tmp_path):
    run_json("program", "--rows", 8, "--cols", 8, "--out", "run", cwd=tmp_path)
    done = run_hilctl("program", "--resume", "run", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
