"""Large temporaries reused instead of mapped afresh: ``reuse_large_temporaries()``.

Every round of a large run makes array-sized temporaries (a plan's arrays, its gathers and
reads). glibc hands each block above its mmap threshold (at most 32 MiB) fresh pages from the
kernel and returns them on free, so every round pays a page fault per 4 KiB of temporaries:
at 1024x1024 on hfox-1t1r about 400 k faults, 20 % of the run's CPU. Raising the threshold and
the trim threshold keeps freed blocks in the heap for the next round (35 k faults), without
changing the peak. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this are kept in the heap; beyond it (a whole 4096x4096 float64 map is 128 MiB)
# a block is still mapped on its own and given back when freed.
_KEEP_BELOW_BYTES = 256 * 2**20


@functools.cache
def reuse_large_temporaries() -> bool:
    """Ask glibc, once per process, to keep freed blocks below ``_KEEP_BELOW_BYTES`` for
    reuse; False where there is no glibc ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, 2 * _KEEP_BELOW_BYTES))
