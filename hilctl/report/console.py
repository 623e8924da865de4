"""Where reports are printed: rich consoles sized for tables also when output is piped."""

from __future__ import annotations

import sys

from rich.console import Console

# Wide enough for the widest report table; used when stdout is a file or a pipe, where rich
# would otherwise assume 80 columns and squeeze every column to an ellipsis.
PIPED_WIDTH = 170


def report_console() -> Console:
    """A console on stdout: the terminal's width, or ``PIPED_WIDTH`` when not a terminal."""
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
