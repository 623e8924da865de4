"""Rich progress bars on stderr: one that subscribes to a run's rounds, one that training
calls after every epoch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hilctl.protocols import RoundRecord, Subscriber


class RoundProgress(Subscriber):
    """Shows a run's progress as its state counts it (cells converged, pulses applied, ...),
    from the first round on, so an error before it prints nothing but itself."""

    def __init__(self, label: str) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[what]} · round {task.fields[round]}"),
                   TimeElapsedColumn())
        self.bar = Progress(*columns, console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task(label, total=None, round=0, what="")

    def round(self, record: RoundRecord) -> None:
        if not self.bar.live.is_started:
            self.bar.start()
        completed, total, what = record.state.progress()
        self.bar.update(self.task, total=total, completed=completed, round=record.round,
                        what=what)

    def close(self) -> None:
        if self.bar.live.is_started:
            self.bar.stop()


@contextmanager
def round_progress(label: str, enabled: bool = True) -> Iterator[RoundProgress | None]:
    """Yields a progress subscriber (or None when disabled) and removes the bar on exit."""
    if not enabled:
        yield None
        return
    progress = RoundProgress(label)
    try:
        yield progress
    finally:
        progress.close()


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
