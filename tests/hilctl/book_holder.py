"""A second process that holds a device book's lock, for the tests of its refusal."""

import subprocess
import sys
from contextlib import contextmanager


@contextmanager
def holding_book(path):
    """Another process holding the book's lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from hilctl.run.lock import book_lock\n"
         f"with book_lock({str(path)!r}):\n    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("", timeout=30)
