"""The device book from the command line: made by a run, refused for another array, inspected."""

import json

import numpy as np
import pytest

from hilctl.drivers import DataError
from hilctl.run.device_book import Beliefs, DeviceBook
from tests.e2e.cli import assert_one_line_error, run_hilctl, run_json
from tests.hilctl.book_holder import holding_book

RUN = '[array]\npreset = "hfox-1r"\nrows = 6\ncols = 5\n'


@pytest.mark.slow
def test_a_run_makes_the_book_and_another_array_is_refused(tmp_path):
    (tmp_path / "run.toml").write_text(RUN)
    summary = run_json("program", "--config", "run.toml", "--device-book", "a.book",
                       "--out", "r1", "--quiet", cwd=tmp_path)
    # write-verify plans by itself: nothing per device to learn, the book stays as it was
    assert summary["device_book_updated"] is False and (tmp_path / "a.book").is_file()
    done = run_hilctl("program", "--config", "run.toml", "--seed", 1, "--device-book",
                      "a.book", "--out", "r2", "--quiet", cwd=tmp_path)
    assert_one_line_error(done, "a.book", "another array", "seed 0", "seed 1")
    (tmp_path / "b.book").write_bytes(b"SQLite format 3\x00" + b"\x01" * 300)
    done = run_hilctl("program", "--config", "run.toml", "--device-book", "b.book",
                      "--out", "r3", "--quiet", cwd=tmp_path)
    assert_one_line_error(done, "b.book", "device book")


def test_show_export_and_forget(tmp_path):
    identity = {"kind": "simulated", "preset": "hfox-1r", "device": {},
                "empirical_table": None, "seed": 0, "shape": [3, 4]}
    with DeviceBook(tmp_path / "a.book", identity) as book:
        book.absorb("r", np.arange(6), Beliefs(np.full((2, 6), 0.25), np.full((2, 6), 4.0)),
                    np.ones((2, 6), np.int64), ["width", "width"])
    shown = run_json("book", "show", "a.book", cwd=tmp_path)
    assert shown["set"]["devices"] == 6 and shown["set"]["shift_median"] == 0.25
    assert shown["runs"] == 1
    done = run_hilctl("book", "export", "a.book", "--csv", "a.csv", "--png", "a.png",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0] == "row,col,polarity,shift,information,pulses,updated_s"
    assert len(lines) == 1 + 2 * 12 and lines[1].startswith("0,0,RESET,0.25,4.0,1,")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert_one_line_error(run_hilctl("book", "forget", "a.book", "--cell", "3,0",
                                     cwd=tmp_path), "outside", "3x4")
    assert run_hilctl("book", "forget", "a.book", "--cell", "0,1", cwd=tmp_path).returncode == 0
    assert json.loads(run_hilctl("book", "show", "a.book", "--json",
                                 cwd=tmp_path).stdout)["set"]["devices"] == 5


def test_characterize_into_a_book_needs_its_count_and_a_predictor(tmp_path):
    done = run_hilctl("characterize", "--device-book", "a.book", "--out", "t.csv",
                      cwd=tmp_path)
    assert_one_line_error(done, "--pulses-per-cell")
    done = run_hilctl("characterize", "--device-book", "a.book", "--pulses-per-cell", 2,
                      "--preset", "hfox-1r", "--rows", 4, "--cols", 4, "--out", "t.csv",
                      cwd=tmp_path)
    assert_one_line_error(done, "predictor")


def test_a_book_in_use_refuses_the_run_before_its_directory_is_made(tmp_path):
    (tmp_path / "run.toml").write_text(RUN)
    with holding_book(tmp_path / "a.book"):
        done = run_hilctl("program", "--config", "run.toml", "--device-book", "a.book",
                          "--out", "r1", "--quiet", cwd=tmp_path)
    assert_one_line_error(done, "a.book", "another hilctl process is using")
    assert not (tmp_path / "r1").exists()


def test_fresh_reads_tell_the_book_when_each_device_was_seen(tmp_path):
    from hilctl.run.fresh_reads import read_again

    (tmp_path / "run.toml").write_text(RUN)
    summary = run_json("program", "--config", "run.toml", "--device-book", "a.book",
                       "--out", "r1", "--quiet", cwd=tmp_path)
    assert summary["device_book_pulses_counted"] is True  # write-verify: pulses, no looks
    with DeviceBook(tmp_path / "a.book") as book:
        before = book.arrays()
    conductance, booked = read_again(tmp_path / "r1", device_book=tmp_path / "a.book")
    assert booked["device_book_reads"] == 30
    with DeviceBook(tmp_path / "a.book") as book:
        after = book.arrays()
    np.testing.assert_array_equal(after["g_read_S"][0], conductance.ravel())
    assert np.isfinite(after["read_s"]).all() and np.isnan(before["read_s"]).all()
    for name in ("shift", "information", "pulses", "updated_s"):
        np.testing.assert_array_equal(after[name], before[name])
    done = run_hilctl("infer", "--run", "r1", "--device-book", "a.book", cwd=tmp_path)
    assert_one_line_error(done, "--device-book a.book: needs fresh reads")
    (tmp_path / "other.toml").write_text(RUN.replace("cols = 5", "cols = 5\nseed = 9"))
    run_json("program", "--config", "other.toml", "--out", "r2", "--quiet", cwd=tmp_path)
    with pytest.raises(DataError, match="another array"):
        read_again(tmp_path / "r2", device_book=tmp_path / "a.book")
