"""A goal's frames without a node: what it may ask for, the start-up check of the buffer limits, and
collecting clips from real camera buffers holding real sensor_msgs frames (some of them undecodable)."""
from __future__ import annotations

import dataclasses
import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from cosmos_reason_ros.core.errors import InvalidRequestError, NoFramesError
from cosmos_reason_ros.core.frames.buffer import FrameBuffer
from cosmos_reason_ros.ros.cameras import clips as clip_collection
from cosmos_reason_ros.ros.cameras.ingest import Camera
from cosmos_reason_ros.ros.node.parameters import PARAMETERS, CameraConfig

DEFAULTS = {spec.name.replace(".", "_"): spec.default for spec in PARAMETERS}


def settings(**changes) -> SimpleNamespace:
    """The parameter defaults as a Settings-like object (the fields clip_collection reads)."""
    return SimpleNamespace(**{**DEFAULTS, **changes})


def goal(cameras=(), history_seconds=0.0, max_frames=0) -> SimpleNamespace:
    return SimpleNamespace(cameras=list(cameras), history_seconds=history_seconds, max_frames=max_frames)


def jpeg(index: int, broken: bool = False) -> CompressedImage:
    pixels = np.full((48, 64, 3), index % 256, np.uint8)
    data = bytearray(cv2.imencode(".jpg", pixels)[1].tobytes())
    if broken:  # passes the container checks, fails to decode
        data[data.index(b"\xff\xda") + 5] = 0x7F
    return CompressedImage(format="jpeg", data=bytes(data))


def camera(stamps, broken=(), s=None) -> Camera:
    """A compressed camera whose buffer holds a JPEG at every stamp (broken ones where asked)."""
    cam = Camera(CameraConfig("cam", "cam/image_raw/compressed", True),
                 FrameBuffer(clip_collection.buffer_limits(s or settings(buffer_store_rate=0.0))))
    for i, t in enumerate(stamps):
        msg = jpeg(i, broken=round(t, 3) in broken)
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
        cam.buffer.offer(t, msg, len(msg.data), received=time.monotonic())
    return cam


def collect(cameras, request, s, now):
    warnings: list[str] = []

    def stopped(where):
        raise AssertionError(f"stopped {where}")

    clips = clip_collection.collect_clips({c.name: c for c in cameras}, request, s, time.monotonic() + 10,
                                          threading.Event(), stopped, lambda: now, warnings.append)
    return clips, warnings


def test_default_limits_agree():
    assert clip_collection.check_limits(settings()) == []
    limits = clip_collection.buffer_limits(settings())
    assert clip_collection.buffer_span(limits) == pytest.approx(10.0)


def test_start_up_check_names_what_disagrees():
    problems = clip_collection.check_limits(settings(buffer_max_frames=64))
    assert len(problems) == 1 and "holds only 6.3 s" in problems[0] and "buffer.max_frames to 101" in problems[0]
    problems = clip_collection.check_limits(settings(buffer_max_frames=21, frames_max_frames=30, frames_fps=20.0))
    assert len(problems) == 4  # span, default history beyond it, default frame count, fps above store rate


def test_frame_request_rules():
    s = settings()
    request = clip_collection.frame_request(goal(), s, ["front", "wrist"])
    assert (request.cameras, request.history_seconds, request.max_frames) == (["front", "wrist"], 4.0, 8)
    merged = clip_collection.frame_request(goal(["wrist", "front", "wrist"]), s, ["front", "wrist"])
    assert merged.cameras == ["wrist", "front"] and "named 2 times" in merged.notes["wrist"][0]
    with pytest.raises(InvalidRequestError, match="unknown camera"):
        clip_collection.frame_request(goal(["rear"]), s, ["front"])
    with pytest.raises(InvalidRequestError, match="buffer holds 6.3 s"):
        clip_collection.frame_request(goal(history_seconds=7.0), settings(buffer_max_frames=64), ["front"])
    with pytest.raises(InvalidRequestError, match="max_frames 200"):
        clip_collection.frame_request(goal(max_frames=200), s, ["front"])
    cut = clip_collection.frame_request(goal(), settings(buffer_max_frames=21), ["front"])  # default 4 s > 2 s
    assert cut.history_seconds == pytest.approx(2.0) and "used 2.0 s" in cut.notes["front"][0]
    many = clip_collection.frame_request(goal(max_frames=40, history_seconds=10.0), s, ["front"])
    assert "asked for 40 frames; 10 s at 2 Hz (frames.fps) holds at most 21" in many.notes["front"][0]


def test_undecodable_frames_are_replaced_and_reported():
    stamps = [round(i * 0.1, 3) for i in range(41)]  # 10 Hz, 0..4 s
    broken = {2.0, 3.0, 4.0, 3.9}
    cam = camera(stamps, broken)
    s = settings(buffer_store_rate=0.0)
    clips, log = collect([cam], clip_collection.frame_request(goal(history_seconds=2.0, max_frames=5), s, ["cam"]),
                         s, now=4.0)
    got = [round(f.stamp, 3) for f in clips[0].frames]
    assert len(got) == 5 and not set(got) & broken
    assert cam.decode_failures == 4 and cam.buffer.counters.discarded == 4  # each broken frame tried once
    assert any("skipped 4 undecodable" in w for w in clips[0].warnings), clips[0].warnings
    clips, _ = collect([cam], clip_collection.frame_request(goal(history_seconds=2.0, max_frames=5), s, ["cam"]),
                       s, now=4.0)
    assert cam.decode_failures == 4 and clips[0].warnings == []  # discarded: the next goal does not meet them
    assert len(log) == 1 and "cannot decode" in log[0]  # logged once


def test_no_frames_only_when_the_window_has_no_decodable_frame():
    stamps = [round(i * 0.1, 3) for i in range(41)]
    s = settings(buffer_store_rate=0.0)
    request = clip_collection.frame_request(goal(history_seconds=1.0, max_frames=3), s, ["cam"])
    cam = camera(stamps, broken={t for t in stamps if t >= 2.7})  # everything in the 1 s window is broken
    with pytest.raises(NoFramesError, match="no decodable frames"):
        collect([cam], request, s, now=4.0)
    cam = camera(stamps, broken={t for t in stamps if t >= 2.7 and t != 3.3})  # one good frame left
    clips, _ = collect([cam], request, s, now=4.0)
    assert [round(f.stamp, 3) for f in clips[0].frames] == [3.3]
    assert "1 of 3 frames" in clips[0].warnings[-1] and "would not decode" in clips[0].warnings[-1]


def test_a_camera_that_just_started_gives_fewer_frames_with_the_reason_logged_once():
    s = settings(buffer_store_rate=0.0)
    cam = camera([10.0 + i * 0.1 for i in range(6)])  # half a second of frames
    request = clip_collection.frame_request(goal(), s, ["cam"])  # 4 s at 2 fps: 8 frames
    for _ in range(3):
        clips, log = collect([cam], request, s, now=10.5)
        assert len(clips[0].frames) == 2
        assert "2 of 8 frames" in clips[0].warnings[-1] and "reaches back only 0.5 s" in clips[0].warnings[-1]
    assert "short_clip" in cam.warned  # the node logs it once per camera, not once per goal


def test_frame_choice_reports_exact_stamps():
    s = settings(buffer_store_rate=0.0)
    cam = camera([1.0, 1.5, 2.0])
    clips, _ = collect([cam], clip_collection.frame_request(goal(history_seconds=1.0, max_frames=3), s, ["cam"]),
                       s, now=2.0)
    assert [f.stamp_ns for f in clips[0].frames] == [1_000_000_000, 1_500_000_000, 2_000_000_000]
    assert dataclasses.is_dataclass(clips[0]) and clips[0].warnings == []


def test_a_camera_whose_stored_frames_are_all_broken_still_gives_valid_frames():
    """Broken and valid JPEGs alternate at 20 Hz under buffer.store_rate 10: every stored frame is a broken
    one. The thinned frame kept beside each (a compressed camera's alternate) stands in for it."""
    s = settings()
    limits = dataclasses.replace(clip_collection.buffer_limits(s), keep_alternates=True)
    cam = Camera(CameraConfig("cam", "cam/image_raw/compressed", True), FrameBuffer(limits))
    for k in range(81):
        t = 100.0 + k * 0.05
        msg = jpeg(k, broken=k % 2 == 0)
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
        cam.buffer.offer(t, msg, len(msg.data), received=t)
    assert len(cam.buffer) == 41
    clips, _ = collect([cam], clip_collection.frame_request(goal(history_seconds=2.0, max_frames=5), s, ["cam"]),
                       s, now=104.0)
    assert len(clips[0].frames) == 5 and all(round(f.stamp * 20) % 2 == 1 for f in clips[0].frames)
    # every broken frame near a target was tried once, then dropped: the next goal goes straight to valid ones
    assert cam.decode_failures >= 5 and f"skipped {cam.decode_failures} undecodable" in clips[0].warnings[0]
    failures = cam.decode_failures
    clips, _ = collect([cam], clip_collection.frame_request(goal(history_seconds=1.0, max_frames=3), s, ["cam"]),
                       s, now=104.0)
    assert len(clips[0].frames) == 3 and cam.decode_failures - failures <= 3
