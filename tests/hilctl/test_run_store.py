"""The run store keeps rounds compactly and exactly, survives a torn write, refuses changed
bytes, and still reads a store of format 1."""

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from hilctl.api.pulses import pulse_rounds
from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells, DataError, ResumeError
from hilctl.protocols import IncrementalStep, program
from hilctl.run import round_codec
from hilctl.run.array_blob import pack, unpack
from hilctl.run.runner import STORE_NAME, new_run, reopen_run, resume_run
from hilctl.run.store import CHANGES, FORMAT, PAYLOADS_SUFFIX, RunStore
from hilctl.run.store_writer import BackgroundWriter
from hilctl.run.stored_round import capture_round, encode_round
from hilctl.simulated_backend import SimulatedCrossbar
from hilctl.targets import targets_for

FORMAT_1 = Path(__file__).parents[1] / "fixtures" / "store_v1" / "interrupted"


def test_pack_round_trips_every_shape_and_dtype_without_pickle():
    arrays = {"scalar": np.array(7), "flags": np.array([True, False]),
              "grid": np.arange(6.0).reshape(2, 3), "small": np.array([1, -1], np.int8)}
    back = unpack(pack(arrays))
    for name, value in arrays.items():
        assert back[name].shape == value.shape and back[name].dtype == value.dtype
        assert np.array_equal(back[name], value)


@pytest.mark.parametrize("decoder", [unpack, round_codec.decode])
def test_stored_blobs_refuse_object_arrays(decoder):
    blob = pack({"x": np.zeros(2)}) if decoder is unpack else round_codec.encode(
        {"x": np.random.default_rng(0).random(2)})
    forged = blob.replace(b'"<f8"', b'"|O" ')
    with pytest.raises((DataError, ValueError, TypeError)):
        decoder(forged)


def test_the_codec_gives_back_every_array_bit_for_bit():
    rng = np.random.default_rng(0)
    reads = rng.uniform(1e-6, 1e-4, 50)
    arrays = {"count": np.array(3), "done": rng.random(50) < 0.5, "zeros": np.zeros(50, np.int32),
              "pulses": rng.integers(0, 90, 50).astype(np.int32), "read": reads,
              "initial": reads.copy(), "signed": np.array([-0.0, -0.0]), "grid": np.ones((2, 3))}
    back = round_codec.decode(round_codec.encode(arrays))
    for name, value in arrays.items():
        assert back[name].dtype == value.dtype and back[name].shape == value.shape, name
        assert back[name].tobytes() == value.tobytes(), name
    back["read"][0] = 0.0  # each array its own writable copy, aliases included
    assert back["initial"][0] == reads[0]


@pytest.mark.parametrize("index, previous", [
    (np.arange(1000), None),                              # every cell
    (np.arange(0, 1000, 3), None),                        # a bitmask over the cells
    (np.arange(0, 1000, 6), np.arange(0, 1000, 3)),       # a subset of the previous round
    (np.array([5, 2, 9]), np.arange(10)),                 # not increasing: as integers
    (np.array([2, 5, 9]), np.array([9, 5, 2, 7])),        # after a retarget's positions
    (np.array([], np.int64), None),
])
def test_round_positions_come_back_exactly_in_their_cheapest_form(index, previous):
    blob = round_codec.encode({"index": index}, previous, 1000)
    back = round_codec.decode(blob, previous, 1000)["index"]
    assert back.dtype == index.dtype and np.array_equal(back, index)
    assert len(blob) <= len(round_codec.encode({"index": index})) + 8


def test_a_round_of_few_distinct_settings_is_one_byte_a_cell_and_exact():
    rng = np.random.default_rng(1)
    n = 10_000
    columns = {"polarity": rng.choice(np.array([-1, 1], np.int8), n),
               "amplitude": rng.choice(0.9 + 0.05 * np.arange(20), n),
               "width": np.full(n, 1e-7), "gate": rng.choice([1.2, 1.35], n)}
    table = round_codec.tabulate(columns)
    assert table["pulse_code"].dtype == np.uint8
    back = round_codec.untabulate(round_codec.decode(round_codec.encode(table)))
    for name, value in columns.items():
        assert back[name].tobytes() == value.tobytes(), name
    continuous = dict(columns, amplitude=rng.uniform(0.9, 1.8, n))  # a planner's own settings
    back = round_codec.untabulate(round_codec.decode(round_codec.encode(
        round_codec.tabulate(continuous))))
    assert back["amplitude"].tobytes() == continuous["amplitude"].tobytes()


def test_replaying_a_store_of_changes_rebuilds_the_final_state(tmp_path):
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
        assert len(list(store.pulse_rounds())) == 1


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    (tmp_path / "store.sqlite").write_text("not a database")
    with pytest.raises(ResumeError):
        RunStore(tmp_path / "store.sqlite")
    with pytest.raises(ResumeError, match="not a run directory"):
        RunStore(tmp_path / "missing" / "store.sqlite")


def test_background_writer_stores_every_round_and_surfaces_a_write_error(tmp_path):
    xb = SimulatedCrossbar((8, 8), seed=2)
    rows = []
    program(IncrementalStep(), xb, Cells.all(xb.shape), np.full(64, 20e-6),
            observer=lambda r: rows.append(encode_round(r.round, capture_round(r, True))))
    with RunStore(tmp_path / "store.sqlite", create=True) as store:
        writer = BackgroundWriter()
        for row in rows:
            writer.submit(store.write, row)
        writer.close()
        assert store.round_count() == len(rows)
        failing = BackgroundWriter()
        failing.submit(store.write, rows[0])  # round 0 is stored already: the insert fails
        with pytest.raises(sqlite3.IntegrityError):
            failing.close()


def test_a_group_of_rounds_is_committed_with_one_fsync_or_not_at_all(tmp_path, monkeypatch):
    xb = SimulatedCrossbar((8, 8), seed=2)
    rows = []
    program(IncrementalStep(), xb, Cells.all(xb.shape), np.full(64, 20e-6),
            observer=lambda r: rows.append(encode_round(r.round, capture_round(r, True))))
    assert len(rows) >= 6
    syncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append(fd), real_fsync(fd)))
    with RunStore(tmp_path / "store.sqlite", create=True) as store:
        with store.grouped():
            for row in rows[:3]:
                store.write(row)
        assert store.round_count() == 3 and len(syncs) == 1
        with pytest.raises(sqlite3.IntegrityError), store.grouped():
            store.write(rows[3])
            store.write(rows[0])  # stored already: the group fails, round 3 with it
        assert store.round_count() == 3
        for row in rows[3:]:  # the rolled-back payload is a tail the next write overwrites
            store.write(row)
    with RunStore(tmp_path / "store.sqlite") as store:
        assert [r.number for r in store.rounds()] == list(range(len(rows)))


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
    store = RunStore(tmp_path / "store.sqlite", create=True, holds=CHANGES)
    program(IncrementalStep(), xb, Cells.all(xb.shape), np.full(16, 40e-6),
            observer=lambda record: store.append(record))
    assert store.round_count() > 3
    return store


def test_a_missing_round_is_refused_on_replay(tmp_path):
    with stored_run(tmp_path) as store:
        store._db.execute("DELETE FROM rounds WHERE round = 2")
        with pytest.raises(ResumeError, match="round 2 is missing"):
            store.replay()


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_changed_bytes_in_a_round_are_refused_by_every_reader(tmp_path):
    with stored_run(tmp_path) as store:
        offset, length = store._db.execute("SELECT offset, length FROM rounds WHERE round = 1"
                                           ).fetchone()
        flip_byte(tmp_path / f"store{PAYLOADS_SUFFIX}", offset + length - 1)  # a read's byte
        for read in (store.replay, lambda: list(store.pulse_rounds())):
            with pytest.raises(ResumeError, match="round 1 does not match its checksum"):
                read()


def test_a_torn_tail_after_the_last_committed_round_is_ignored_and_overwritten(tmp_path):
    """A kill while a payload is being written leaves bytes no index row names."""
    with stored_run(tmp_path) as store:
        rounds = store.round_count()
        before = [p["reading"] for p in store.pulse_rounds()]
    payloads = tmp_path / f"store{PAYLOADS_SUFFIX}"
    with payloads.open("ab") as fh:
        fh.write(b"\x00half a round")
    xb = SimulatedCrossbar((4, 4), seed=1)
    records = []
    program(IncrementalStep(), xb, Cells.all(xb.shape), np.full(16, 40e-6),
            observer=records.append)
    with RunStore(tmp_path / "store.sqlite") as store:
        assert [p["reading"].tobytes() for p in store.pulse_rounds()] == [
            r.tobytes() for r in before]
        store._db.execute("DELETE FROM rounds WHERE round = ?", (rounds - 1,))
        store.append(records[rounds - 1])  # written where the torn tail began
        assert store.round_count() == rounds and len(list(store.pulse_rounds())) == rounds


def lean_run(tmp_path, size=16, preset="hfox-1t1r"):
    config = build_config({"array": {"rows": size, "cols": size, "seed": 5, "preset": preset},
                           "protocol": {"name": "write-verify", "tolerance": 0.05}})
    return new_run(Job(config), tmp_path / "run", targets_for(Job(config))).result


def test_a_lean_ispp_store_costs_under_ten_bytes_per_operation(tmp_path):
    result = lean_run(tmp_path, size=48)
    size = sum(p.stat().st_size for p in (tmp_path / "run").glob("store*"))
    assert size / result.pulses.sum() < 10


def test_float32_reads_are_far_finer_than_the_read_noise(tmp_path):
    """A lean store keeps reads after round 0 as float32; its rounding is below a ten
    thousandth of the preset's read noise, and readers get the exact reads back by replay."""
    result = lean_run(tmp_path)
    crossbar, _, _ = reopen_run(tmp_path / "run")
    with crossbar:
        relative_noise = crossbar.params.read_noise_relative
    assert np.finfo(np.float32).eps / 2 < 1e-4 * relative_noise
    with RunStore(tmp_path / "run" / STORE_NAME) as store:
        stored = [p["reading"] for p in store.pulse_rounds()]
    assert stored[0].dtype == np.float64 and stored[1].dtype == np.float32
    exported = list(pulse_rounds(tmp_path / "run"))
    assert exported[1]["g_read_S"].dtype == np.float64
    assert np.array_equal(exported[1]["g_read_S"].astype(np.float32), stored[1])
    last = {}
    for part in exported:  # each cell's last read is the run's final read, exactly
        last.update(zip(zip(part["row"].tolist(), part["col"].tolist(), strict=True),
                        part["g_read_S"].tolist(), strict=True))
    assert np.array_equal([last[cell] for cell in sorted(last)], result.final_read)


def test_the_array_as_a_lean_run_left_it_is_the_one_it_reported(tmp_path):
    result = lean_run(tmp_path)
    crossbar, cells, _ = reopen_run(tmp_path / "run")
    with crossbar:
        assert np.array_equal(crossbar.sim_true_conductance(cells), result.true_final)


def test_a_format_1_store_still_reads_and_its_resume_is_refused_in_one_line(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(FORMAT_1, run)
    with RunStore(run / STORE_NAME) as store:
        assert store.format == 1 and store.round_count() == 4
        pulses = list(store.pulse_rounds())
        assert [p["index"].size for p in pulses][0] == 36
        assert all(np.isfinite(p["reading"]).all() for p in pulses)
        state, devices = store.replay()
        assert state.rounds == 3 and len(devices) == 4
        assert store.pulse_counts(36).sum() == sum(p["index"].size for p in pulses[1:])
    crossbar, cells, _ = reopen_run(run)
    with crossbar:
        assert np.isfinite(crossbar.sim_true_conductance(cells)).all()
    exported = list(pulse_rounds(run))  # what export and the API read
    assert [t["g_read_S"].tobytes() for t in exported] == [p["reading"].tobytes()
                                                            for p in pulses]
    assert all(np.isfinite(t["g_true_S"]).all() for t in exported)
    with pytest.raises(ResumeError, match="store format 1") as refused:
        resume_run(run)
    assert "\n" not in str(refused.value)


def test_a_store_of_a_newer_format_is_refused_naming_it(tmp_path):
    with stored_run(tmp_path) as store:
        store.set_meta(format=FORMAT + 1)
    with pytest.raises(ResumeError, match=f"store format {FORMAT + 1} is newer"):
        RunStore(tmp_path / "store.sqlite")


def test_a_run_killed_between_a_checkpoint_and_its_round_resumes_exactly(tmp_path):
    """The checkpoint of a round is written first; one whose round never got stored is not the
    run's, and the round is computed again."""
    from hilctl.protocols import Subscriber

    class StopAtZero(Subscriber):
        def round(self, record):
            raise KeyboardInterrupt

    config = build_config({"array": {"rows": 8, "cols": 8, "seed": 5, "preset": "hfox-1r"}})
    targets = targets_for(Job(config))
    whole = new_run(Job(config), tmp_path / "whole", targets).result
    with pytest.raises(KeyboardInterrupt):
        new_run(Job(config), tmp_path / "cut", targets, progress=StopAtZero())
    with RunStore(tmp_path / "cut" / STORE_NAME) as store:
        store._db.execute("DELETE FROM rounds")  # killed after checkpoint 0, before round 0
        assert store.last_checkpoint() is None
    resumed = resume_run(tmp_path / "cut").result
    assert np.array_equal(resumed.true_final, whole.true_final)
    assert np.array_equal(resumed.pulses, whole.pulses)
