"""How much disk a run's store will take, checked before a run starts.

    check_disk(cells, run_dir)   # ConfigError: one line, what it needs and what there is

Measured with bench/bench_store.py: an ISPP write-verify run at 5 % on hfox-1t1r stores about
7.6 bytes per pulse+read operation and 33 pulses per cell, 250 bytes per cell at 1024x1024
(262.8 MB); rounded up to leave room for longer runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hilctl.drivers import ConfigError

STORE_BYTES_PER_CELL = 320


def check_disk(cells: int, run_dir: Path) -> None:
    """Refuse a run whose store would not fit on the disk that holds ``run_dir``."""
    needed = cells * STORE_BYTES_PER_CELL
    where = Path(run_dir).absolute()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    if needed > free:
        raise ConfigError(f"a run of {cells} cells needs about {needed / 2**30:.1f} GiB of disk "
                          f"for its store ({STORE_BYTES_PER_CELL} B per cell, measured), "
                          f"{where} has {free / 2**30:.1f} GiB free; free some space or use "
                          "fewer cells")
