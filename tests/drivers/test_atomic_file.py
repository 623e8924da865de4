"""Atomic writes clean up after writers that were killed, and nothing else."""

import os
import time

from hilctl.drivers.atomic_file import ORPHAN_AGE_S, TMP_SUFFIX, write_atomic


def test_the_next_write_removes_orphans_of_killed_writers_only(tmp_path):
    orphan = tmp_path / f".weights.npz.k2j3{TMP_SUFFIX}"
    orphan.write_bytes(b"half a file")
    old = time.time() - 2 * ORPHAN_AGE_S
    os.utime(orphan, (old, old))
    in_flight = tmp_path / f".result.json.x9{TMP_SUFFIX}"
    in_flight.write_bytes(b"still being written")
    users = tmp_path / "notes.tmp"
    users.write_text("mine")
    os.utime(users, (old, old))
    write_atomic(tmp_path / "result.json", "{}\n")
    assert not orphan.exists()
    assert in_flight.exists() and users.read_text() == "mine"
    assert (tmp_path / "result.json").read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [in_flight.name, "notes.tmp", "result.json"])
