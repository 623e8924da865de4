"""One exception tree for everything hilctl raises on purpose.

Each error also inherits the builtin it refines, so callers that know nothing of hilctl
(``except ValueError``) still catch it. The CLI turns any ``HilctlError`` into one line and a
non-zero exit; anything else is a bug and keeps its traceback.
"""


class HilctlError(Exception):
    """Base of every error hilctl raises deliberately."""

    exit_code = 1


class ConfigError(HilctlError, ValueError):
    """A configuration file, flag or value is wrong; the message names the key."""

    exit_code = 2


class DataError(HilctlError, ValueError):
    """An input file (targets, weights, tables, run directories) is unusable."""

    exit_code = 3


class SafetyLimitError(HilctlError, ValueError):
    """A request would exceed a safety limit; raised before anything touches a device."""

    exit_code = 4


class InstrumentError(HilctlError, RuntimeError):
    """An instrument answered with an error, garbage, or not at all."""

    exit_code = 5


class InstrumentTimeout(InstrumentError, TimeoutError):
    """An instrument did not answer within the time the operation should take."""


class ResumeError(HilctlError, ValueError):
    """A run directory cannot be resumed (not a run, or made with another configuration)."""

    exit_code = 6
