"""Keep a long-running reasoner's resident memory flat: glibc malloc settings and trimming.

Every goal decodes and resizes a few dozen camera frames (about 1 MB each at 640x480) and builds the model's
input tensors, on whichever executor thread runs it. With glibc's defaults each thread gets a malloc arena
of its own (up to 8 per core), and the mmap threshold grows to the largest block freed so far, so frame-sized
buffers stop being mmapped and are carved from those arenas instead; freed, they stay in the arenas as
fragments. Measured (docs/benchmarks.md, memory soak): RSS rose by ~40 MB per minute with a goal every 5 s.

``tune_malloc`` caps the arenas and pins the mmap threshold (large buffers go back to the system when freed);
``trim`` returns free heap pages after goals. Both are no-ops where glibc is not the C library. Variables
the user set (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) win over these defaults.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Optional

#: mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Arenas at most: the goal thread, the camera thread and the executor's other threads share them.
ARENA_MAX = 2
#: Blocks from this size up are mmapped (and unmapped when freed); fixing it stops glibc raising it.
MMAP_THRESHOLD = 256 * 1024

_libc: Optional[ctypes.CDLL] = None


def _glibc() -> Optional[ctypes.CDLL]:
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
    """Cap malloc arenas and pin the mmap threshold, unless the environment already chose; True if applied."""
    libc = _glibc()
    if libc is None:
        return False
    applied = False
    if "MALLOC_ARENA_MAX" not in os.environ:
        applied |= bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX))
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        applied |= bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return applied


def trim() -> bool:
    """Give free heap memory back to the system (after goals); True if some was released."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
