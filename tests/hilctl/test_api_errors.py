"""One mistake, two callers: a Python call's error names the parameter, the command line's the
flag; a setting from a TOML file keeps its key. Nothing is written in any case."""

from __future__ import annotations

import numpy as np
import pytest

import hilctl
from tests.e2e.cli import assert_one_line_error, run_hilctl

SIM = "sim://?rows=4&cols=4&seed=3&preset=hfox-1r"
FLAGS = ("program", "--rows", 4, "--cols", 4, "--config", "one_r.toml", "--out", "run")


@pytest.fixture
def lab(tmp_path):
    (tmp_path / "one_r.toml").write_text('[array]\npreset = "hfox-1r"\n')
    np.save(tmp_path / "flat.npy", np.full(16, 20e-6))
    np.save(tmp_path / "micro.npy", np.full((4, 4), 20.0))
    return tmp_path


# (Python call, words of its error, command line, words of its error)
CASES = {
    "tolerance not a number": (
        lambda out: hilctl.program(SIM, "random", tolerance="5 percent", out=out),
        ["tolerance='5 percent'", "valid number"],
        [*FLAGS, "--tolerance", "5 percent"], ["--tolerance '5 percent'", "valid number"]),
    "tolerance a conductance": (
        lambda out: hilctl.program(SIM, "random", tolerance=5e-7, out=out),
        ["tolerance=5e-07", "did you mean 0.5uS?"],
        [*FLAGS, "--tolerance", "5e-7"], ["--tolerance 5e-7", "did you mean 0.5uS?"]),
    "tolerance a bad band": (
        lambda out: hilctl.program(SIM, "random", tolerance="0.5xS", out=out),
        ["tolerance='0.5xS'", "absolute band in siemens"],
        [*FLAGS, "--tolerance", "0.5xS"], ["--tolerance 0.5xS", "absolute band in siemens"]),
    "unknown protocol": (
        lambda out: hilctl.program(SIM, "random", protocol="write-verfy", out=out),
        ["protocol='write-verfy'", "known protocols: write-verify"],
        [*FLAGS, "--protocol", "write-verfy"], ["--protocol write-verfy", "known protocols"]),
    "unknown compared protocol": (
        lambda out: hilctl.compare(SIM, ("one-shot", "write-verfy"), out=out),
        ["protocols='one-shot,write-verfy'", "write-verfy unknown"],
        ["compare", "--rows", 4, "--cols", 4, "--protocols", "one-shot,write-verfy", "--out",
         "run"], ["--protocols one-shot,write-verfy", "write-verfy unknown"]),
    "unknown preset": (
        lambda out: hilctl.train(out, preset="hfox-2r"),
        ["preset='hfox-2r'", "known presets"],
        ["train", "--preset", "hfox-2r", "--out", "run"], ["--preset hfox-2r", "known presets"]),
    "targets in microsiemens": (
        lambda out: hilctl.program(SIM, np.full((4, 4), 20.0), out=out),
        ["targets", "look like microsiemens"],
        [*FLAGS, "--targets", "micro.npy"], ["micro.npy", "look like microsiemens"]),
    "targets of the wrong shape": (
        lambda out: hilctl.program(SIM, np.full(16, 20e-6), out=out),
        ["targets have shape (16,)", "targets.reshape(4, 4)"],
        [*FLAGS, "--targets", "flat.npy"], ["flat.npy", "shape (16,)"]),
    "a negative relaxation time": (
        lambda out: hilctl.infer(out, fresh_reads=True, relax=-5.0),
        ["relax=-5.0", "positive time in seconds"],
        ["infer", "--run", "run", "--fresh-reads", "--relax=-5s"],
        ["--relax -5.0", "positive time in seconds"]),
    "relax without fresh reads": (
        lambda out: hilctl.infer(out, relax=10.0),
        ["relax=10.0", "fresh reads"],
        ["infer", "--run", "run", "--relax", "10s"], ["--relax 10.0", "fresh reads"]),
}


@pytest.mark.parametrize("case", CASES)
def test_python_names_the_parameter_and_the_cli_the_flag(lab, case):
    call, python_words, command, cli_words = CASES[case]
    with pytest.raises(hilctl.HilctlError) as caught:
        call(lab / "run")
    message = str(caught.value)
    assert all(word in message for word in python_words), message
    assert "--" not in message and "command line" not in message
    done = run_hilctl(*command, cwd=lab)
    assert_one_line_error(done, *cli_words)
    assert not (lab / "run").exists()


def test_an_unknown_scheme_names_the_known_ones_in_python_and_on_the_command_line(lab):
    with pytest.raises(hilctl.ConfigError, match="unknown array scheme 'visa'.*sim://"):
        hilctl.open_array("visa://TCPIP0::127.0.0.1::5025::SOCKET")
    (lab / "rig.toml").write_text('[rig.smu]\nmodel = "2600"\nresource = "TCPIP0::x::SOCKET"\n'
                                  '[rig.board]\nurl = "spy:///dev/ttyACM0"\n')
    with pytest.raises(hilctl.ConfigError, match=r"rig.board.url = .*socket://host:port"):
        hilctl.open_array(lab / "rig.toml")
    done = run_hilctl("program", "--config", "rig.toml", "--out", "run", cwd=lab)
    assert_one_line_error(done, "rig.board.url", "socket://host:port")


def test_a_bad_value_from_a_toml_file_keeps_its_key(lab):
    (lab / "bad.toml").write_text('[array]\npreset = "hfox-1r"\n[protocol]\ntolerance = -0.1\n')
    with pytest.raises(hilctl.ConfigError, match="protocol.tolerance = -0.1") as caught:
        hilctl.program(lab / "bad.toml", "random", out=lab / "run")
    assert "tolerance=" not in str(caught.value)
    done = run_hilctl("program", "--config", "bad.toml", "--out", "run", cwd=lab)
    assert_one_line_error(done, "protocol.tolerance = -0.1", "greater than 0")
    assert "--tolerance" not in done.stderr and not (lab / "run").exists()
