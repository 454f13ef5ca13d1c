"""A goal's frames: what it may ask for, the buffer limits that must agree with that, and collecting its clips.

The rules, written once here (README, "Cameras and the frame buffer"):

* Cameras: unknown names are INVALID_GOAL; a name given twice is merged (its frames go to the model
  once) and the plan says so in a warning. No cameras = every configured camera.
* History: ``history_seconds`` may not exceed what the buffer holds at the store rate, ``buffer_span()``
  (with the defaults 10 s), else INVALID_GOAL; 0 = ``frames.history_seconds``, cut to that span (with a
  warning) if it is longer. ``max_frames`` (0 =
  ``frames.max_frames``) may not exceed ``buffer.max_frames``, else INVALID_GOAL. A ``max_frames`` larger
  than the window gives at ``frames.fps`` (history × fps + 1) succeeds with a warning that says so.
* When a camera yields fewer frames than the grid asks for (the camera started moments ago, frames that
  would not decode, a camera slower than ``frames.fps``, a byte cap), the goal still succeeds with the
  frames there are; the plan carries a warning with the count and the reason, and the node logs it once
  per camera. NO_FRAMES only when a camera has no decodable frame in the window.

Nothing here imports rclpy: cameras come in as ``camera_ingest.Camera`` objects (duck-typed), the clock
and the logger as callables, so the choices are testable without a node.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cosmos_reason_ros.core.datatypes import CameraClip
from cosmos_reason_ros.core.errors import InvalidRequestError, NoFramesError, StaleFramesError
from cosmos_reason_ros.core.frames.buffer import BufferLimits, choose_decodable, time_grid

if TYPE_CHECKING:
    from cosmos_reason_ros.ros.cameras.ingest import Camera
    from cosmos_reason_ros.ros.node.parameters import Settings


#: How far (in grid steps, 1/frames.fps) a target takes a frame already in the frame cache before a nearer one.
STICK_STEPS = 0.25


def buffer_limits(s: Settings) -> BufferLimits:
    """The per-camera buffer bounds from the ``buffer.*`` parameters."""
    return BufferLimits(max_seconds=s.buffer_seconds, max_frames=s.buffer_max_frames,
                        max_bytes=int(s.buffer_max_megabytes * 2**20),
                        min_interval=1.0 / s.buffer_store_rate if s.buffer_store_rate > 0 else 0.0)


def buffer_span(limits: BufferLimits) -> float:
    """Seconds of history one camera's buffer can hold: ``buffer.seconds``, unless ``buffer.max_frames``
    at the store rate covers less (without a store rate, the frame cap depends on the camera: not counted)."""
    if limits.min_interval <= 0:
        return limits.max_seconds
    return min(limits.max_seconds, (limits.max_frames - 1) * limits.min_interval)


def check_limits(s: Settings) -> list[str]:
    """Start-up check that the buffer parameters agree with what goals may ask for; the problems, as text."""
    limits = buffer_limits(s)
    problems = []
    span = buffer_span(limits)
    if span < limits.max_seconds - 1e-9:
        needed = math.ceil(limits.max_seconds * s.buffer_store_rate) + 1
        problems.append(
            f"buffer.max_frames {limits.max_frames} at buffer.store_rate {s.buffer_store_rate:g} Hz holds only "
            f"{span:.1f} s of the {limits.max_seconds:g} s of buffer.seconds; goals may ask for at most "
            f"{span:.1f} s of history (set buffer.max_frames to {needed} to hold it all)")
    if s.frames_history_seconds > span + 1e-9:
        problems.append(f"frames.history_seconds {s.frames_history_seconds:g} is more than the buffer holds "
                        f"({span:.1f} s): goals that keep the default get {span:.1f} s")
    if s.frames_max_frames > limits.max_frames:
        problems.append(f"frames.max_frames {s.frames_max_frames} exceeds buffer.max_frames {limits.max_frames}: "
                        "goals that keep the default are refused")
    if 0 < s.buffer_store_rate < s.frames_fps:
        problems.append(f"frames.fps {s.frames_fps:g} is above buffer.store_rate {s.buffer_store_rate:g}: clips "
                        "get at most the store rate")
    return problems


@dataclass
class FrameRequest:
    """What one goal asks of the cameras, defaults applied and checked."""

    cameras: list[str]  # configured names, each once, in the goal's order
    history_seconds: float
    max_frames: int
    fps: float
    notes: dict[str, list[str]] = field(default_factory=dict)  # per camera: warnings known before collecting



def frame_request(goal: Any, s: Settings, configured: Sequence[str]) -> FrameRequest:
    """Check a goal's ``cameras``, ``history_seconds`` and ``max_frames`` (INVALID_GOAL with the reason)."""
    unknown = [c for c in goal.cameras if c not in configured]
    if unknown:
        raise InvalidRequestError(f"unknown camera(s) {unknown}; configured: {sorted(configured)}")
    names = list(dict.fromkeys(goal.cameras)) or list(configured)
    notes: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        count = list(goal.cameras).count(name)
        if count > 1:
            notes[name].append(f"camera {name} was named {count} times in the goal; its frames are sent once")
    limits = buffer_limits(s)
    span = buffer_span(limits)
    if not 0.0 <= goal.history_seconds <= span + 1e-9:
        raise InvalidRequestError(
            f"history_seconds {goal.history_seconds} is outside 0..{span:.1f}: the buffer holds {span:.1f} s "
            f"(buffer.seconds {s.buffer_seconds:g}, buffer.max_frames {s.buffer_max_frames} at "
            f"buffer.store_rate {s.buffer_store_rate:g} Hz)")
    if not 0 <= goal.max_frames <= s.buffer_max_frames:
        raise InvalidRequestError(f"max_frames {goal.max_frames} exceeds buffer.max_frames {s.buffer_max_frames}")
    request = FrameRequest(names, goal.history_seconds or s.frames_history_seconds,
                           goal.max_frames or s.frames_max_frames, s.frames_fps, notes)
    if request.history_seconds > span + 1e-9:  # the default, not the goal, asks too much: use what there is
        for name in names:
            notes[name].append(f"camera {name}: frames.history_seconds {request.history_seconds:g} is more than the "
                               f"buffer holds; used {span:.1f} s")
        request.history_seconds = span
    rate = min(s.frames_fps, s.buffer_store_rate) if s.buffer_store_rate > 0 else s.frames_fps
    window = int(request.history_seconds * rate + 1e-9) + 1
    if request.max_frames > window:
        for name in names:
            notes[name].append(f"camera {name}: asked for {request.max_frames} frames; {request.history_seconds:g} s "
                               f"at {rate:g} Hz (frames.fps{', buffer.store_rate' if rate < s.frames_fps else ''}) "
                               f"holds at most {window}")
    return request


def wait_for_frames(cameras: Sequence[Camera], s: Settings, deadline: float, stop: threading.Event,
                    on_stop: Callable[[str], None], now: Callable[[], float]) -> None:
    """Wait (up to ``frames.wait_timeout``) until every camera has a frame no older than ``frames.stale_after``."""
    until = min(time.monotonic() + s.frames_wait_timeout, deadline)
    while True:
        t = now()
        missing = [c.name for c in cameras if c.buffer.latest() is None]
        stale = [] if s.frames_stale_after <= 0 else [
            (c.name, t - c.buffer.latest().stamp) for c in cameras
            if c.name not in missing and t - c.buffer.latest().stamp > s.frames_stale_after]
        if not missing and not stale:
            return
        if stop.is_set():
            on_stop("while waiting for frames")
        if time.monotonic() >= until:
            if missing:
                raise NoFramesError(f"no frames from camera(s) {missing} within {s.frames_wait_timeout:.1f} s")
            detail = ", ".join(f"{n} {age:.1f} s old" for n, age in stale)
            raise StaleFramesError(f"stale camera(s): {detail} (frames.stale_after {s.frames_stale_after} s)")
        time.sleep(0.02)


def collect_clips(cameras: Mapping[str, Camera], request: FrameRequest, s: Settings, deadline: float,
                  stop: threading.Event, on_stop: Callable[[str], None], now: Callable[[], float],
                  warn: Callable[[str], Any]) -> list[CameraClip]:
    """Wait for fresh frames from every requested camera, choose them on one time grid, decode them.

    Frames that fail to decode are replaced by the nearest decodable ones in the window
    (``choose_decodable``); a shortfall becomes a warning in the clip (and one log line per camera).
    """
    from cosmos_reason_ros.ros.cameras.ingest import (
        FrameDecoder,  # rclpy-free callers pass cameras that never need it imported
    )

    chosen = [cameras[n] for n in request.cameras]
    wait_for_frames(chosen, s, deadline, stop, on_stop, now)
    snapshots = {c.name: c.buffer.snapshot(alternates=True) for c in chosen}  # stand-ins for undecodable frames
    stored = {name: [f for f in frames if not f.alternate] for name, frames in snapshots.items()}
    grid = time_grid([frames[-1].stamp for frames in stored.values() if frames], request.history_seconds,
                     request.max_frames, request.fps)
    clips, empty = [], []
    for camera in chosen:
        frames = stored[camera.name]
        decoder = FrameDecoder(camera, s.video_max_frame_pixels, warn)
        # With the frame cache, targets stick to frames an earlier goal or check prepared, within a quarter of the
        # grid step: consecutive requests then share frames although the grid moves with the newest frame.
        choice = choose_decodable(snapshots[camera.name], grid, decoder,
                                  prefer=decoder.cached if camera.frame_cache is not None else None,
                                  stick=STICK_STEPS / request.fps if request.fps > 0 else 0.0)
        warnings = list(request.notes.get(camera.name, []))
        shortfall = shortfall_reason(frames, grid, len(choice.frames), len(choice.failed))
        if shortfall:
            warnings.append(f"camera {camera.name}: {len(choice.frames)} of {len(grid.targets)} frames: {shortfall}")
            camera.warn_once("short_clip", f"{warnings[-1]} (logged once per camera)", warn)
        elif choice.failed:
            warnings.append(f"camera {camera.name}: skipped {len(choice.failed)} undecodable frame(s); took the "
                            "nearest decodable ones instead")
        if not choice.frames:
            empty.append(camera.name)
        clips.append(CameraClip(camera=camera.name, frames=[pixels for _, pixels in choice.frames],
                                frame_id=camera.frame_id, warnings=warnings))
    if empty:
        raise NoFramesError(f"no decodable frames from camera(s) {empty} in the last {request.history_seconds:.1f} s")
    return clips


def shortfall_reason(frames: Sequence[Any], grid: Any, got: int, failed: int) -> str | None:
    """Why a camera gave ``got`` frames for a grid that asks more, or None when it gave them all."""
    if got >= len(grid.targets):
        return None
    reasons = []
    if failed:
        reasons.append(f"{failed} frame(s) in the window would not decode")
    if frames and frames[0].stamp > grid.start + grid.tolerance:
        reasons.append(f"the buffer reaches back only {grid.end - frames[0].stamp:.1f} s of the "
                       f"{grid.history_seconds:g} s asked (the camera started recently, or buffer.max_frames / "
                       "buffer.max_megabytes hold less)")
    if not reasons:
        in_window = sum(1 for f in frames if grid.start <= f.stamp <= grid.end + grid.tolerance)
        reasons.append(f"the window holds {in_window} frame(s): the camera delivers fewer than frames.fps")
    return "; ".join(reasons)
