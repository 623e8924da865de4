"""A run directory's own copies of every file its configuration names, so it travels.

The preset file, a measured table, the predictor, a target or level map, a bounds file: each is
copied under ``inputs/`` of the run directory before the run starts, and the configuration the
run uses (and stores in ``config.toml``, relative to the directory) names the copies. A copied
run directory therefore resumes and loads anywhere, and a colleague reproduces it from the
directory alone. A weights run's model is already copied to ``model/`` by the weights job.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hilctl.drivers import ConfigError
from hilctl.drivers.atomic_file import refuse_links, write_atomic

from ..config import PATH_KEYS, RunConfig, names_file

INPUTS_DIR = "inputs"
MODEL_DIR = "model"


def copy_inputs(config: RunConfig, run_dir: Path) -> RunConfig:
    """Copy the files ``config`` names into ``run_dir/inputs`` and return the configuration
    that names the copies; ``remove_inputs`` takes them back if the run then never starts.
    A directory that already holds a run is left as it is (the runner refuses it)."""
    run_dir = Path(run_dir).resolve()
    refuse_links(run_dir)
    if (run_dir / "store.sqlite").exists():
        return config
    changed: dict[str, dict[str, str]] = {}
    for table, key in PATH_KEYS:
        value = getattr(getattr(config, table), key)
        if not names_file(table, key, value):
            continue
        if table == "weights":
            copy = run_dir / MODEL_DIR
        else:
            copy = run_dir / INPUTS_DIR / f"{table}.{key}" / Path(value).name
            _copy(Path(value), copy, f"{table}.{key}")
        changed.setdefault(table, {})[key] = str(copy)
    return config.model_copy(update={table: getattr(config, table).model_copy(update=keys)
                                     for table, keys in changed.items()})


def _copy(source: Path, copy: Path, setting: str) -> None:
    if source.is_dir():
        refuse_links(source)
        files = [path for path in sorted(source.rglob("*")) if path.is_file()]
    elif source.is_file():
        files = [source]
    else:
        raise ConfigError(f"{setting} = {str(source)!r}: no such file or directory")
    for path in files:
        target = copy / path.relative_to(source) if source.is_dir() else copy
        write_atomic(target, path.read_bytes())


def remove_inputs(run_dir: Path) -> None:
    """Take back the copies of a run that never started (it has no store)."""
    run_dir = Path(run_dir)
    if not (run_dir / "store.sqlite").exists():
        shutil.rmtree(run_dir / INPUTS_DIR, ignore_errors=True)
