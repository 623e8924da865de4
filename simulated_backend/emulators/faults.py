"""Fault injection shared by the emulators: armed by a test or a person, taken by the server.

Kinds: ``no_reply`` (the reply never comes), ``garbage`` (a reply of junk bytes), ``drop``
(the connection closes mid-round, the instrument left as it was), ``error`` (an instrument
error is queued), ``compliance`` (the next measurement hits current compliance).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hilctl.drivers import ConfigError

KINDS = ("no_reply", "garbage", "drop", "error", "compliance")


@dataclass
class _Armed:
    kind: str
    match: str
    times: int
    skip: int


class Faults:
    """Faults armed against commands that contain ``match`` (empty: any command)."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str]] = []

    def arm(self, kind: str, match: str = "", times: int = 1, skip: int = 0) -> None:
        """Fire ``kind`` on ``times`` commands containing ``match``, after letting ``skip``
        such commands pass (e.g. ``skip=2``: a fault in the third programming round)."""
        if kind not in KINDS:
            raise ConfigError(f"fault {kind!r} is unknown; known faults: {', '.join(KINDS)}")
        with self._lock:
            self._armed.append(_Armed(kind, match, times, skip))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, kind: str, command: str) -> bool:
        """True (and one use spent) if a fault of ``kind`` is armed for ``command``."""
        with self._lock:
            for armed in self._armed:
                if armed.kind == kind and armed.match in command:
                    if armed.skip > 0:
                        armed.skip -= 1
                        return False
                    armed.times -= 1
                    if armed.times <= 0:
                        self._armed.remove(armed)
                    self.fired.append((kind, command[:80]))
                    return True
        return False
