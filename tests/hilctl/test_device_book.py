"""The device book: a per-array store of what each device showed, kept across runs."""

import sqlite3

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.drivers import DataError, ResumeError
from hilctl.run.device_book import FORMAT_VERSION, Beliefs, DeviceBook, Discount
from tests.hilctl.book_holder import holding_book

SHAPE = [4, 8]
IDENTITY = {"kind": "simulated", "preset": "hfox-1r", "device": {}, "empirical_table": None,
            "seed": 3, "shape": SHAPE}
KNOBS = ["width", "width"]
EVEN = np.arange(0, 32, 2)  # the devices a first run programmed


def looks(seed: int, m: int) -> tuple[Beliefs, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (Beliefs(rng.normal(0, 0.5, (2, m)), rng.uniform(1, 9, (2, m))),
            rng.integers(1, 5, (2, m)))


def filled(path, run="run-a", flat=EVEN, now_s=1000.0):
    beliefs, pulses = looks(0, flat.size)
    with DeviceBook(path, IDENTITY) as book:
        assert book.absorb(run, flat, beliefs, pulses, KNOBS, now_s=now_s)
    return flat, beliefs, pulses


def test_a_book_gives_back_what_a_run_left_in_it(tmp_path):
    flat, beliefs, pulses = filled(tmp_path / "b.sqlite")
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        prior = book.prior(np.arange(32), Discount(), now_s=2000.0)
        arrays = book.arrays()
    np.testing.assert_array_equal(prior.shift[:, flat], beliefs.shift)
    np.testing.assert_array_equal(prior.information[:, flat], beliefs.information)
    untouched = np.setdiff1d(np.arange(32), flat)
    assert not prior.information[:, untouched].any() and not prior.shift[:, untouched].any()
    assert (prior.keep[:, flat] == 1).all() and not prior.keep[:, untouched].any()
    np.testing.assert_array_equal(arrays["pulses"][:, flat], pulses)
    assert (arrays["updated_s"][:, flat] == 1000.0).all()
    assert np.isnan(arrays["updated_s"][:, untouched]).all()


def test_later_runs_replace_the_looks_and_add_their_pulses_once(tmp_path):
    flat, _, pulses = filled(tmp_path / "b.sqlite")
    newer, more = looks(1, flat.size)
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        assert book.absorb("run-b", flat, newer, more, KNOBS)
        assert not book.absorb("run-b", flat, newer, more, KNOBS)  # already absorbed
        arrays = book.arrays()
    np.testing.assert_array_equal(arrays["shift"][:, flat], newer.shift)
    np.testing.assert_array_equal(arrays["pulses"][:, flat], pulses + more)


def test_old_looks_count_for_less(tmp_path):
    flat, beliefs, _ = filled(tmp_path / "b.sqlite", now_s=0.0)
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        aged = book.prior(flat, Discount(keep_per_run=0.8, half_life_s=3600.0), now_s=7200.0)
    np.testing.assert_allclose(aged.keep, 0.8 * 0.25)
    np.testing.assert_array_equal(aged.shift, beliefs.shift)
    np.testing.assert_array_equal(aged.information, beliefs.information)


def test_looks_age_by_the_pulses_their_devices_received_since(tmp_path):
    flat, beliefs, pulses = filled(tmp_path / "b.sqlite")
    cycled = flat[:4]
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        # A run whose planner learns nothing (write-verify) only counts its pulses: 3 + 5.
        assert book.absorb("run-wv", cycled, None, np.array([[3] * 4, [5] * 4]), None)
        aged = book.prior(flat, Discount(half_life_pulses=4.0))
        arrays = book.arrays()
    np.testing.assert_allclose(aged.keep[:, :4], 0.25)  # 8 pulses: two half-lives
    np.testing.assert_allclose(aged.keep[:, 4:], 1.0)
    np.testing.assert_array_equal(arrays["shift"][:, flat], beliefs.shift)  # looks unchanged
    np.testing.assert_array_equal(arrays["pulses"][:, cycled], pulses[:, :4] + [[3], [5]])
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:  # a new look is young again
        book.absorb("run-c", cycled, beliefs_of(4), np.ones((2, 4), np.int64), KNOBS)
        np.testing.assert_allclose(book.prior(cycled, Discount(half_life_pulses=4.0)).keep, 1.0)


def beliefs_of(m: int) -> Beliefs:
    return looks(2, m)[0]


def test_a_format_1_book_reads_with_no_pulse_since_its_looks(tmp_path):
    flat, beliefs, _ = filled(tmp_path / "b.sqlite")
    with sqlite3.connect(tmp_path / "b.sqlite") as db:
        db.execute("DELETE FROM arrays WHERE name IN ('looked_pulses', 'read_s', 'g_read_S')")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'format_version'")
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        prior = book.prior(flat, Discount(half_life_pulses=1.0))
        arrays = book.arrays()
    np.testing.assert_allclose(prior.keep, 1.0)
    np.testing.assert_array_equal(prior.shift, beliefs.shift)
    assert np.isnan(arrays["read_s"]).all()


def test_fresh_reads_keep_when_each_device_was_seen_and_leave_its_looks(tmp_path):
    flat, beliefs, _ = filled(tmp_path / "b.sqlite", now_s=1000.0)
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        book.saw_reads(flat, np.full(flat.size, 42e-6), now_s=5000.0)
        arrays = book.arrays()
        prior = book.prior(flat, Discount(half_life_s=1000.0), now_s=5000.0)
    assert (arrays["read_s"][0, flat] == 5000.0).all()
    assert (arrays["g_read_S"][0, flat] == 42e-6).all()
    assert (arrays["updated_s"][:, flat] == 1000.0).all()  # the looks are as old as they were
    np.testing.assert_allclose(prior.keep, 0.5 ** 4)
    np.testing.assert_array_equal(prior.shift, beliefs.shift)


def test_the_book_of_another_array_is_refused(tmp_path):
    filled(tmp_path / "b.sqlite")
    for other in ({**IDENTITY, "seed": 4}, {**IDENTITY, "shape": [8, 4]},
                  {**IDENTITY, "preset": "hfox-1t1r"}):
        with pytest.raises(DataError, match="another array"):
            DeviceBook(tmp_path / "b.sqlite", other)


def test_looks_of_another_knob_are_refused(tmp_path):
    flat, beliefs, pulses = filled(tmp_path / "b.sqlite")
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        with pytest.raises(DataError, match="width/width"):
            book.absorb("run-b", flat, beliefs, pulses, ["amplitude", "gate"])


def test_a_book_from_a_newer_hilctl_is_refused(tmp_path):
    filled(tmp_path / "b.sqlite")
    with sqlite3.connect(tmp_path / "b.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'format_version'",
                   (str(FORMAT_VERSION + 1),))
    with pytest.raises(DataError, match="newer hilctl"):
        DeviceBook(tmp_path / "b.sqlite", IDENTITY)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "changed bytes", "meta"])
def test_a_damaged_book_is_one_clear_error(tmp_path, damage):
    path = tmp_path / "b.sqlite"
    filled(path)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    elif damage == "truncated":
        path.write_bytes(data[:len(data) // 3])
    elif damage == "meta":
        with sqlite3.connect(path) as db:
            db.execute("UPDATE meta SET value = '{' WHERE key = 'identity'")
    else:
        with sqlite3.connect(path) as db:
            blob = bytearray(db.execute("SELECT data FROM arrays WHERE name = 'shift'")
                             .fetchone()[0])
            blob[-1] ^= 0xFF
            db.execute("UPDATE arrays SET data = ? WHERE name = 'shift'", (bytes(blob),))
    with pytest.raises(DataError, match="b.sqlite"):
        with DeviceBook(path, IDENTITY) as book:
            book.prior(np.arange(32), Discount())


def test_a_second_user_of_a_book_is_refused_while_the_first_holds_it(tmp_path):
    filled(tmp_path / "b.sqlite")
    with holding_book(tmp_path / "b.sqlite"):
        with pytest.raises(ResumeError, match="another hilctl process is using"):
            DeviceBook(tmp_path / "b.sqlite", IDENTITY)
    DeviceBook(tmp_path / "b.sqlite", IDENTITY).close()  # free again once released




def test_a_failed_update_leaves_the_book_as_it_was(tmp_path):
    flat, beliefs, pulses = filled(tmp_path / "b.sqlite")
    newer, more = looks(1, flat.size)
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        with pytest.raises(IndexError):
            book.absorb("run-b", np.arange(40, 40 + flat.size), newer, more, KNOBS)
        assert not book.absorbed("run-b")
        np.testing.assert_array_equal(book.arrays()["shift"][:, flat], beliefs.shift)


def test_forget_drops_what_the_book_knew(tmp_path):
    flat, _, _ = filled(tmp_path / "b.sqlite")
    with DeviceBook(tmp_path / "b.sqlite", IDENTITY) as book:
        book.forget(flat[:3])
        arrays = book.arrays()
    assert not arrays["information"][:, flat[:3]].any()
    assert arrays["information"][:, flat[3:]].all()


def test_a_rig_array_is_known_by_its_instruments_and_its_name(tmp_path):
    from hilctl.commands.instruments import run_config_toml
    from hilctl.config import build_config
    from hilctl.drivers import ConfigError
    from hilctl.drivers.toml_file import read_toml
    from hilctl.run.book_link import array_identity
    from hilctl.simulated_backend import DEFAULT_PRESET, preset
    from hilctl.simulated_backend.emulators import EmulatedRig

    with EmulatedRig((4, 4), seed=1, smu="2600", params=preset(DEFAULT_PRESET)) as rig:
        (tmp_path / "rig.toml").write_text(run_config_toml(rig, 1, DEFAULT_PRESET))
        data = read_toml(tmp_path / "rig.toml")
        unnamed = build_config(data)
        named = build_config({**data, "device_book": {"array_name": "chip 7"}})
        with Job(named).open_crossbar() as crossbar:
            with pytest.raises(ConfigError, match="array_name"):
                array_identity(unnamed, crossbar)
            identity = array_identity(named, crossbar)
    assert identity["kind"] == "rig" and identity["array"] == "chip 7"
    assert identity["shape"] == [4, 4] and identity["smu"] and identity["board"]


def test_an_empty_file_is_no_book_to_inspect(tmp_path):
    (tmp_path / "b.sqlite").write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        DeviceBook(tmp_path / "b.sqlite")
