"""Rich progress bars on stderr: one that subscribes to a run's rounds, one that training
calls after every epoch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hilctl.protocols import RoundRecord


@contextmanager
def round_progress(label: str, enabled: bool = True) -> Iterator:
    """Yields an observer for ``RoundRecord``s (or None when disabled)."""
    if not enabled:
        yield None
        return
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("converged · round {task.fields[round]} · failed {task.fields[failed]}"),
               TimeElapsedColumn())
    bar = Progress(*columns, console=console, transient=True)
    task = bar.add_task(label, total=None, round=0, failed=0)

    def update(record: RoundRecord) -> None:
        # Shown from the first round on, so an error before it prints nothing but itself.
        if not bar.live.is_started:
            bar.start()
        state = record.state
        bar.update(task, total=state.done.size, completed=int(state.done.sum()),
                   round=record.round, failed=int(state.failed.sum()))

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


@contextmanager
def epoch_progress(label: str, enabled: bool = True,
                   console: Console | None = None) -> Iterator:
    """Yields an ``on_epoch(done, total)`` callback drawing a bar on stderr (None when
    disabled), so a training of many seconds shows that it works and how far it is."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("epochs"), TimeElapsedColumn())
    bar = Progress(*columns, console=console or Console(stderr=True), transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, total=total, completed=done)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()
