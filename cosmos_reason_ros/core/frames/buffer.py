"""A bounded, timestamped ring buffer of camera frames, and the choice of frames for a request.

The buffer stores whatever payload the caller gives (the ROS node stores the undecoded message) so that
ingest costs an append: decoding happens only for the few frames a request selects. It is bounded three
ways, so memory stays flat whatever the camera's rate or resolution: by age (seconds of scene time behind
the newest frame), by frame count and by bytes. Fast cameras are thinned before anything is kept, by a
token bucket on the frames' stamps: tokens accrue at the store rate (one per ``min_interval`` of stamp
time, up to ``burst``) and each stored frame spends one. Unlike a strict minimum interval against the
newest stored stamp, jitter cannot thin a camera that runs at the store rate (a frame 10 % early is paid
for by the one 10 % late before it), and a faster camera is stored at the store rate on average, not below.
"""
from __future__ import annotations

import bisect
import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Payload = TypeVar("Payload")
Decoded = TypeVar("Decoded")


@dataclass(frozen=True)
class BufferedFrame(Generic[Payload]):
    """A stored frame: ``stamp`` is the sensor time (s), ``received`` the monotonic arrival time (s)."""

    stamp: float
    received: float
    payload: Payload
    nbytes: int
    alternate: bool = False  # a thinned frame kept beside the stored one before it, in case that one is unusable


@dataclass(frozen=True)
class BufferLimits:
    """Bounds of one camera's buffer."""

    max_seconds: float = 10.0  # frames older than newest stamp minus this are evicted
    max_frames: int = 64  # hard cap on stored frames
    max_bytes: int = 256 * 1024 * 1024  # hard cap on stored payload bytes (0 = no byte cap)
    min_interval: float = 0.1  # s of stamp time per stored frame on average, 1 / store rate (0 = keep every frame)
    burst: float = 2.0  # most store tokens saved up (frames stored back to back after a pause); >= 1
    keep_alternates: bool = False  # keep the first thinned frame after each stored one (compressed cameras)


@dataclass
class BufferCounters:
    """What happened to offered frames, for diagnostics."""

    received: int = 0  # frames offered
    stored: int = 0  # frames kept
    thinned: int = 0  # skipped by the store rate (expected for fast cameras), or older than the newest stored
    evicted: int = 0  # removed by age, count or byte bounds
    rejected: int = 0  # refused by the caller's validation (malformed images)
    discarded: int = 0  # removed after the fact by the caller (stored, then found undecodable)
    time_jumps: int = 0  # buffer cleared because stamps went backwards (bag loop, sim reset)
    stamp_outliers: int = 0  # frames whose stamp jumped away from the camera's timeline and was not confirmed


class FrameBuffer(Generic[Payload]):
    """Thread-safe ring buffer of one camera's frames, oldest first."""

    #: Stamps more than this many seconds behind the newest count as a time jump (not jitter).
    BACKWARD_JUMP_TOLERANCE = 1.0
    #: Stamps that run ahead of the newest by this many seconds more than the arrival times do count as a jump.
    FORWARD_JUMP_TOLERANCE = 1.0

    def __init__(self, limits: BufferLimits) -> None:
        self.limits = limits
        self.counters = BufferCounters()
        self._frames: deque[BufferedFrame[Payload]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._recent_arrivals: deque[float] = deque(maxlen=64)
        self._tokens = 1.0  # store tokens available: the first frame is stored, the burst builds up in pauses
        self._token_stamp: float | None = None  # stamp up to which tokens have accrued
        self._pending: BufferedFrame[Payload] | None = None  # a jumped frame waiting for the next to confirm it
        self._alternates: dict[float, BufferedFrame[Payload]] = {}  # stored frame's stamp → the thinned one after it

    def _jumps(self, frame: BufferedFrame[Payload], reference: BufferedFrame[Payload]) -> bool:
        """Whether ``frame`` leaves ``reference``'s timeline: its stamp is far behind, or runs far ahead of
        what the arrival times allow (a pause moves stamps and arrivals alike; a bogus stamp only the stamp)."""
        ahead = (frame.stamp - reference.stamp) - max(0.0, frame.received - reference.received)
        return frame.stamp < reference.stamp - self.BACKWARD_JUMP_TOLERANCE or ahead > self.FORWARD_JUMP_TOLERANCE

    def _take_token(self, stamp: float) -> bool:
        """Accrue tokens for the stamp time since the last offered frame; spend one if there is one."""
        interval = self.limits.min_interval
        if interval <= 0:
            return True
        if self._token_stamp is not None and stamp > self._token_stamp:
            self._tokens = min(max(1.0, self.limits.burst), self._tokens + (stamp - self._token_stamp) / interval)
        if self._token_stamp is None or stamp > self._token_stamp:
            self._token_stamp = stamp
        if self._tokens < 1.0 - 1e-9:
            return False
        self._tokens -= 1.0
        return True

    def offer(self, stamp: float, payload: Payload, nbytes: int, received: float) -> bool:
        """Store a frame unless thinned; return whether it was stored. O(1) amortised.

        A frame whose stamp jumps off the camera's timeline (far back: a bag loop or sim reset; far ahead of
        its arrival) is held until the next frame: if that one follows it, the camera really jumped (a
        backward jump clears the buffer) and both are offered; if the next frame continues the old timeline,
        the held one was an outlier and is dropped. So one badly stamped frame cannot empty the buffer.
        """
        with self._lock:
            self.counters.received += 1
            self._recent_arrivals.append(received)
            frame = BufferedFrame(stamp, received, payload, nbytes)
            pending, self._pending = self._pending, None
            if self._frames and self._jumps(frame, self._frames[-1]):
                if pending is None or self._jumps(frame, pending):
                    if pending is not None:
                        self.counters.stamp_outliers += 1
                    self._pending = frame  # wait for the next frame to tell
                    return False
                # Confirmed. A clock that went back clears the buffer; one that went ahead evicts by age. A lone
                # frame that two agreeing frames contradict was the outlier (the very first frame a node got).
                if len(self._frames) == 1:
                    self.counters.stamp_outliers += 1
                    self._frames.clear()
                    self._alternates.clear()
                    self._bytes = 0
                    self._tokens, self._token_stamp = 1.0, None
                elif pending.stamp < self._frames[-1].stamp - self.BACKWARD_JUMP_TOLERANCE:
                    self.counters.time_jumps += 1
                    self.counters.evicted += len(self._frames)
                    self._frames.clear()
                    self._alternates.clear()
                    self._bytes = 0
                    self._tokens, self._token_stamp = 1.0, None
                self._store(pending)
            elif pending is not None:
                self.counters.stamp_outliers += 1  # the camera carried on as before: the held frame was wrong
            return self._store(frame)

    def _store(self, frame: BufferedFrame[Payload]) -> bool:
        """Append unless out of order or thinned by the store rate (lock held)."""
        if self._frames:
            newest = self._frames[-1].stamp
            if frame.stamp < newest or (frame.stamp == newest and self.limits.min_interval > 0):
                self.counters.thinned += 1  # out of order (or a repeat): the buffer stays oldest first
                return False
        if not self._take_token(frame.stamp):
            self.counters.thinned += 1
            stored = self._frames[-1] if self._frames else None
            if self.limits.keep_alternates and stored is not None and stored.stamp not in self._alternates:
                # Kept (not counted as stored) so that a stored frame that proves undecodable has a stand-in
                # the thinning would otherwise have thrown away.
                self._alternates[stored.stamp] = BufferedFrame(frame.stamp, frame.received, frame.payload,
                                                               frame.nbytes, alternate=True)
                self._bytes += frame.nbytes
            return False
        self._frames.append(frame)
        self._bytes += frame.nbytes
        self.counters.stored += 1
        self._evict(frame.stamp)
        return True

    def note_rejected(self, received: float) -> None:
        """Count a frame the caller refused (e.g. malformed), so rates and drops stay truthful."""
        with self._lock:
            self.counters.received += 1
            self.counters.rejected += 1
            self._recent_arrivals.append(received)

    def discard(self, frame: BufferedFrame[Payload]) -> bool:
        """Remove a stored frame the caller found unusable (e.g. it would not decode), so that no later
        request tries it again; its alternate, if one was kept, becomes a stored frame in its place. True if
        it was still stored. O(log n) to find, O(n) to remove."""
        with self._lock:
            if frame.alternate:
                for key, kept in list(self._alternates.items()):
                    if kept is frame:
                        del self._alternates[key]
                        self._bytes -= frame.nbytes
                        self.counters.discarded += 1
                        return True
                return False
            i = bisect.bisect_left([f.stamp for f in self._frames], frame.stamp)
            while i < len(self._frames) and self._frames[i].stamp == frame.stamp:
                if self._frames[i] is frame:
                    del self._frames[i]
                    self._bytes -= frame.nbytes
                    self.counters.discarded += 1
                    spare = self._alternates.pop(frame.stamp, None)
                    if spare is not None:  # its stand-in takes its place (its stamp sorts right there)
                        self._frames.insert(i, dataclasses.replace(spare, alternate=False))
                    return True
                i += 1
            return False

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
            spare = self._alternates.pop(old.stamp, None)
            if spare is not None:
                self._bytes -= spare.nbytes

    def snapshot(self, alternates: bool = False) -> list[BufferedFrame[Payload]]:
        """A copy of the stored frames, oldest first (the payloads are shared, not copied); with
        ``alternates`` the kept thinned frames too, in stamp order (``BufferedFrame.alternate`` tells them)."""
        with self._lock:
            frames = list(self._frames)
            if alternates and self._alternates:
                frames = sorted(frames + list(self._alternates.values()), key=lambda f: (f.stamp, f.alternate))
            return frames

    def latest(self) -> BufferedFrame[Payload] | None:
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


@dataclass(frozen=True)
class TimeGrid:
    """The sample times a request asks for, shared by every camera of the request (oldest first)."""

    end: float  # s, the newest target (the oldest of the cameras' newest stamps)
    targets: list[float]
    tolerance: float  # s, how far a frame may lie from its target and still count as on the grid
    history_seconds: float

    @property
    def start(self) -> float:
        """Oldest stamp inside the request's window."""
        return self.end - self.history_seconds - self.tolerance


def time_grid(newest_stamps: Sequence[float], history_seconds: float, max_frames: int, fps: float) -> TimeGrid:
    """The grid for cameras whose newest stamps are ``newest_stamps``: it ends at the oldest of them, so
    every camera has a frame at the end and clips line up in time across cameras."""
    end = min(newest_stamps) if newest_stamps else 0.0
    targets = sample_times(end, history_seconds, max_frames, fps) if newest_stamps else []
    return TimeGrid(end, targets, 0.5 / fps if fps > 0 else 0.0, history_seconds)


@dataclass
class Choice(Generic[Payload, Decoded]):
    """What ``choose_decodable`` found for one camera: decoded frames (oldest first) and the frames that
    failed to decode (``off_grid``: frames taken from further than the tolerance to fill a target)."""

    frames: list[tuple[BufferedFrame[Payload], Decoded]]
    failed: list[BufferedFrame[Payload]]
    off_grid: int = 0


def choose_decodable(frames: Sequence[BufferedFrame[Payload]], grid: TimeGrid,
                     decode: Callable[[BufferedFrame[Payload]], Decoded | None],
                     prefer: Callable[[BufferedFrame[Payload]], bool] | None = None,
                     stick: float = 0.0) -> Choice[Payload, Decoded]:
    """For each target of ``grid`` the nearest frame that decodes, never one frame twice.

    First every target takes the nearest frame within the tolerance; a frame that fails to decode
    (``decode`` returns None) is passed over for the next nearest. A target whose frames within the
    tolerance all failed then takes the nearest unused decodable frame anywhere in the request's window.
    So undecodable frames never cost the request a frame while the window holds a decodable one. Frames
    marked ``alternate`` (thinned frames the buffer kept aside) are taken only in place of failed ones. A target
    with no frame near it at all (a camera slower than the grid, or one that started moments ago) stays
    empty: the clip keeps its sampling rate rather than bunching frames.

    ``prefer`` (frames already prepared, in the frame cache) with ``stick`` s: a target other than the newest
    takes a preferred frame within ``stick`` of it before a nearer one. The grid moves with the newest frame,
    so the next goal's targets fall between the last goal's frames; sticking to those (within a fraction of the
    grid step) lets consecutive goals and checks share their frames instead of each preparing new ones. The
    newest target always takes the newest frame.
    """
    window = [f for f in frames if grid.start <= f.stamp <= grid.end + grid.tolerance]
    chosen: dict[int, tuple[BufferedFrame[Payload], Decoded]] = {}  # index into window → frame, pixels
    failed: set[int] = set()
    filled: set[int] = set()  # target indices with a frame
    off_grid = 0

    met_failure: set[int] = set()  # targets whose frames within the tolerance would not decode

    newest = len(grid.targets) - 1

    def rank(k: int, target: float, j: int) -> tuple[bool, float, int]:
        distance = abs(window[j].stamp - target)
        sticks = prefer is not None and k != newest and distance <= stick and prefer(window[j])
        return (not sticks, distance, j)

    def take(k: int, target: float, within: float) -> bool:
        stand_ins = k in met_failure  # alternates (thinned frames kept aside) only replace failed frames
        order = sorted((j for j, f in enumerate(window) if abs(f.stamp - target) <= within
                        and j not in chosen and j not in failed and (stand_ins or not f.alternate)),
                       key=lambda j: rank(k, target, j))
        for j in order:
            pixels = decode(window[j])
            if pixels is None:
                failed.add(j)
                met_failure.add(k)
                continue
            chosen[j] = (window[j], pixels)
            filled.add(k)
            return True
        return False

    for k, target in enumerate(grid.targets):
        if not take(k, target, grid.tolerance) and k in met_failure:
            take(k, target, grid.tolerance)  # again, with the alternates near the target
    for k, target in enumerate(grid.targets):
        if k not in filled and k in met_failure and take(k, target, float("inf")):
            off_grid += 1
    return Choice([chosen[j] for j in sorted(chosen)], [window[j] for j in sorted(failed)], off_grid)


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
