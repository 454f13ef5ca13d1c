"""Keep a long-running reasoner's resident memory flat: glibc malloc settings and trimming.

Every goal decodes and resizes a few dozen camera frames (about 1 MB each at 640x480) and builds the model's
input tensors, on whichever executor thread runs it. With glibc's defaults each thread gets a malloc arena
of its own (up to 8 per core), and the mmap threshold grows to the largest block freed so far, so frame-sized
buffers are carved from those arenas; freed, they stay there as fragments, a goal's working set per arena.
Measured (docs/benchmarks.md, memory soak): RSS rose by ~45 MB per minute with a goal every 5 s.

``tune_malloc`` caps the arenas (``ARENA_MAX``); ``trim`` returns free heap pages after goals. Both are
no-ops where glibc is not the C library, and MALLOC_ARENA_MAX set by the user wins. The mmap threshold is
left to glibc: pinning it low returns frames at once but costs camera ingest dearly (every 1080p frame
faulted in again: docs/benchmarks.md, camera ingest).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

#: mallopt parameter (malloc.h).
_M_ARENA_MAX = -8
#: Arenas at most: the goal thread, the camera thread and the executor's other threads share them.
ARENA_MAX = 2

_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name or "libc.so.6")
            libc.mallopt  # noqa: B018  (glibc only)
            libc.malloc_trim  # noqa: B018
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


def tune_malloc() -> bool:
    """Cap malloc arenas, unless the environment already chose (MALLOC_ARENA_MAX); True if applied."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX))


def trim() -> bool:
    """Give free heap memory back to the system (after goals); True if some was released."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
