"""The frame cache never returns stale pixels: a changed frame, camera, size, family or budget misses, and what
``prepare_clips`` gives with the cache equals what it gives without it; the cache stays inside its bounds."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cosmos_reason_ros.core.datatypes import CameraClip, Frame
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.models.families import COSMOS3_EDGE, REASON1, REASON2

BUDGET = VideoBudget(max_visual_tokens=8192)


def frames(count: int, height: int = 479, width: int = 637, seed: int = 0, t0: float = 10.0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    return [Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), t0 + 0.5 * i, int((t0 + 0.5 * i) * 1e9))
            for i in range(count)]


def assert_same_clips(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.pixels.shape == b.pixels.shape
        assert np.array_equal(a.pixels, b.pixels)
        assert (a.timestamps, a.visual_tokens, a.content_height) == (b.timestamps, b.visual_tokens, b.content_height)


# ------------------------------------------------------------------------------------------------ the cache
def test_a_hit_needs_the_same_key_and_the_very_same_source_object() -> None:
    cache = FrameCache()
    source, twin = np.zeros(4, np.uint8), np.zeros(4, np.uint8)
    value = cache.store(("k",), source, np.ones(3, np.uint8))
    assert cache.lookup(("k",), source) is value
    assert cache.lookup(("k",), twin) is None  # equal content, another object: a replaced frame
    assert cache.lookup(("other",), source) is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.bytes) == (1, 2, 1, 3)
    assert not value.flags.writeable  # shared between requests: nobody may change it


def test_least_recently_used_goes_first_within_entries_and_bytes() -> None:
    cache = FrameCache(max_bytes=100, max_entries=3)
    sources = [object() for _ in range(5)]
    for i in range(3):
        cache.store(i, sources[i], np.zeros(10, np.uint8))
    assert cache.lookup(0, sources[0]) is not None  # 0 is now the most recent
    cache.store(3, sources[3], np.zeros(10, np.uint8))  # over 3 entries: 1 (least recent) goes
    assert cache.lookup(1, sources[1]) is None
    assert cache.lookup(0, sources[0]) is not None
    cache.store(4, sources[4], np.zeros(85, np.uint8))  # over 100 bytes: the oldest go until it fits
    stats = cache.stats()
    assert stats.bytes <= 100 and stats.entries <= 3 and stats.evictions >= 2
    assert cache.lookup(4, sources[4]) is not None


def test_a_value_larger_than_the_cache_is_not_kept_and_clear_empties_it() -> None:
    cache = FrameCache(max_bytes=8)
    source = object()
    cache.store("big", source, np.zeros(9, np.uint8))
    assert len(cache) == 0
    cache.store("small", source, np.zeros(8, np.uint8))
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0 and cache.stats().bytes == 0
    with pytest.raises(ValueError):
        FrameCache(max_bytes=-1)


# ------------------------------------------------------------------------------------ prepare_clips with it
@pytest.mark.parametrize("family", [REASON1, REASON2, COSMOS3_EDGE], ids=lambda f: f.name)
@pytest.mark.parametrize("shape", [(479, 637, 6), (1080, 1920, 5), (200, 123, 1), (480, 640, 8)])
def test_prepared_clips_with_the_cache_equal_those_without(family, shape) -> None:
    height, width, count = shape
    clip = CameraClip("front", frames(count, height, width))
    cache = FrameCache()
    want = prepare_clips([clip], family, BUDGET)
    first = prepare_clips([clip], family, BUDGET, cache=cache)
    again = prepare_clips([clip], family, BUDGET, cache=cache)
    assert_same_clips(first, want)
    assert_same_clips(again, want)
    assert cache.stats().hits == count  # the second request resized nothing
    assert all(source is not None and not source.flags.writeable for source in again[0].frame_sources)
    assert all(frame.pixels.flags.writeable for frame in clip.frames)  # the caller's arrays are left alone


def test_a_replaced_frame_changed_camera_size_family_or_budget_misses() -> None:
    cache = FrameCache()
    base = frames(4)
    prepare_clips([CameraClip("front", base)], REASON2, BUDGET, cache=cache)
    cases = {
        # the newest frame replaced by another image with the same stamp: a different decoded array
        "replaced frame": ([CameraClip("front", base[:3] + [dataclasses.replace(base[3], pixels=frames(
            1, seed=7, t0=base[3].stamp)[0].pixels)])], REASON2, BUDGET),
        "other camera": ([CameraClip("wrist", base)], REASON2, BUDGET),
        "other size": ([CameraClip("front", base)], REASON2, dataclasses.replace(BUDGET, max_frame_pixels=320 * 240)),
        "other family": ([CameraClip("front", base)], REASON1, BUDGET),
        "other budget": ([CameraClip("front", base)], REASON2, dataclasses.replace(BUDGET, max_visual_tokens=4096)),
    }
    for name, (clips, family, budget) in cases.items():
        before = cache.stats()
        got = prepare_clips(clips, family, budget, cache=cache)
        after = cache.stats()
        assert_same_clips(got, prepare_clips(clips, family, budget))
        expected_misses = 1 if name == "replaced frame" else 4
        assert after.misses - before.misses == expected_misses, name
    # the replaced frame's pixels, not the cached ones of the frame it replaced
    replaced = cases["replaced frame"][0][0]
    again = prepare_clips([replaced], REASON2, BUDGET, cache=cache)
    original = prepare_clips([CameraClip("front", base)], REASON2, BUDGET)[0]
    assert not np.array_equal(again[0].pixels[3], original.pixels[3])


def test_the_timestamp_strip_is_drawn_per_request_never_cached() -> None:
    """Reason1 writes each frame's time since the clip's first frame under it: the same frame in a later window
    (another t0) gets another strip, while its content rows come from the cache."""
    cache = FrameCache()
    window = frames(6)
    first = prepare_clips([CameraClip("front", window[:4])], REASON1, BUDGET, cache=cache)[0]
    later = prepare_clips([CameraClip("front", window[2:])], REASON1, BUDGET, cache=cache)[0]
    assert first.timestamp_overlay and first.content_height < first.pixels.shape[1]
    rows = first.content_height
    assert np.array_equal(first.pixels[2, :rows], later.pixels[0, :rows])  # the same frame's content
    assert not np.array_equal(first.pixels[2, rows:], later.pixels[0, rows:])  # 1.00s vs 0.00s
    assert later.frame_sources[0] is first.frame_sources[2]
    assert_same_clips([later], prepare_clips([CameraClip("front", window[2:])], REASON1, BUDGET))
