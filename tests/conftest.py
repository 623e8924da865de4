"""Shared test set-up: the repository root on sys.path, so tests run from a checkout too."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
