"""A tolerance reads the same everywhere: ``5%`` is 0.05, and a relative band too small to be
one (a conductance typed without its unit) is refused before any work, naming the likely
mistake."""

from __future__ import annotations

import pytest

from hilctl.config import build_config
from hilctl.drivers import ConfigError
from tests.e2e.cli import assert_one_line_error, run_hilctl


@pytest.mark.parametrize("given, relative", [("5%", 0.05), (" 2.5 %", 0.025), (0.05, 0.05),
                                             ("0.05", 0.05)])
def test_a_percentage_is_a_fraction_in_a_config(given, relative):
    assert build_config({"protocol": {"tolerance": given}}).protocol.tolerance == relative


@pytest.mark.parametrize("command", [
    ["program", "--rows", 4, "--cols", 4, "--out", "run"],
    ["compare", "--rows", 4, "--cols", 4, "--protocols", "write-verify"],
    ["demo", "--out", "run"],
])
def test_a_conductance_given_as_a_relative_band_is_refused_before_any_work(tmp_path, command):
    done = run_hilctl(*command, "--tolerance", "5e-7", cwd=tmp_path)
    assert_one_line_error(done, "tolerance", "did you mean 0.5uS?")
    assert not (tmp_path / "run").exists()


def test_the_same_mistake_in_a_toml_file_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"protocol.tolerance = 5e-07: .*did you mean 0.5uS\?"):
        build_config({"protocol": {"tolerance": 5e-7}})
    (tmp_path / "run.toml").write_text('[protocol]\ntolerance = "5%"\n[array]\nrows = 4\n'
                                       'cols = 4\n')
    done = run_hilctl("program", "--config", "run.toml", "--out", "run", "--quiet", cwd=tmp_path)
    assert done.returncode in (0, 3), done.stderr
