"""The ``hilctl`` command line: one group, one module per command under ``hilctl.commands``.

Commands are imported only when invoked, and each imports its heavy libraries when it runs:
``hilctl --help`` and ``hilctl <command> --help`` load neither numpy nor pydantic, and
``hilctl program`` never pays for torch or matplotlib.
Every ``HilctlError`` (a user's mistake or an instrument's fault) ends as one line on stderr
and a non-zero exit; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import signal
import sqlite3
import sys
import warnings

import click

# name -> (module, attribute, one-line help shown by ``hilctl --help``)
COMMANDS = {
    "program": ("hilctl.commands.program", "program",
                "Program an array (write-verify, one-shot) and store every round."),
    "export": ("hilctl.commands.export", "export",
               "Every pulse and read of a run as a CSV or HDF5 table."),
    "compare": ("hilctl.commands.compare", "compare",
                "One-shot vs write-verify vs planned write-verify, against the oracle."),
    "characterize": ("hilctl.commands.characterize", "characterize",
                     "Random pulses over many cells into a pulse-response table."),
    "predictor": ("hilctl.commands.predictor", "predictor",
                  "Train and evaluate the neural pulse predictor."),
    "train": ("hilctl.commands.train", "train",
              "Train a network for a crossbar (voltage or current mode)."),
    "infer": ("hilctl.commands.infer", "infer",
              "Inference with the conductances a run measured."),
    "demo": ("hilctl.commands.demo", "demo",
             "The whole story on the embedded array: train, program, infer."),
    "instruments": ("hilctl.commands.instruments", "instruments",
                    "List and check instruments of a rig."),
    "emulate": ("hilctl.commands.instruments", "emulate",
                "Start SMU and board emulators for trying the hardware path."),
    "data": ("hilctl.commands.data", "data", "Import a lab's measured pulse responses."),
    "device": ("hilctl.commands.device", "device",
               "Fit a device preset to data; compare a preset with measurements."),
    "book": ("hilctl.commands.book", "book",
             "Show, export or forget what a device book knows of an array's devices."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(name for name, (module, _, _) in COMMANDS.items() if _exists(module))

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _exists(COMMANDS[name][0]):
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


no_plots_option = click.option(
    "--no-plots", is_flag=True,
    help="Write no PNG figures, only the numbers ([output] plots = false in TOML).")


def output_flags(no_plots: bool) -> dict:
    """The ``[output]`` table's flags: ``--no-plots`` turns plots off, else the config rules."""
    return {"plots": False if no_plots else None}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hilctl")
def cli() -> None:
    """Program memristor crossbar arrays, simulated or real."""


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, each kind once per command (a run can repeat them every
    round)."""
    if category in _warned:
        return
    _warned.add(category)
    click.echo(f"hilctl: warning: {message} (further warnings of this kind are not shown)",
               err=True)


_warned: set[type] = set()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that every ``with`` block (the rig's
    outputs off at 0 V, the board disconnected, the run store closed) unwinds as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


def _stop_on_termination_signals() -> None:
    # Ctrl-C (SIGINT) interrupts even where hilctl was started with it ignored, as a shell
    # starts a script's background jobs: ``kill -INT`` must still stop a run or an emulator.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in ("SIGTERM", "SIGHUP"):  # SIGHUP does not exist on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_terminated)


_after_interrupt: list[str] = []


def say_after_interrupt(text: str) -> None:
    """Add ``text`` (how to go on, e.g. the resume command) to the one line an interrupted
    command ends with."""
    _after_interrupt.append(text)


def _disk_full(exc: BaseException) -> str | None:
    """The one line for a full disk, or None: an ``OSError`` ENOSPC/EDQUOT, or SQLite's
    "database or disk is full", also where a failed rollback was raised on top of it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" writing {seen.filename}" if seen.filename else ""
            return f"no space left on the device{where}; free some and run again"
        if isinstance(seen, sqlite3.Error) and "disk is full" in str(seen):
            return ("no space left on the device for the run store; free some and resume "
                    "with hilctl program --resume DIR")
        seen = seen.__context__
    return None


def main(argv: list[str] | None = None) -> None:
    warnings.showwarning = _warning_line
    _stop_on_termination_signals()
    try:
        cli.main(args=argv, prog_name="hilctl", standalone_mode=False)
    except (Exception, KeyboardInterrupt) as exc:
        code = _exit_code(exc)
        if code is None:  # a bug: keep its traceback
            raise
        sys.exit(code)


def _exit_code(exc: BaseException) -> int | None:
    """Print the one line that ends a command stopped by ``exc`` and return its exit code;
    None for an exception that is a bug. (The error classes are imported here, once a command
    has failed, so that ``--help`` never loads the drivers.)"""
    from hilctl.drivers import DataError, HilctlError

    if isinstance(exc, HilctlError):
        click.echo(f"hilctl: error: {exc}", err=True)
        return exc.exit_code
    if isinstance(exc, (click.exceptions.Abort, KeyboardInterrupt)):
        return _interrupted(exc, DataError.exit_code)
    if isinstance(exc, click.ClickException):
        exc.show()
        return exc.exit_code
    full = _disk_full(exc) if isinstance(exc, (OSError, sqlite3.Error)) else None
    if full is None:
        return None
    click.echo(f"hilctl: error: {full}", err=True)
    return DataError.exit_code


def _interrupted(exc: BaseException, data_error_code: int) -> int:
    """Ctrl-C or a termination signal: the line that says the outputs are off and how to go
    on; an input that ended early (click turns EOFError into Abort) is a data error."""
    signalled = exc if isinstance(exc, Terminated) else exc.__cause__  # click wraps it
    if isinstance(signalled, EOFError):
        click.echo("hilctl: error: an input ended early (an empty or truncated file?)", err=True)
        return data_error_code
    then = "".join(f"; {text}" for text in _after_interrupt)
    if isinstance(signalled, Terminated):
        click.echo(f"hilctl: stopped by {signalled}; outputs are off{then}", err=True)
        return 128 + signalled.signum
    click.echo(f"hilctl: interrupted; outputs are off{then}", err=True)
    return 130
