"""hilctl's Python API; ``import hilctl`` reaches every name here (see ``help(hilctl)``).

Each name is imported from its module on first use, so a command that needs one part of the
API (``hilctl program`` needs ``runs`` and ``backends``) does not import the others.
"""

import importlib as _importlib

_HOMES = {"Array": "backends", "open_array": "backends",
          "characterize": "characterization", "train_predictor": "characterization",
          "compare": "comparison", "infer": "inference", "train": "networks",
          "Run": "runs", "load_run": "runs", "program": "runs",
          "ConfigError": "hilctl.drivers", "DataError": "hilctl.drivers",
          "HilctlError": "hilctl.drivers"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'hilctl.api' has no attribute {name!r}")
    home = _HOMES[name]
    module = _importlib.import_module(home if "." in home else f"{__name__}.{home}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
