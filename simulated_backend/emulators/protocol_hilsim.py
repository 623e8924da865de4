"""pyserial URL handler ``hilsim://<name>``: an in-process serial link to an emulated board.

pyserial finds it as ``<package>.protocol_hilsim`` once ``register_serial_scheme()`` has added
this package to ``serial.protocol_handler_packages``; nothing is registered on import. A board
is reachable under ``<name>`` after ``register_board(name, server)``.
"""

from __future__ import annotations

import threading
import time
import urllib.parse

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from .server import LineServer

_PACKAGE = "hilctl.simulated_backend.emulators"
_BOARDS: dict[str, LineServer] = {}


def register_serial_scheme() -> None:
    """Let ``serial.serial_for_url`` open ``hilsim://`` URLs (idempotent)."""
    if _PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(_PACKAGE)


def register_board(name: str, server: LineServer) -> str:
    """Make the board served by ``server`` reachable as ``hilsim://<name>``; returns the URL."""
    _BOARDS[name] = server
    return f"hilsim://{name}"


class _Inbox:
    """Bytes the board has answered, waiting for the host to read them."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.cond = threading.Condition()

    def write(self, payload: bytes) -> None:
        with self.cond:
            self.data += payload
            self.cond.notify_all()

    def flush(self) -> None:
        """Replies are visible as soon as they are written."""


class Serial(SerialBase):
    """The host side of an in-process board link."""

    def open(self) -> None:
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        name = urllib.parse.urlsplit(self._port).netloc
        if name not in _BOARDS:
            raise SerialException(f"hilsim://{name}: no emulated board registered under "
                                  f"{name!r} (known: {', '.join(sorted(_BOARDS)) or 'none'})")
        self._server = _BOARDS[name]
        self._inbox = _Inbox()
        self._pending = bytearray()
        self._dropped = False
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def _reconfigure_port(self, *args, **kwargs) -> None:
        """No line settings on an in-process link."""

    @property
    def in_waiting(self) -> int:
        return len(self._inbox.data)

    def write(self, data) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        if self._dropped:
            raise SerialException("hilsim: connection dropped")
        self._pending += bytes(data)
        while b"\n" in self._pending:
            line, _, rest = bytes(self._pending).partition(b"\n")
            self._pending = bytearray(rest)
            text = line.decode("ascii", errors="replace").strip()
            if text and not self._server.serve_line(text, self._inbox):
                self._dropped = True
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        with self._inbox.cond:
            while len(self._inbox.data) < size:
                if self._dropped:
                    raise SerialException("hilsim: connection dropped")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._inbox.cond.wait(left)
            out = bytes(self._inbox.data[:size])
            del self._inbox.data[:size]
        return out

    def reset_input_buffer(self) -> None:
        with self._inbox.cond:
            self._inbox.data.clear()

    def reset_output_buffer(self) -> None:
        self._pending.clear()
