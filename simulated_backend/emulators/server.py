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
    """

    def __init__(self, device: LineDevice, lock: threading.RLock, latency_s: float = 0.0,
                 port: int = 0) -> None:
        self.device = device
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
        with self.lock:
            if faults.take("drop", line):
                self.device.on_drop(line)
                log.info("fault: dropping the connection at %r", line[:60])
                return False
            reply = self.device.handle(line)
        if reply is None or faults.take("no_reply", line):
            return True
        payload = _GARBAGE if faults.take("garbage", line) else reply.encode("ascii") + b"\n"
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        try:
            out.write(payload)
            out.flush()
        except OSError:
            return False
        return True
