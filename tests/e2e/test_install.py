"""A plain, non-editable install ships one top-level package, ``hilctl``, and its console script."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.e2e.cli import REPO

PACKAGES = ("hilctl.drivers", "hilctl.simulated_backend", "hilctl.protocols", "hilctl")
FOREIGN = ("drivers", "protocols", "simulated_backend")


@pytest.mark.slow
def test_wheel_install_ships_every_package_and_the_console_script(tmp_path):
    # Build from a copy, so the build leaves nothing behind in the checkout.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", "runs"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("hilctl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for package in PACKAGES:
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"hilctl"}

    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    script = target / "bin" / "hilctl"
    assert script.is_file()
    env = {**os.environ, "PYTHONPATH": str(target)}
    # A lab's own folders of the same generic names beside the user's scripts never shadow ours.
    outside = tmp_path / "elsewhere"
    for name in FOREIGN:
        (outside / name).mkdir(parents=True)
        (outside / name / "__init__.py").write_text('"""my lab scripts"""\nMINE = True\n')
    where = subprocess.run(
        [sys.executable, "-c", "import " + ", ".join(PACKAGES) + "; print(hilctl.__file__)"],
        cwd=outside, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(target))
    mine = subprocess.run([sys.executable, "-c", "import drivers, protocols; print(drivers.MINE)"],
                          cwd=outside, env=env, capture_output=True, text=True)
    assert mine.stdout.strip() == "True", mine.stderr
    done = subprocess.run([sys.executable, str(script), "program", "--rows", "4", "--cols", "4",
                           "--out", "run", "--quiet", "--json"], cwd=outside, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (outside / "run" / "result.json").is_file()
