"""A command starts without the libraries it does not use: help never loads numpy, a run of
the default protocol never loads torch, matplotlib, scipy or scikit-learn, and the error map
is optional."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hilctl.cli import COMMANDS

from .cli import hilctl_env

HEAVY = ("torch", "matplotlib", "scipy", "sklearn", "pandas", "h5py")
# Each command's --help, run in-process in a fresh interpreter, then what it left imported.
PROBE = """
import json, sys
from hilctl.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
# Commands whose --help still names a constant of a module that needs numpy.
HELP_LOADS_NUMPY = {"compare", "predictor", "data"}


def imported(*args, cwd) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=cwd,
                          env=hilctl_env(), capture_output=True, text=True, timeout=300)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return {name.split(".")[0] for name in report["modules"]}


def test_the_top_level_help_loads_neither_numpy_nor_pydantic(tmp_path):
    loaded = imported("--help", cwd=tmp_path)
    assert not loaded & {"numpy", "pydantic", *HEAVY}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_help_loads_no_heavy_library(command, tmp_path):
    loaded = imported(command, "--help", cwd=tmp_path)
    assert not loaded & set(HEAVY)
    if command not in HELP_LOADS_NUMPY:
        assert "numpy" not in loaded


def test_programming_with_the_default_protocol_loads_no_heavy_library(tmp_path):
    loaded = imported("program", "--rows", 8, "--cols", 8, "--quiet", "--out", "run",
                      cwd=tmp_path)
    assert not loaded & set(HEAVY)
    assert (tmp_path / "run" / "error_map.png").is_file()


def test_no_plots_writes_the_numbers_without_the_map(tmp_path):
    imported("program", "--rows", 8, "--cols", 8, "--quiet", "--no-plots", "--out", "run",
             cwd=tmp_path)
    run = tmp_path / "run"
    assert (run / "result.json").is_file() and (run / "conductance.npy").is_file()
    assert not (run / "error_map.png").exists()


def test_plots_off_in_toml_and_a_resume_with_plots_is_the_same_run(tmp_path):
    (tmp_path / "rig.toml").write_text("[array]\nrows = 8\ncols = 8\n[output]\nplots = false\n")
    imported("program", "--config", "rig.toml", "--quiet", "--out", "run", cwd=tmp_path)
    assert not (tmp_path / "run" / "error_map.png").exists()
    # [output] changes only the figures, so a finished run resumes (nothing left to do) with
    # plots on instead of being refused as another configuration
    imported("program", "--quiet", "--resume", "run", cwd=tmp_path)


def test_import_hilctl_and_its_drivers_stay_light():
    code = ("import sys, hilctl, hilctl.drivers; "
            "import json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], env=hilctl_env(), capture_output=True,
                          text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert not loaded & {"pydantic", "rich", *HEAVY}
