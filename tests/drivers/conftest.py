"""Transcript transports for driver tests: the exact (sent, reply) pairs an instrument sees.

``reply`` is None for a command that gets no answer, a string for a reply line, or an
exception (``TimeoutError()``, ``ConnectionError()``) that reading the reply raises; a
``BrokenPipeError()`` is raised by sending the command instead.
Every pair must be consumed, nothing may be left.
"""

from __future__ import annotations

import pytest

from hilctl.drivers.instrument_io import InstrumentIO


class TranscriptTransport:
    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        self.pairs = list(pairs)
        self.position = 0
        self._pending: list[object] = []

    def write_line(self, text: str) -> None:
        assert not self._pending, f"sent {text!r} before reading the reply to the last query"
        assert self.position < len(self.pairs), f"unexpected extra command {text!r}"
        expected, reply = self.pairs[self.position]
        where = f"command {self.position + 1}"
        assert text == expected, f"{where}: sent {text!r}, expected {expected!r}"
        self.position += 1
        if isinstance(reply, BrokenPipeError):
            raise reply
        if reply is not None:
            self._pending.append(reply)

    def read_line(self, timeout_s: float) -> str:
        assert self._pending, "read a reply to a command that has none"
        reply = self._pending.pop()
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def reopen(self) -> None:
        raise OSError("a transcript cannot reconnect")

    def close(self) -> None:
        """Nothing to release."""

    def assert_done(self) -> None:
        left = self.pairs[self.position:]
        assert not left, f"{len(left)} expected command(s) never sent, first {left[0][0]!r}"
        assert not self._pending, "a reply was never read"


@pytest.fixture
def transcript():
    """``io = transcript("name", pairs)`` gives an InstrumentIO; checks all pairs were used."""
    made: list[TranscriptTransport] = []

    def make(name: str, pairs: list[tuple[str, object]]) -> InstrumentIO:
        transport = TranscriptTransport(pairs)
        made.append(transport)
        return InstrumentIO(name, transport, margin_s=0.1)

    yield make
    for transport in made:
        transport.assert_done()
