"""The run store keeps rounds as arrays and rebuilds the exact program state from them."""

import sqlite3

import numpy as np
import pytest

from hilctl.drivers import Cells, DataError, ResumeError
from hilctl.protocols import IncrementalStep, program
from hilctl.run.store import RunStore, pack, unpack
from hilctl.simulated_backend import SimulatedCrossbar


def test_pack_round_trips_every_shape_and_dtype_without_pickle():
    arrays = {"scalar": np.array(7), "flags": np.array([True, False]),
              "grid": np.arange(6.0).reshape(2, 3), "small": np.array([1, -1], np.int8)}
    back = unpack(pack(arrays))
    for name, value in arrays.items():
        assert back[name].shape == value.shape and back[name].dtype == value.dtype
        assert np.array_equal(back[name], value)


def test_unpack_refuses_object_arrays():
    blob = pack({"x": np.zeros(2)})
    forged = blob.replace(b'"<f8"', b'"|O" ')
    with pytest.raises((DataError, ValueError, TypeError)):
        unpack(forged)


def test_replaying_the_stored_rounds_rebuilds_the_final_state(tmp_path):
    xb = SimulatedCrossbar((12, 12), seed=1)
    cells = Cells.all(xb.shape)
    targets = np.random.default_rng(0).uniform(8e-6, 30e-6, len(cells))
    with RunStore(tmp_path / "store.sqlite", create=True) as store:
        states = []

        def observe(record):
            store.append(record)
            states.append(record.state)

        result = program(IncrementalStep(), xb, cells, targets, observer=observe)
        rebuilt, _ = store.replay()
    assert store.path.exists()
    final = states[-1]
    for name, value in final.to_arrays().items():
        assert np.array_equal(rebuilt.to_arrays()[name], value), name
    assert rebuilt.rounds == result.rounds


def test_a_failed_append_stores_nothing(tmp_path):
    xb = SimulatedCrossbar((4, 4), seed=1)
    cells = Cells.all(xb.shape)
    with RunStore(tmp_path / "store.sqlite", create=True) as store:
        records = []
        program(IncrementalStep(), xb, cells, np.full(16, 20e-6), observer=records.append)
        store.append(records[0])
        with pytest.raises(sqlite3.IntegrityError):
            store.append(records[0])  # the same round twice is refused...
        assert store.round_count() == 1  # ...and leaves the store as it was


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    (tmp_path / "store.sqlite").write_text("not a database")
    with pytest.raises(ResumeError):
        RunStore(tmp_path / "store.sqlite")
    with pytest.raises(ResumeError, match="not a run directory"):
        RunStore(tmp_path / "missing" / "store.sqlite")


def test_background_writer_stores_every_round_and_surfaces_a_write_error(tmp_path):
    from hilctl.run.store import BackgroundWriter, encode_round

    xb = SimulatedCrossbar((8, 8), seed=2)
    records = []
    program(IncrementalStep(), xb, Cells.all(xb.shape), np.full(64, 20e-6),
            observer=lambda r: records.append(encode_round(r)))
    with RunStore(tmp_path / "store.sqlite", create=True) as store:
        writer = BackgroundWriter()
        for row in records:
            writer.submit(store.write, row)
        writer.close()
        assert store.round_count() == len(records)
        failing = BackgroundWriter()
        failing.submit(store.write, records[0])  # round 0 is stored already: the insert fails
        with pytest.raises(sqlite3.IntegrityError):
            failing.close()


def test_a_journaled_round_is_unconfirmed_until_its_reads_are_stored(tmp_path):
    """The engine journals each round before sending it; a round cut off after the journal is
    handed back by ``unconfirmed``, one stored with its reads is not."""
    xb = SimulatedCrossbar((4, 4), seed=1)
    cells = Cells.all(xb.shape)

    class Stop(Exception):
        pass

    with RunStore(tmp_path / "store.sqlite", create=True) as store:
        def journal(number, index, pulses):
            store.journal(number, index, pulses)
            if number == 3:
                raise Stop  # as if the rig stopped answering after this round was sent

        with pytest.raises(Stop):
            program(IncrementalStep(), xb, cells, np.full(16, 40e-6),
                    observer=lambda record: store.append(record), journal=journal)
        intent = store.unconfirmed()
        assert store.round_count() == 3 and intent["index"].size > 0
        assert set(intent) == {"index", "polarity", "amplitude", "width"}
        store._db.execute("DELETE FROM rounds WHERE round = 2")
        with pytest.raises(ResumeError, match="does not follow"):
            store.unconfirmed()


def stored_run(tmp_path):
    xb = SimulatedCrossbar((4, 4), seed=1)
    store = RunStore(tmp_path / "store.sqlite", create=True)
    program(IncrementalStep(), xb, Cells.all(xb.shape), np.full(16, 40e-6),
            observer=lambda record: store.append(record))
    assert store.round_count() > 3
    return store


def test_a_missing_round_is_refused_on_replay(tmp_path):
    with stored_run(tmp_path) as store:
        store._db.execute("DELETE FROM rounds WHERE round = 2")
        with pytest.raises(ResumeError, match="round 2 is missing"):
            store.replay()


def test_changed_bytes_in_a_round_are_refused_on_replay(tmp_path):
    with stored_run(tmp_path) as store:
        blob = bytearray(store._db.execute("SELECT pulses FROM rounds WHERE round = 1")
                         .fetchone()[0])
        blob[-1] ^= 0xFF  # one flipped byte of a read
        store._db.execute("UPDATE rounds SET pulses = ? WHERE round = 1", (bytes(blob),))
        with pytest.raises(ResumeError, match="round 1 does not match its checksum"):
            store.replay()
