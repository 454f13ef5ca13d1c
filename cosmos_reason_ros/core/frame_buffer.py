"""A bounded, timestamped ring buffer of camera frames, and the choice of frames for a request.

The buffer stores whatever payload the caller gives (the ROS node stores the undecoded message) so that
ingest costs an append: decoding happens only for the few frames a request selects. It is bounded three
ways, so memory stays flat whatever the camera's rate or resolution: by age (seconds of scene time behind
the newest frame), by frame count and by bytes; a minimum interval between stored frames thins fast
cameras before anything is kept.
"""
from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass
from typing import Generic, Optional, Sequence, TypeVar

Payload = TypeVar("Payload")


@dataclass(frozen=True)
class BufferedFrame(Generic[Payload]):
    """A stored frame: ``stamp`` is the sensor time (s), ``received`` the monotonic arrival time (s)."""

    stamp: float
    received: float
    payload: Payload
    nbytes: int


@dataclass(frozen=True)
class BufferLimits:
    """Bounds of one camera's buffer."""

    max_seconds: float = 10.0  # frames older than newest stamp minus this are evicted
    max_frames: int = 64  # hard cap on stored frames
    max_bytes: int = 256 * 1024 * 1024  # hard cap on stored payload bytes (0 = no byte cap)
    min_interval: float = 0.1  # s of stamp time between stored frames (0 = keep every frame)


@dataclass
class BufferCounters:
    """What happened to offered frames, for diagnostics."""

    received: int = 0  # frames offered
    stored: int = 0  # frames kept
    thinned: int = 0  # skipped by min_interval (expected for fast cameras)
    evicted: int = 0  # removed by age, count or byte bounds
    rejected: int = 0  # refused by the caller's validation (malformed images)
    time_jumps: int = 0  # buffer cleared because stamps went backwards (bag loop, sim reset)


class FrameBuffer(Generic[Payload]):
    """Thread-safe ring buffer of one camera's frames, oldest first."""

    #: Stamps more than this many seconds behind the newest count as a time jump (not jitter).
    BACKWARD_JUMP_TOLERANCE = 1.0

    def __init__(self, limits: BufferLimits) -> None:
        self.limits = limits
        self.counters = BufferCounters()
        self._frames: deque[BufferedFrame[Payload]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._recent_arrivals: deque[float] = deque(maxlen=64)

    def offer(self, stamp: float, payload: Payload, nbytes: int, received: float) -> bool:
        """Store a frame unless thinned; return whether it was stored. O(1) amortised."""
        with self._lock:
            self.counters.received += 1
            self._recent_arrivals.append(received)
            if self._frames:
                newest = self._frames[-1].stamp
                if stamp < newest - self.BACKWARD_JUMP_TOLERANCE:
                    self.counters.time_jumps += 1
                    self.counters.evicted += len(self._frames)
                    self._frames.clear()
                    self._bytes = 0
                elif stamp - newest < self.limits.min_interval:
                    self.counters.thinned += 1
                    return False
            self._frames.append(BufferedFrame(stamp, received, payload, nbytes))
            self._bytes += nbytes
            self.counters.stored += 1
            self._evict(stamp)
            return True

    def note_rejected(self, received: float) -> None:
        """Count a frame the caller refused (e.g. malformed), so rates and drops stay truthful."""
        with self._lock:
            self.counters.received += 1
            self.counters.rejected += 1
            self._recent_arrivals.append(received)

    def _evict(self, newest_stamp: float) -> None:
        lim = self.limits
        while self._frames and (
            self._frames[0].stamp < newest_stamp - lim.max_seconds
            or len(self._frames) > lim.max_frames
            or (lim.max_bytes and self._bytes > lim.max_bytes and len(self._frames) > 1)
        ):
            old = self._frames.popleft()
            self._bytes -= old.nbytes
            self.counters.evicted += 1

    def snapshot(self) -> list[BufferedFrame[Payload]]:
        """A copy of the stored frames, oldest first (the payloads are shared, not copied)."""
        with self._lock:
            return list(self._frames)

    def latest(self) -> Optional[BufferedFrame[Payload]]:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def arrival_rate(self, now: float, horizon: float = 5.0) -> float:
        """Frames per second offered over the last ``horizon`` seconds of monotonic time."""
        with self._lock:
            recent = [t for t in self._recent_arrivals if now - t <= horizon]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], 1e-6)
        return (len(recent) - 1) / span if span > 0 else 0.0


def sample_times(end: float, history_seconds: float, max_frames: int, fps: float) -> list[float]:
    """Target times, oldest first: every 1/fps seconds back from ``end``, within the window, at most max_frames.

    When the window holds fewer than ``max_frames`` samples at ``fps`` the rate stays (a shorter clip), so
    the model's notion of time is not distorted.
    """
    if max_frames <= 0 or history_seconds < 0 or fps <= 0:
        return []
    step = 1.0 / fps
    count = min(max_frames, int(history_seconds * fps + 1e-9) + 1)
    return [end - k * step for k in range(count - 1, -1, -1)]


def pick_nearest(frames: Sequence[BufferedFrame[Payload]], targets: Sequence[float],
                 tolerance: float) -> list[BufferedFrame[Payload]]:
    """For each target time the stored frame nearest to it (within ``tolerance`` s), without repeats."""
    stamps = [f.stamp for f in frames]
    chosen: list[BufferedFrame[Payload]] = []
    used: set[int] = set()
    for t in targets:
        i = bisect.bisect_left(stamps, t)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(stamps) and j not in used]
        if not candidates:
            continue
        best = min(candidates, key=lambda j: abs(stamps[j] - t))
        if abs(stamps[best] - t) <= tolerance:
            used.add(best)
            chosen.append(frames[best])
    chosen.sort(key=lambda f: f.stamp)
    return chosen


def select_aligned(buffers: dict[str, Sequence[BufferedFrame[Payload]]], history_seconds: float,
                   max_frames: int, fps: float) -> tuple[float, dict[str, list[BufferedFrame[Payload]]]]:
    """Choose frames for several cameras on one shared time grid.

    The grid ends at the oldest of the cameras' newest stamps, so every camera has a frame at the end and
    clips line up in time across cameras. Returns (grid end, frames per camera, oldest first); a camera with
    no frame near the grid gets an empty list.
    """
    newest = [frames[-1].stamp for frames in buffers.values() if frames]
    if not newest:
        return 0.0, {name: [] for name in buffers}
    end = min(newest)
    targets = sample_times(end, history_seconds, max_frames, fps)
    tolerance = 0.5 / fps if fps > 0 else 0.0
    return end, {name: pick_nearest(frames, targets, tolerance) for name, frames in buffers.items()}
