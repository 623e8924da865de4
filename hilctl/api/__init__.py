"""hilctl's Python API; ``import hilctl`` reaches every name here (see ``help(hilctl)``)."""

from hilctl.drivers import ConfigError, DataError, HilctlError

from .backends import Array, open_array
from .characterization import characterize, train_predictor
from .comparison import compare
from .inference import infer
from .networks import train
from .runs import Run, load_run, program

__all__ = ["Array", "ConfigError", "DataError", "HilctlError", "Run", "characterize", "compare",
           "infer", "load_run", "open_array", "program", "train", "train_predictor"]
