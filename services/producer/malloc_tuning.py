"""glibc malloc tuned for the producer's chunk-at-a-time work: freed blocks are kept for the next chunk.

Each CSV chunk, run and block allocates numpy arrays and bytes of a few hundred KB to tens of MB and frees
them before the next. glibc serves a block over its mmap threshold (128 KB at start, raised as such blocks
are freed) by its own mmap and unmaps it on free, and trims the heap's free top past its trim threshold:
so every chunk's arrays came back as fresh pages the kernel zeroes and faults in again. perf of a whole
run: 7 % of all CPU in `clear_page_erms` and the faults around it. With the thresholds fixed (blocks up to
32 MB from the heap, the free top kept up to 256 MB) the reading of 50 files took 2.3-2.4 s of CPU
instead of 2.8-2.9 s (system time 0.3-0.5 s instead of 0.8 s) and the same peak RSS (README, Producer at
scale). The same as `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` in the environment, set from inside
so that every way of starting the producer gets it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's largest allowed value (HEAP_MAX_SIZE / 2 on 64-bit)"""
TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set the thresholds in this process (and the processes it forks afterwards); False where the C library
    is not glibc (then nothing changes)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        logger.debug("no mallopt in the C library (%s): malloc left as it is", name)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
