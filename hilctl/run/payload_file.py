"""The append-only file that holds a run store's round and checkpoint payloads.

    payloads = PayloadFile(path)
    offset = payloads.append(blob, committed_end)   # written and fsynced
    blob = payloads.read(offset, length)

The SQLite index commits a row (offset, length, checksum) only after its payload is on disk, so
each payload is written once (no journal copy) and bytes past the last committed row, a tail
torn by a kill, are never read: the next append starts at the committed end and overwrites it.
"""

from __future__ import annotations

import os
from pathlib import Path

from hilctl.drivers import ResumeError


class PayloadFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return self._fd

    def append(self, blob: bytes, committed_end: int, sync: bool = True) -> int:
        """Write ``blob`` at ``committed_end`` (dropping any torn tail), on disk when this
        returns unless ``sync`` is false (then ``sync()`` before committing its row); its
        offset."""
        fd = self._open()
        os.ftruncate(fd, committed_end)
        view = memoryview(blob)
        written = 0
        while written < len(view):
            written += os.pwrite(fd, view[written:], committed_end + written)
        if sync:
            os.fsync(fd)
        return committed_end

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def read(self, offset: int, length: int) -> bytes:
        fd = self._open()
        blob = os.pread(fd, length, offset)
        if len(blob) != length:
            raise ResumeError(f"{self.path}: ends at byte {os.fstat(fd).st_size}, before the "
                              f"payload the store indexes at {offset}+{length}; it is damaged")
        return blob

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
