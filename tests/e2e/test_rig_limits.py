"""One set of limits in force on a rig, and configs that would load code or touch files are
refused before anything is opened: as a lab would run ``hilctl emulate`` and ``program``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hilctl.run.store import RunStore
from tests.e2e.cli import assert_one_line_error, emulator, run_hilctl


@pytest.fixture
def emulated(tmp_path):
    """The ``rig.toml`` of ``hilctl emulate --write-config`` running in another process (1R
    cells: the limits checked are the amplitude ramp's)."""
    with emulator(tmp_path, "--rows", "8", "--cols", "8", "--preset", "hfox-1r"):
        yield tmp_path / "rig.toml"


def stored_amplitudes(run_dir) -> dict[str, np.ndarray]:
    """Every pulse amplitude the run store recorded, by polarity word."""
    with RunStore(run_dir / "store.sqlite") as store:
        rounds = list(store.pulse_rounds())
    pulses = [r for r in rounds if "amplitude" in r]
    polarity = np.concatenate([r["polarity"] for r in pulses])
    amplitude = np.concatenate([r["amplitude"] for r in pulses]).astype(float)
    return {"SET": amplitude[polarity > 0], "RESET": amplitude[polarity < 0]}


def lower_top_level_maxima(config_file, volts: float, extra: str = "") -> None:
    """``emulate``'s config with the two top-level maxima at ``volts`` (``[rig.limits]`` kept)."""
    original = config_file.with_suffix(".orig")
    if not original.exists():
        original.write_text(config_file.read_text())
    top, rig = original.read_text().split("[rig", 1)
    top = re.sub(r"(?m)^(set_max_V|reset_max_V) = .*$", rf"\1 = {volts}", top)
    config_file.write_text(top + extra + "[rig" + rig + "\n[rig.timeouts]\nmargin_s = 0.5\n")


def test_a_lowered_top_level_maximum_is_in_force_on_the_rig(emulated):
    lower_top_level_maxima(emulated, 1.0)
    refused = run_hilctl("program", "--config", "rig.toml", "--out", "run", cwd=emulated.parent)
    assert "ispp.set_max_V = 2 V is outside (0, 1] V" in refused.stderr
    assert "[limits] is stricter than [rig.limits]" in refused.stderr
    assert not (emulated.parent / "run").exists()

    ispp = "[protocol.ispp]\nset_max_V = 1.5\nreset_max_V = 1.5\n\n"
    lower_top_level_maxima(emulated, 1.5, ispp)
    done = run_hilctl("program", "--config", "rig.toml", "--out", "run", "--quiet",
                      cwd=emulated.parent)
    assert done.returncode in (0, 3), done.stderr
    amplitudes = stored_amplitudes(emulated.parent / "run")
    assert amplitudes["SET"].size and amplitudes["RESET"].size
    assert amplitudes["SET"].max() <= 1.5 + 1e-6
    assert amplitudes["RESET"].max() <= 1.5 + 1e-6


@pytest.mark.parametrize("table, words", [
    ('[rig.smu]\nmodel = "2600"\nresource = "TCPIP0::127.0.0.1::1::SOCKET"\nmodle = 1\n'
     '[rig.board]\nurl = "socket://127.0.0.1:1"\n', ["rig.smu.modle: unknown key"]),
    ('[rig.smu]\nmodel = "2600"\nresource = "TCPIP0::127.0.0.1::1::SOCKET"\n'
     'visa_library = "/tmp/evil.so"\n[rig.board]\nurl = "socket://127.0.0.1:1"\n',
     ["rig.smu.visa_library", "--visa-library"]),
    ('[rig.smu]\nmodel = "2600"\nresource = "TCPIP0::127.0.0.1::1::SOCKET"\n'
     '[rig.board]\nurl = "spy://127.0.0.1:1?file=victim"\n', ["rig.board.url", "socket://"]),
    ('[rig.smu]\nmodel = "2600"\nresource = "TCPIP0::127.0.0.1::1::SOCKET"\n'
     '[rig.board]\nurl = "loop://?logging=debug"\n', ["rig.board.url"]),
])
def test_a_bad_rig_table_is_one_line_before_anything_is_opened(tmp_path, table, words):
    (tmp_path / "victim").write_text("keep me")
    (tmp_path / "rig.toml").write_text(table)
    for command in (["program", "--out", "run"], ["instruments", "check"]):
        done = run_hilctl(*command, "--config", "rig.toml", cwd=tmp_path)
        assert_one_line_error(done, *words)
    assert (tmp_path / "victim").read_text() == "keep me"
    assert not (tmp_path / "run").exists()
