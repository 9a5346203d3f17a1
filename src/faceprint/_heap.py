"""Keep a long-running process's memory near what it uses: large buffers go back to the system when freed.

glibc serves allocations below its mmap threshold from heaps that rarely shrink, and raises that threshold (up to
32 MB) each time a large block is freed; worker threads get heaps of their own. Decoding a run of 24 MP photos
(72 MB arrays, 16 MB Pillow blocks, MTCNN pyramids of a few MB each, in several threads) then leaves each heap
holding its high-water mark, and peak memory grows with the number of photos. A fixed threshold of 1 MiB and two
heaps keep it flat (bench/memory.py). Processes, not the library, choose this: the CLI calls it at start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

__all__ = ["bound_heap"]

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def bound_heap(mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """Set glibc's mmap threshold and heap count for this process; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_ARENA_MAX, arenas))
    log.debug("heap: mmap threshold %d, %d arenas (%s)", mmap_threshold, arenas, "set" if ok else "refused")
    return ok
