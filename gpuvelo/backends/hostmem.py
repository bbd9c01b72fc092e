"""Host allocator settings for batch-at-a-time array work.

Every batch allocates and frees NumPy temporaries of a few hundred kilobytes to a few
megabytes. With glibc's defaults such blocks are either mapped and unmapped per allocation
(above the dynamic mmap threshold) or handed back to the kernel by heap trimming, so each
new temporary page-faults its memory in again: on the streaming benchmark (100,000-row
batches) that cost ~40% of the run. Raising the mmap threshold to its maximum (32 MiB) and
the trim threshold to 256 MiB keeps freed blocks in the heap for the next batch.

The settings are process-wide. They are left alone when the user sets glibc's own
``MALLOC_*`` environment variables, when ``GPUVELO_MALLOC_TUNING=0``, and off glibc.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20      # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 256 << 20

_applied: bool | None = None    # None: not tried yet


def tune_malloc() -> bool:
    """Apply the allocator settings once per process; True when they are in effect."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get("GPUVELO_MALLOC_TUNING", "1") == "0":
        return False
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
