"""hilctl's Python API; ``import hilctl`` reaches every name here (see ``help(hilctl)``)."""

from hilctl.drivers import ConfigError, DataError, HilctlError

from .backends import Array, open_array
from .runs import Run, load_run, program
from .workflows import characterize, compare, infer, train, train_predictor

__all__ = ["Array", "ConfigError", "DataError", "HilctlError", "Run", "characterize", "compare",
           "infer", "load_run", "open_array", "program", "train", "train_predictor"]
