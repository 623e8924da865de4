"""The README's "From Python" examples and the scripts in ``examples/`` run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
# The examples that train a network or a predictor with torch take longer than the others.
TRAINING = {"one_shot_predictor.py", "weights_to_inference.py"}


def readme_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## From Python"):text.index("## Programming an array")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def run_python(code: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr


def test_the_readme_blocks_import_only_hilctl_and_run_in_order(tmp_path):
    blocks = readme_blocks()
    assert len(blocks) == 3
    for block in blocks:
        imports = set(re.findall(r"^import (\w+)", block, re.M))
        assert imports <= {"hilctl", "numpy"}, imports
    run_python(blocks[0] + blocks[1], tmp_path)
    assert (tmp_path / "runs" / "py" / "pulses.csv").is_file()
    assert (tmp_path / "runs" / "py-copy" / "result.json").is_file()


@pytest.mark.slow
def test_the_readme_block_that_trains_runs(tmp_path):
    run_python(readme_blocks()[2], tmp_path)


@pytest.mark.parametrize("script", [
    pytest.param(path, id=path.name,
                 marks=[pytest.mark.slow] if path.name in TRAINING else [])
    for path in EXAMPLES])
def test_each_example_runs(script, tmp_path):
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_the_examples_are_there():
    assert {path.name for path in EXAMPLES} >= TRAINING | {"write_verify.py",
                                                           "pulses_dataframe.py"}
