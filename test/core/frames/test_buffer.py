"""The camera ring buffer and the choice of frames for a request.

The buffer is fed by camera callbacks at up to hundreds of Hz while a goal snapshots it from another
thread, so these tests check its three bounds, its counters, time jumps, thread safety, and that the
frames chosen for a request lie on the requested time grid.
"""
from __future__ import annotations

import itertools
import random
import threading
import weakref

import pytest

from cosmos_reason_ros.core.frames.buffer import (
    BufferedFrame,
    BufferLimits,
    FrameBuffer,
    choose_decodable,
    pick_nearest,
    sample_times,
    select_aligned,
    time_grid,
)


class Payload:
    """A stand-in for an undecoded image message; weak-referenceable so leaks can be counted."""

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)


def fill(buffer: FrameBuffer, stamps: list[float], nbytes: int = 100) -> list[bool]:
    """Offer one frame per stamp, arriving at the stamp time; return which were stored."""
    return [buffer.offer(s, f"frame@{s:.3f}", nbytes, received=s) for s in stamps]


def frames_at(stamps: list[float]) -> list[BufferedFrame[str]]:
    return [BufferedFrame(s, s, f"f{s:.3f}", 1) for s in stamps]


# ---------------------------------------------------------------------------------------------- bounds


def test_buffer_evicts_frames_older_than_max_seconds() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=2.0, max_frames=1000, min_interval=0.0))
    fill(buffer, [i * 0.1 for i in range(51)])  # 0.0 .. 5.0 s
    stamps = [f.stamp for f in buffer.snapshot()]
    assert stamps[-1] == pytest.approx(5.0)
    assert stamps[0] >= 5.0 - 2.0 - 1e-9
    assert stamps[0] == pytest.approx(3.0)
    assert len(stamps) == 21
    assert buffer.counters.evicted == 30


def test_buffer_caps_frame_count() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=8, min_interval=0.0))
    fill(buffer, [float(i) * 0.01 for i in range(100)])
    assert len(buffer) == 8
    assert [f.stamp for f in buffer.snapshot()] == pytest.approx([i * 0.01 for i in range(92, 100)])
    assert buffer.counters.stored == 100 and buffer.counters.evicted == 92


def test_buffer_caps_bytes_but_keeps_the_newest_frame() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(
        BufferLimits(max_seconds=1e9, max_frames=1000, max_bytes=1000, min_interval=0.0))
    fill(buffer, [i * 0.01 for i in range(50)], nbytes=300)
    assert len(buffer) == 3 and buffer.nbytes == 900
    buffer.offer(1.0, "huge", 5000, received=1.0)  # larger than the whole cap on its own
    assert len(buffer) == 1 and buffer.latest().payload == "huge"
    assert buffer.nbytes == 5000


def test_buffer_without_byte_cap() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=10, max_bytes=0, min_interval=0))
    fill(buffer, [float(i) for i in range(5)], nbytes=10**9)
    assert len(buffer) == 5 and buffer.nbytes == 5 * 10**9


def test_memory_stays_bounded_over_10000_frames() -> None:
    """10,000 offered payloads, all three bounds active: only what the buffer holds stays alive."""
    limits = BufferLimits(max_seconds=3.0, max_frames=32, max_bytes=20 * 4096, min_interval=0.0)
    buffer: FrameBuffer[Payload] = FrameBuffer(limits)
    alive: weakref.WeakSet[Payload] = weakref.WeakSet()
    peak_frames = peak_bytes = 0
    for i in range(10_000):
        payload = Payload(4096)
        alive.add(payload)
        buffer.offer(i / 30.0, payload, 4096, received=i / 30.0)
        del payload
        peak_frames = max(peak_frames, len(buffer))
        peak_bytes = max(peak_bytes, buffer.nbytes)
    assert peak_frames <= 20 and peak_bytes <= 20 * 4096
    assert len(alive) == len(buffer) == 20
    assert buffer.counters.received == 10_000
    assert buffer.counters.stored - buffer.counters.evicted == 20
    assert len(buffer._recent_arrivals) <= 64  # arrival history is bounded too


# -------------------------------------------------------------------------------------- thinning, counters


def test_min_interval_thins_a_fast_camera() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=100, max_frames=1000, min_interval=0.1))
    stored = fill(buffer, [i / 100.0 for i in range(101)])  # 100 Hz for 1 s
    stamps = [f.stamp for f in buffer.snapshot()]
    assert stored[0] is True
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(stamps))
    assert 9 <= len(stamps) <= 11
    assert buffer.counters.received == 101
    assert buffer.counters.stored == len(stamps)
    assert buffer.counters.thinned == 101 - len(stamps)
    assert sum(stored) == len(stamps)


def jittered(rate: float, seconds: float, jitter: float, seed: int) -> list[float]:
    """Stamps of a camera at ``rate`` Hz whose every stamp is off its slot by up to ±``jitter`` of a period."""
    rng = random.Random(seed)
    period = 1.0 / rate
    return [100.0 + k * period + rng.uniform(-jitter, jitter) * period for k in range(int(seconds * rate))]


@pytest.mark.parametrize("seed", range(5))
def test_a_camera_at_the_store_rate_is_stored_whole_despite_jitter(seed: int) -> None:
    """10 Hz stamps jittering ±10 % at store_rate 10: every frame stored (a strict interval against the
    newest stored stamp thinned about a third of them)."""
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=10**6, min_interval=0.1))
    stored = fill(buffer, jittered(10.0, 60.0, 0.10, seed))
    assert sum(stored) >= 0.99 * len(stored), f"{len(stored) - sum(stored)} of {len(stored)} thinned"


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rate", [30.0, 15.0, 11.0, 100.0])
def test_a_faster_camera_is_stored_at_the_store_rate_despite_jitter(seed: int, rate: float) -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=10**6, min_interval=0.1))
    stamps = jittered(rate, 60.0, 0.10, seed)
    fill(buffer, stamps)
    kept = [f.stamp for f in buffer.snapshot()]
    stored_rate = (len(kept) - 1) / (kept[-1] - kept[0])
    assert stored_rate == pytest.approx(10.0, rel=0.02), stored_rate
    # Spread out, not bunched: no two stored frames closer than a camera period (less its jitter).
    assert min(b - a for a, b in itertools.pairwise(kept)) >= 0.8 / rate
    assert buffer.counters.thinned == len(stamps) - len(kept)


def test_a_pause_allows_a_short_burst_but_the_rate_holds() -> None:
    """Tokens saved during a pause (at most ``burst``) let the next frames through back to back."""
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=10**6, min_interval=0.1, burst=2.0))
    fill(buffer, [i / 30.0 for i in range(30)])
    before = len(buffer)
    fill(buffer, [5.0 + i / 30.0 for i in range(3)])  # after a 4 s pause: 2 saved tokens, not 40
    assert len(buffer) == before + 2


def test_discard_removes_one_stored_frame_and_its_bytes() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(min_interval=0.0))
    fill(buffer, [1.0, 2.0, 2.0, 3.0], nbytes=10)
    frames = buffer.snapshot()
    assert buffer.discard(frames[2])
    assert not buffer.discard(frames[2])  # already gone
    assert [f.stamp for f in buffer.snapshot()] == [1.0, 2.0, 3.0] and buffer.snapshot()[1] is frames[1]
    assert buffer.nbytes == 30 and buffer.counters.discarded == 1


def test_duplicate_and_slightly_older_stamps_are_thinned_not_stored() -> None:
    """Out-of-order jitter (within the jump tolerance) must not break the oldest-first order."""
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(min_interval=0.0))
    assert buffer.offer(10.0, "a", 1, 0.0)
    assert not buffer.offer(9.8, "late", 1, 0.1)
    assert buffer.offer(10.0, "same stamp", 1, 0.2)  # min_interval 0 keeps equal stamps
    assert buffer.offer(10.2, "b", 1, 0.3)
    assert [f.payload for f in buffer.snapshot()] == ["a", "same stamp", "b"]
    assert buffer.counters.thinned == 1 and buffer.counters.time_jumps == 0


def test_note_rejected_counts_without_storing() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits())
    buffer.offer(1.0, "ok", 10, 1.0)
    buffer.note_rejected(1.1)
    buffer.note_rejected(1.2)
    c = buffer.counters
    assert (c.received, c.stored, c.rejected, c.thinned, c.evicted) == (3, 1, 2, 0, 0)
    assert len(buffer) == 1


def test_backwards_time_jump_clears_the_buffer() -> None:
    """A bag loop or sim reset: stamps jump back more than the tolerance, old frames are dropped."""
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(min_interval=0.0))
    fill(buffer, [100.0, 100.5, 101.0])
    assert not buffer.offer(5.0, "after reset", 50, received=102.0)  # held until the next frame confirms it
    assert len(buffer) == 3
    assert buffer.offer(5.5, "next", 50, received=102.5)
    assert [f.payload for f in buffer.snapshot()] == ["after reset", "next"]
    assert buffer.nbytes == 100
    assert buffer.counters.time_jumps == 1
    assert buffer.counters.evicted == 3
    fill(buffer, [6.0])
    assert [f.stamp for f in buffer.snapshot()] == [5.0, 5.5, 6.0]


@pytest.mark.parametrize("bogus", [1.0, 10.0, 1e9, 99.0])
def test_one_badly_stamped_frame_neither_clears_nor_empties_the_buffer(bogus: float) -> None:
    """Interleaved frames stamped far back (1970, a reset clock) or far ahead are dropped as outliers."""
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=10.0, max_frames=1000, min_interval=0.0))
    stamps = [100.0 + i / 30.0 for i in range(300)]
    for i, t in enumerate(stamps):
        buffer.offer(t, "good", 1, received=t)
        if i % 2:
            buffer.offer(bogus + (t if bogus > 1e8 else 0.0), "bad", 1, received=t + 0.001)
    frames = buffer.snapshot()
    assert {f.payload for f in frames} == {"good"} and len(frames) == 300  # every good frame kept
    assert buffer.counters.time_jumps == 0 and buffer.counters.stamp_outliers == 149  # the last one still held


def test_a_badly_stamped_first_frame_is_dropped_once_two_frames_contradict_it() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(min_interval=0.0))
    assert buffer.offer(3600.0 + 100.0, "an hour ahead", 1, received=100.0)  # nothing to compare it with yet
    assert not buffer.offer(100.03, "good", 1, received=100.03)
    assert buffer.offer(100.06, "good", 1, received=100.06)
    assert [f.payload for f in buffer.snapshot()] == ["good", "good"]
    assert buffer.counters.time_jumps == 0 and buffer.counters.stamp_outliers == 1


def test_a_pause_is_not_a_jump_and_a_slow_camera_is_stored_at_once() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=60.0, min_interval=0.0))
    for t in [0.0, 2.0, 4.0, 34.0, 36.0]:  # a 0.5 Hz camera that pauses for 30 s: stamps and arrivals agree
        assert buffer.offer(t, "f", 1, received=t + 0.01)
    assert buffer.counters.stamp_outliers == 0


def test_latest_and_empty_buffer() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits())
    assert buffer.latest() is None and len(buffer) == 0 and buffer.snapshot() == [] and buffer.nbytes == 0
    fill(buffer, [1.0, 2.0])
    latest = buffer.latest()
    assert latest is not None and latest.stamp == 2.0 and latest.payload == "frame@2.000"


def test_snapshot_is_a_copy() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(min_interval=0.0))
    fill(buffer, [1.0, 2.0])
    snap = buffer.snapshot()
    fill(buffer, [3.0])
    snap.clear()
    assert len(buffer) == 3


# --------------------------------------------------------------------------------------------- threads


def test_concurrent_offers_and_snapshots_stay_consistent() -> None:
    """Four camera threads offer while a goal thread snapshots: no exception, counters add up, every
    snapshot is bounded and oldest-first."""
    limits = BufferLimits(max_seconds=1e9, max_frames=50, max_bytes=0, min_interval=0.0)
    buffer: FrameBuffer[int] = FrameBuffer(limits)
    writers, per_writer = 4, 2000
    start = threading.Barrier(writers + 1)
    done = threading.Event()
    errors: list[Exception] = []
    snapshots = 0

    def write(k: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                # stamps interleave across threads but never fall more than the jump tolerance behind
                buffer.offer(i * 1e-4, k * per_writer + i, 10, received=float(i))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    def read() -> None:
        nonlocal snapshots
        try:
            start.wait()
            while not done.is_set():
                snap = buffer.snapshot()
                assert len(snap) <= limits.max_frames
                stamps = [f.stamp for f in snap]
                assert stamps == sorted(stamps)
                buffer.arrival_rate(now=1.0)
                snapshots += 1
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    reader = threading.Thread(target=read)
    for t in threads + [reader]:
        t.start()
    for t in threads:
        t.join(timeout=60)
    done.set()
    reader.join(timeout=60)
    assert not errors, errors
    assert snapshots > 0
    c = buffer.counters
    assert c.received == writers * per_writer
    assert c.stored + c.thinned == c.received
    assert c.time_jumps == 0
    assert c.stored - c.evicted == len(buffer) <= limits.max_frames
    assert buffer.nbytes == sum(f.nbytes for f in buffer.snapshot()) == 10 * len(buffer)


# ---------------------------------------------------------------------------------------------- arrival rate


def test_arrival_rate_measures_offered_frames_including_thinned() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(min_interval=0.5))
    for i in range(91):  # 30 Hz for 3 s, most of them thinned
        buffer.offer(i / 30.0, "x", 1, received=1000.0 + i / 30.0)
    assert buffer.arrival_rate(now=1003.0) == pytest.approx(30.0, rel=0.02)
    assert buffer.arrival_rate(now=1003.0, horizon=1.0) == pytest.approx(30.0, rel=0.05)
    assert buffer.arrival_rate(now=1020.0) == 0.0  # the camera went silent
    assert FrameBuffer(BufferLimits()).arrival_rate(now=5.0) == 0.0


# ------------------------------------------------------------------------------------------- sample_times


def test_sample_times_spacing_window_and_order() -> None:
    times = sample_times(end=10.0, history_seconds=2.0, max_frames=100, fps=4.0)
    assert times == pytest.approx([8.0 + 0.25 * k for k in range(9)])
    assert times == sorted(times)


def test_sample_times_max_frames_keeps_the_newest_and_the_rate() -> None:
    times = sample_times(end=10.0, history_seconds=5.0, max_frames=4, fps=2.0)
    assert times == pytest.approx([8.5, 9.0, 9.5, 10.0])


@pytest.mark.parametrize("args,expected", [
    ((10.0, 0.0, 8, 4.0), [10.0]),  # no history: just the newest
    ((10.0, 2.0, 0, 4.0), []),
    ((10.0, 2.0, 8, 0.0), []),
    ((10.0, -1.0, 8, 4.0), []),
    ((10.0, 0.99, 8, 1.0), [10.0]),
])
def test_sample_times_edge_cases(args: tuple, expected: list[float]) -> None:
    assert sample_times(*args) == pytest.approx(expected)


# ------------------------------------------------------------------------------------------- pick_nearest


def test_pick_nearest_within_tolerance_only() -> None:
    frames = frames_at([1.0, 2.0, 3.0])
    chosen = pick_nearest(frames, [1.05, 2.2, 5.0], tolerance=0.1)
    assert [f.stamp for f in chosen] == [1.0]


def test_pick_nearest_never_repeats_a_frame() -> None:
    frames = frames_at([0.0, 1.0, 2.0])
    chosen = pick_nearest(frames, [0.95, 1.0, 1.05], tolerance=0.5)
    stamps = [f.stamp for f in chosen]
    assert len(stamps) == len(set(stamps))
    assert stamps == [1.0]  # the others have no unused frame within 0.5 s
    chosen = pick_nearest(frames, [0.9, 1.1], tolerance=1.0)
    assert [f.stamp for f in chosen] == [0.0, 1.0] or [f.stamp for f in chosen] == [1.0, 2.0]


def test_pick_nearest_returns_oldest_first_and_handles_empty() -> None:
    frames = frames_at([0.0, 0.5, 1.0, 1.5])
    assert [f.stamp for f in pick_nearest(frames, [1.5, 0.0, 1.0], tolerance=0.01)] == [0.0, 1.0, 1.5]
    assert pick_nearest([], [1.0], tolerance=1.0) == []
    assert pick_nearest(frames, [], tolerance=1.0) == []


# ----------------------------------------------------------------------------------------- select_aligned


def test_select_aligned_two_cameras_with_different_rates_and_offsets() -> None:
    """30 Hz head camera and 10 Hz wrist camera offset by 37 ms, wrist ending earlier: the grid ends at
    the wrist's newest stamp, and both cameras get one frame per grid time within half a period."""
    head = frames_at([100.0 + i / 30.0 for i in range(301)])  # 100.000 .. 110.000
    wrist = frames_at([100.037 + i / 10.0 for i in range(99)])  # 100.037 .. 109.837
    fps, history, max_frames = 4.0, 2.0, 16
    end, chosen = select_aligned({"head": head, "wrist": wrist}, history, max_frames, fps)
    assert end == pytest.approx(wrist[-1].stamp)
    grid = sample_times(end, history, max_frames, fps)
    assert len(grid) == 9
    for name in ("head", "wrist"):
        frames = chosen[name]
        assert len(frames) == len(grid), name
        assert [f.stamp for f in frames] == sorted(f.stamp for f in frames)
        for frame, t in zip(frames, grid, strict=False):
            assert abs(frame.stamp - t) <= 0.5 / fps + 1e-9, (name, frame.stamp, t)
    assert chosen["wrist"][-1].stamp == wrist[-1].stamp
    assert abs(chosen["head"][-1].stamp - end) <= 1 / 60.0 + 1e-9  # nearest head frame to the grid end


def test_select_aligned_camera_without_nearby_frames_gets_nothing() -> None:
    head = frames_at([10.0 + i * 0.1 for i in range(21)])  # 10 .. 12
    stale = frames_at([1.0, 1.1])
    end, chosen = select_aligned({"head": head, "stale": stale, "empty": []}, 1.0, 8, 4.0)
    assert end == pytest.approx(1.1)  # the oldest newest stamp
    assert chosen["empty"] == [] and chosen["head"] == []
    assert [f.stamp for f in chosen["stale"]] == pytest.approx([1.1])  # 1.0 is 0.15 s from the 0.85 s grid time


def test_select_aligned_with_no_frames_at_all() -> None:
    assert select_aligned({"a": [], "b": []}, 2.0, 8, 4.0) == (0.0, {"a": [], "b": []})


# ------------------------------------------------------------------------------------------ choose_decodable


def decoder(bad: set[float]):
    """A decode stand-in: frames whose stamp is in ``bad`` fail (None), the others decode to their payload;
    records every attempt."""
    attempts: list[float] = []

    def decode(frame: BufferedFrame[str]):
        attempts.append(frame.stamp)
        return None if frame.stamp in bad else frame.payload

    return decode, attempts


def test_choose_decodable_takes_the_grid_frames_when_all_decode() -> None:
    frames = frames_at([i * 0.1 for i in range(41)])  # 10 Hz, 0..4 s
    grid = time_grid([4.0], history_seconds=2.0, max_frames=5, fps=2.0)
    decode, attempts = decoder(set())
    choice = choose_decodable(frames, grid, decode)
    assert [f.stamp for f, _ in choice.frames] == pytest.approx([2.0, 2.5, 3.0, 3.5, 4.0])
    assert choice.failed == [] and choice.off_grid == 0 and len(attempts) == 5


def test_choose_decodable_replaces_undecodable_frames_by_their_nearest_neighbours() -> None:
    stamps = [round(i * 0.1, 3) for i in range(41)]
    bad = {2.0, 2.5, 3.0, 2.9, 3.1, 4.0}  # grid frames and their neighbours
    decode, _ = decoder(bad)
    choice = choose_decodable(frames_at(stamps), time_grid([4.0], 2.0, 5, 2.0), decode)
    got = [f.stamp for f, _ in choice.frames]
    assert len(got) == 5 and not set(got) & bad
    # each target's replacement is its nearest decodable neighbour (ties go to the older frame)
    assert got == pytest.approx([1.9, 2.4, 2.8, 3.5, 3.9]), got
    assert {f.stamp for f in choice.failed} <= bad


def test_choose_decodable_fills_from_anywhere_in_the_window_when_the_tolerance_has_only_bad_frames() -> None:
    stamps = [0.0, 0.5, 1.0, 1.5, 2.0]  # 2 Hz, exactly on a 2 Hz grid
    decode, _ = decoder({1.0})
    choice = choose_decodable(frames_at(stamps), time_grid([2.0], 2.0, 5, 2.0), decode)
    assert [f.stamp for f, _ in choice.frames] == [0.0, 0.5, 1.5, 2.0]  # 4 decodable frames in the window
    assert [f.stamp for f in choice.failed] == [1.0]


def test_choose_decodable_never_leaves_the_window_and_gives_nothing_when_all_fail() -> None:
    frames = frames_at([i * 0.1 for i in range(41)])
    decode, attempts = decoder({round(i * 0.1, 3) for i in range(41)} | {i * 0.1 for i in range(41)})
    choice = choose_decodable(frames, time_grid([4.0], 1.0, 3, 2.0), decode)
    assert choice.frames == []
    assert all(2.75 - 1e-9 <= t <= 4.25 for t in attempts)  # window = end - history - tolerance .. end
    assert len(set(attempts)) == len(attempts)  # each frame tried once


def test_choose_decodable_with_a_camera_slower_than_the_grid_uses_every_frame_once() -> None:
    frames = frames_at([0.0, 1.0, 2.0, 3.0, 4.0])  # 1 Hz under a 2 Hz grid of 9 targets
    decode, _ = decoder(set())
    choice = choose_decodable(frames, time_grid([4.0], 4.0, 9, 2.0), decode)
    assert [f.stamp for f, _ in choice.frames] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_alternates_stand_in_for_stored_frames_that_fail_to_decode() -> None:
    """Valid and broken frames alternate at 20 Hz under a 10 Hz store rate: the bucket stores every other
    one, so (this phase) only broken ones. Kept alternates give every target a decodable frame anyway."""
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=1000, min_interval=0.1,
                                                        keep_alternates=True))
    for k in range(41):
        buffer.offer(k * 0.05, "bad" if k % 2 == 0 else "good", 10, received=k * 0.05)
    stored = buffer.snapshot()
    assert {f.payload for f in stored} == {"bad"} and len(stored) == 21
    everything = buffer.snapshot(alternates=True)
    assert len(everything) == 41 and {f.payload for f in everything if f.alternate} == {"good"}
    assert buffer.nbytes == 41 * 10 and buffer.counters.stored == 21  # alternates count in bytes, not as stored
    choice = choose_decodable(everything, time_grid([stored[-1].stamp], 1.0, 3, 2.0),
                              lambda f: None if f.payload == "bad" else f.payload)
    assert [p for _, p in choice.frames] == ["good"] * 3
    assert [f.stamp for f, _ in choice.frames] == pytest.approx([0.95, 1.45, 1.95])  # ties: the older
    assert all(buffer.discard(f) for f in choice.failed)
    # each discarded frame's alternate took its place: the buffer still ends near the same stamp
    assert len(buffer) == 20 and buffer.latest().stamp == pytest.approx(1.95)  # 2.0 had no alternate yet
    promoted = [f for f in buffer.snapshot() if f.payload == "good"]
    assert len(promoted) == len(choice.failed) - 1 and not any(f.alternate for f in promoted)


def test_alternates_are_evicted_with_their_frame_and_unused_when_frames_decode() -> None:
    buffer: FrameBuffer[str] = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=3, min_interval=0.1,
                                                        keep_alternates=True))
    for k in range(40):
        buffer.offer(k * 0.05, f"f{k}", 10, received=k * 0.05)
    assert len(buffer) == 3 and len(buffer.snapshot(alternates=True)) == 6 and buffer.nbytes == 60
    choice = choose_decodable(buffer.snapshot(alternates=True), time_grid([buffer.latest().stamp], 1.0, 3, 10.0),
                              lambda f: f.payload)
    assert not any(f.alternate for f, _ in choice.frames)
