"""A threaded line server on loopback: one emulated instrument per listening socket.

Every received line goes to the instrument's ``handle`` (under the rig's lock, since the
instruments share one array); a reply, if any, is sent after the injected round-trip latency.
Transport faults (no reply, garbage, dropped connection) are applied here.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from typing import Protocol

from .faults import Faults

log = logging.getLogger("hilctl.emulators")

_GARBAGE = b"\x15#?@!\xfe garbage\n"


class WireLog:
    """Every line each instrument received and sent, timestamped (s since the epoch), so a
    person can see exactly what went over the wire and what a fault did to it."""

    def __init__(self, path) -> None:
        self._file = open(path, "a", encoding="ascii", errors="backslashreplace")
        self._lock = threading.Lock()

    def write(self, who: str, arrow: str, text: str) -> None:
        with self._lock:
            self._file.write(f"{time.time():.6f} {who} {arrow} {text[:200]}\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class LineDevice(Protocol):
    faults: Faults

    def handle(self, line: str) -> str | None: ...

    def on_drop(self, line: str) -> None: ...


class _Handler(socketserver.StreamRequestHandler):
    server: LineServer

    def handle(self) -> None:
        owner = self.server.owner
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                raw = self.rfile.readline(1 << 20)
            except OSError:
                return
            if not raw:
                return
            line = raw.decode("ascii", errors="replace").strip()
            if not line:
                continue
            if not owner.serve_line(line, self.wfile):
                return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LineServer


class LineServer:
    """Serve ``device`` on 127.0.0.1 (port 0 picks a free port) until ``stop``.

    Parameters
    ----------
    device : LineDevice
    lock : threading.RLock
        Shared by every instrument of one emulated rig.
    latency_s : float
        Injected round-trip latency in seconds, added before each reply.
    wire_log : WireLog or None
        Where every line in and out is recorded, under ``name``.
    """

    def __init__(self, device: LineDevice, lock: threading.RLock, latency_s: float = 0.0,
                 port: int = 0, wire_log: WireLog | None = None, name: str = "") -> None:
        self.device = device
        self.wire_log, self.name = wire_log, name
        self.lock = lock
        self.latency_s = latency_s
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name=f"emulator-{type(device).__name__}")

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> LineServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_line(self, line: str, out) -> bool:
        """Handle one line; False when the connection must close (an injected drop)."""
        faults = self.device.faults
        self._record("<-", line)
        with self.lock:
            if faults.take("drop", line):
                self.device.on_drop(line)
                log.info("fault: dropping the connection at %r", line[:60])
                self._record("--", "(connection dropped: injected)")
                return False
            reply = self.device.handle(line)
        if reply is None:
            return True
        if faults.take("no_reply", line):
            self._record("--", "(reply withheld: injected)")
            return True
        payload = _GARBAGE if faults.take("garbage", line) else reply.encode("ascii") + b"\n"
        self._record("->", payload.decode("ascii", errors="backslashreplace").rstrip("\n"))
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        try:
            out.write(payload)
            out.flush()
        except OSError:
            return False
        return True

    def _record(self, arrow: str, text: str) -> None:
        if self.wire_log is not None:
            self.wire_log.write(self.name, arrow, text)
