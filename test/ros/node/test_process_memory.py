"""glibc malloc tuning for the long-running executables (see ros/process_memory.py; figures in
docs/benchmarks.md, memory soak): applied where glibc is the C library, never over the user's own choice."""
from __future__ import annotations

import ctypes.util

import pytest

from cosmos_reason_ros.ros.node import process_memory

glibc = pytest.mark.skipif(process_memory._glibc() is None,
                           reason=f"the C library here ({ctypes.util.find_library('c')}) is not glibc")


@glibc
def test_tuning_applies_unless_the_environment_chose(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert process_memory.tune_malloc() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert process_memory.tune_malloc() is False  # left to the user's setting


@glibc
def test_trim_returns_freed_memory():
    block = bytearray(64 * 2**20)  # mmapped (above the threshold) and freed: nothing to trim from it
    del block
    small = [bytearray(1000) for _ in range(20000)]  # heap chunks
    del small
    assert isinstance(process_memory.trim(), bool)
