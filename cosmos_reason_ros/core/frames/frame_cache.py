"""A bounded cache of model-ready frame data, so a frame that several goals and watch checks see is decoded,
resized and normalised once.

Consecutive goals and checks look at mostly the same frames (8 frames over the last 4 s, goals every few
seconds); without a cache each frame is decoded, resized and normalised again for every request.

Staleness is ruled out by the key and by identity, not by time:

* every entry is stored with its *source* object (the buffered message for a decoded frame, the decoded
  array for a resized one, the resized arrays of a temporal patch group for its patches; a tuple of
  objects counts as those objects) and a lookup hits only when the caller holds that very object (``is``).
  The entry keeps its source alive, so its ``id`` cannot be reused by another object while the entry
  exists; a replaced frame is a different object and never hits.
* the key names everything else the value depends on: camera, stamp, target size (h, w), family name and
  geometry, pixel budget, decoder reduction, device and normalisation constants (the callers build it).

Values are shared between requests, so arrays are stored read-only. The cache is bounded by entries and by
bytes (least recently used first out) and counts hits, misses and evictions for ``/diagnostics``.
Nothing here imports ROS or torch.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Default bounds, per cache: a goal at the node defaults (8 × 640×480) adds ~15 MB of decoded + resized frames to
#: the cameras' cache and ~30 MB of patches (float32; half in bfloat16) to the model's, of which consecutive goals
#: share about half, so 256 MB holds the frames of the last several goals of a few cameras.
DEFAULT_MAX_BYTES = 256 * 2**20
DEFAULT_MAX_ENTRIES = 1024


@dataclass(frozen=True)
class CacheStats:
    """Counters and size of a ``FrameCache``, for diagnostics and benchmarks."""

    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int
    max_bytes: int
    max_entries: int

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses
        return self.hits / looked if looked else 0.0


def _same(a: Any, b: Any) -> bool:
    """The same object, or tuples of the same objects in the same order."""
    if a is b:
        return True
    return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
            and all(x is y for x, y in zip(a, b, strict=True)))


@dataclass
class _Entry:
    source: Any
    value: Any
    nbytes: int


class FrameCache:
    """LRU over (key, source identity) → value, bounded by ``max_entries`` and ``max_bytes``; thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_bytes < 0 or max_entries < 0:
            raise ValueError(f"cache bounds must be >= 0, got {max_bytes} bytes, {max_entries} entries")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    def lookup(self, key: Hashable, source: Any) -> Any | None:
        """The value stored under ``key`` for this very ``source`` object, or None."""
        return self.lookup_any((key,), source)[1]

    def holds(self, key: Hashable, source: Any) -> bool:
        """Whether ``key`` holds a value for this very ``source`` (not counted as a hit or a miss)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and _same(entry.source, source)

    def lookup_any(self, keys: tuple[Hashable, ...], source: Any) -> tuple[Hashable | None, Any | None]:
        """The first of ``keys`` holding a value for this very ``source``, and that value ((None, None) when none
        does); one hit or one miss is counted, however many keys were tried."""
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None and _same(entry.source, source):
                    self._entries.move_to_end(key)
                    self._hits += 1
                    return key, entry.value
            self._misses += 1
            return None, None

    def store(self, key: Hashable, source: Any, value: Any, nbytes: int | None = None) -> Any:
        """Keep ``value`` (arrays made read-only) for ``source`` under ``key``; returns ``value``. A value larger
        than the whole cache is returned without being kept."""
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
            size = value.nbytes if nbytes is None else nbytes
        else:
            size = int(nbytes or 0)
        if size > self.max_bytes or self.max_entries == 0:
            return value
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = _Entry(source, value, size)
            self._bytes += size
            while self._entries and (self._bytes > self.max_bytes or len(self._entries) > self.max_entries):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
                self._evictions += 1
        return value

    def clear(self) -> None:
        """Drop every entry (counters kept: they describe the node's life, not the cache's content)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries), self._bytes,
                              self.max_bytes, self.max_entries)

    def __len__(self) -> int:
        return len(self._entries)
