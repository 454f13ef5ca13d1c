"""Decoding through the cameras' frame cache: a frame chosen by two requests is decoded once (JPEGs reduced
at decode included), a replaced message or another pixel cap never returns the earlier pixels, and what comes
out equals a decode without the cache."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from cosmos_reason_ros.core.frames.buffer import FrameBuffer
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.ros.cameras import clips as clip_collection
from cosmos_reason_ros.ros.cameras.ingest import Camera
from cosmos_reason_ros.ros.node.parameters import PARAMETERS, CameraConfig

DEFAULTS = {spec.name.replace(".", "_"): spec.default for spec in PARAMETERS}


def settings(**changes) -> SimpleNamespace:
    return SimpleNamespace(**{**DEFAULTS, "buffer_store_rate": 0.0, **changes})


def jpeg(value: int, height: int, width: int, t: float) -> CompressedImage:
    rng = np.random.default_rng(value)
    pixels = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (9, 9), 0)
    msg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", pixels)[1].tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
    return msg


def camera(cache: FrameCache | None, height: int = 240, width: int = 320, count: int = 9,
           messages: dict[int, CompressedImage] | None = None) -> Camera:
    """A compressed camera with ``count`` JPEGs, 0.5 s apart; ``messages``: these message objects at those indices."""
    cam = Camera(CameraConfig("cam", "cam/image_raw/compressed", True), FrameBuffer(clip_collection.buffer_limits(
        settings())), frame_cache=cache)
    for i in range(count):
        t = 100.0 + 0.5 * i
        msg = (messages or {}).get(i) or jpeg(i, height, width, t)
        cam.buffer.offer(t, msg, len(msg.data), received=time.monotonic())
    return cam


def collect(cam: Camera, s: SimpleNamespace):
    request = clip_collection.frame_request(SimpleNamespace(cameras=[], history_seconds=0.0, max_frames=0), s,
                                            [cam.name])

    def stopped(where):
        raise AssertionError(f"stopped {where}")

    return clip_collection.collect_clips({cam.name: cam}, request, s, time.monotonic() + 10, threading.Event(),
                                         stopped, lambda: 104.0, lambda message: None)[0]


def test_a_frame_two_requests_choose_is_decoded_once_and_equals_an_uncached_decode() -> None:
    cache = FrameCache()
    cam = camera(cache)
    s = settings(frames_stale_after=0.0)
    first = collect(cam, s)
    misses = cache.stats().misses
    again = collect(cam, s)
    assert cache.stats().misses == misses and cache.stats().hits >= len(again.frames)
    assert all(a is b for a, b in zip(again.frames, first.frames, strict=True))  # the very frames decoded before
    plain = collect(camera(None), s)
    for cached, uncached in zip(again.frames, plain.frames, strict=True):
        assert np.array_equal(cached.pixels, uncached.pixels)
        assert (cached.stamp, cached.stamp_ns, cached.source_scale) == (uncached.stamp, uncached.stamp_ns,
                                                                          uncached.source_scale)
        assert not cached.pixels.flags.writeable


def test_reduced_jpeg_decodes_are_found_again_without_decoding_the_first_frame_whole() -> None:
    """A camera larger than the pixel cap has its JPEGs decoded at a reduction; the next request takes even its
    first frame from the cache (the reduction learned from the camera), at the size and scale it had."""
    cache = FrameCache()
    cam = camera(cache, height=960, width=1280)
    s = settings(frames_stale_after=0.0, video_max_frame_pixels=320 * 240)
    first = collect(cam, s)
    assert first.frames[1].source_scale > 1.0  # decoded reduced
    misses = cache.stats().misses
    again = collect(cam, s)
    assert cache.stats().misses == misses
    assert all(a is b for a, b in zip(again.frames, first.frames, strict=True))


def test_a_replaced_message_or_another_pixel_cap_is_decoded_again() -> None:
    cache = FrameCache()
    shared = {i: jpeg(i, 960, 1280, 100.0 + 0.5 * i) for i in range(9)}
    s = settings(frames_stale_after=0.0, video_max_frame_pixels=320 * 240)
    first = collect(camera(cache, messages=shared), s)
    # The same camera, the same stamps, but another message at the newest stamp: a different scene.
    replaced = {**shared, 8: jpeg(99, 960, 1280, 104.0)}
    cam = camera(cache, messages=replaced)
    again = collect(cam, s)
    assert not np.array_equal(again.frames[-1].pixels, first.frames[-1].pixels)
    assert np.array_equal(again.frames[0].pixels, first.frames[0].pixels)
    bigger = collect(cam, settings(frames_stale_after=0.0, video_max_frame_pixels=1280 * 960))
    assert bigger.frames[-1].pixels.shape[:2] == (960, 1280)
    assert bigger.frames[-1].source_scale == 1.0


def test_the_next_request_sticks_to_the_frames_the_last_one_prepared() -> None:
    """Stored at 10 Hz, sampled at 2 Hz: one stored frame later the grid's targets fall between the last request's
    frames. With the cache, every target but the newest takes the frame the last request prepared (0.1 s off, within
    a quarter step); the newest target still takes the newest frame. Without the cache, the nearest frames."""
    s = settings(frames_stale_after=0.0)
    for cache in (FrameCache(), None):
        cam = Camera(CameraConfig("cam", "cam/image_raw/compressed", True),
                     FrameBuffer(clip_collection.buffer_limits(s)), frame_cache=cache)

        for i in range(42):  # the last one arrives between the two requests
            if i == 41:
                first = [f.stamp for f in collect(cam, s).frames]
            msg = jpeg(i, 120, 160, 100.0 + 0.1 * i)
            cam.buffer.offer(100.0 + 0.1 * i, msg, len(msg.data), received=time.monotonic())
        second = [f.stamp for f in collect(cam, s).frames]
        assert second[-1] == pytest.approx(104.1)  # the newest frame, always
        if cache is not None:
            assert second[:-1] == first[:-1]  # the frames prepared for the last request
            assert cache.stats().hits == 7  # decoded once, for the last request
        else:
            assert all(abs(a - b) == pytest.approx(0.1) for a, b in zip(first, second, strict=True))
