"""hilctl: hardware-in-the-loop programming of memristor (RRAM) crossbar arrays.

From Python (the same runs ``hilctl program`` makes; every name below has its own help)::

    import hilctl
    array = hilctl.open_array("sim://?rows=32&cols=32&seed=7&preset=hfox-1r")  # or "rig.toml"
    run = hilctl.program(array, targets, tolerance="5%", out="runs/a")  # targets: S, (32, 32)
    run.conductance          # last verify read per cell (S), shaped like the array
    run.true_conductance     # the devices' noise-free conductance (simulator only)
    run.summary()            # the result.json fields
    run.pulses()             # every pulse and read: a pandas DataFrame (dict without pandas)
    run.export("pulses.csv") # the same, streamed to CSV or HDF5 (format="hdf5", needs h5py)
    hilctl.load_run("runs/a").resume()   # a stored run, from any directory

open_array(url_or_toml)
    An ``Array``: ``sim://?rows=&cols=&seed=&preset=`` or a TOML configuration (``[rig]``).
program(array, targets, protocol=, tolerance=, predictor=, weights=, out=, settings=, ...)
    Program and store a run; returns a ``Run`` (``out=None``: a temporary directory).
load_run(path)
    The ``Run`` stored in a run directory.
characterize(array, pulses, out=, run_dir=, **draw)
    Pulses into a pulse-response table, as a stored run (``hilctl characterize``).
train_predictor(table, out, knob=, fixed=, epochs=)
    The neural pulse predictor trained on a table (``hilctl predictor train``).
compare(array, protocols, tolerance=, predictor=, oracle=, lookup=, out=)
    Protocols on identical simulated arrays against the oracle (``hilctl compare``).
train(out, dataset=, mode=, hidden=, epochs=, ...)
    A network for a crossbar, saved for ``program(weights=...)`` (``hilctl train``).
infer(run, dataset=, defects=, fresh_reads=, cost=, ...)
    Accuracy with the conductances a weights run measured (``hilctl infer``).
HilctlError, ConfigError, DataError
    What hilctl raises for a user's mistake or an instrument's fault; a mistake in a call
    names the parameter (``tolerance=5e-07: ...``), as the command line names the flag.

Nothing is imported until first used, so ``import hilctl.drivers`` never pulls in the app.
"""

import importlib as _importlib

__version__ = "0.1.0"

__all__ = ["Array", "ConfigError", "DataError", "HilctlError", "Run", "characterize", "compare",
           "infer", "load_run", "open_array", "program", "train", "train_predictor"]


def __getattr__(name: str):
    """The API's names, imported from ``hilctl.api`` on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'hilctl' has no attribute {name!r}")
    value = getattr(_importlib.import_module("hilctl.api"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
