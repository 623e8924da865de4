"""Shared test set-up: the repository root on sys.path, so tests run from a checkout too."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def pytest_addoption(parser):
    parser.addoption("--device-address", default=None,
                     help="VISA resource of a physical SMU (2600 or 2400); tests that need one "
                          "are skipped without it")
