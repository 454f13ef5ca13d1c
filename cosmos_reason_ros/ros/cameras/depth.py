"""Depth cameras: aligned depth images and their CameraInfo, buffered per camera, and the 3D points of
located objects (``core.depth_projection`` does the arithmetic).

A camera with ``cameras.<name>.depth_topic`` gets two more subscriptions on the camera companion node
(``camera_ingest``): the depth image (sensor_msgs/Image, 16UC1 in mm or 32FC1 in m; sensor-data QoS like
the colour topics) and its CameraInfo (``camera_info_topic``, default ``camera_info`` beside the depth
topic). Depth frames are kept like colour frames: the recent ones by stamp (``buffer.seconds``, at most
``MAX_DEPTH_FRAMES``), the message itself, decoded only when a goal's located object needs it. A located
object takes the depth image whose stamp is nearest to its colour frame's, within ``depth.max_offset``.
Anything missing gives the 2D result only, with the reason in ``position_status``.
"""
from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from cosmos_reason_ros.core.grounding.coordinates import ImageLocation
from cosmos_reason_ros.core.grounding.depth_projection import DepthSettings, Intrinsics, project_location
from cosmos_reason_ros.ros.cameras.image_conversion import image_rows
from cosmos_reason_ros.ros.conversions import stamp_ns

#: Depth images kept per camera at most (a 640x480 16UC1 image is 600 KB).
MAX_DEPTH_FRAMES = 64


def depth_to_metres(msg: Any) -> np.ndarray:
    """A depth sensor_msgs/Image → H×W float metres (16UC1/mono16 in mm, 32FC1 in m). Raises ValueError."""
    encoding = msg.encoding.lower()
    kinds = {"16uc1": (np.uint16, 2, 0.001), "mono16": (np.uint16, 2, 0.001), "32fc1": (np.float32, 4, 1.0)}
    if encoding not in kinds:
        raise ValueError(f"depth encoding {msg.encoding!r} is not supported (16UC1 in mm or 32FC1 in m)")
    dtype, size, scale = kinds[encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    held = len(msg.data)
    if h <= 0 or w <= 0 or step < w * size or held < step * h:
        raise ValueError(f"depth image {w}x{h} with step {step} holds {held} bytes")
    return image_rows(msg, size, dtype).reshape(h, w).astype(np.float64) * scale


@dataclass
class DepthCamera:
    """One colour camera's depth source: recent depth messages by stamp and the latest CameraInfo."""

    camera: str
    depth_topic: str
    info_topic: str
    keep_seconds: float
    frames: deque = field(default_factory=lambda: deque(maxlen=MAX_DEPTH_FRAMES))  # (stamp_ns, msg), by stamp
    info: Any | None = None
    received: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    warned: set = field(default_factory=set)

    def on_depth(self, msg: Any) -> None:
        stamp = stamp_ns(msg.header.stamp)
        with self.lock:
            self.received += 1
            if self.frames and stamp == self.frames[-1][0]:
                return  # repeated
            if self.frames and stamp < self.frames[-1][0]:
                self.frames.clear()  # time went back (a replayed bag, a restarted simulation): start over
            self.frames.append((stamp, msg))
            while self.frames and stamp - self.frames[0][0] > self.keep_seconds * 1e9:
                self.frames.popleft()

    def on_info(self, msg: Any) -> None:
        self.info = msg

    def nearest(self, stamp: int) -> tuple[Any | None, float]:
        """The buffered depth message nearest in stamp, and its offset in s (inf when none)."""
        with self.lock:
            stamps = [s for s, _ in self.frames]
            if not stamps:
                return None, float("inf")
            i = bisect_left(stamps, stamp)
            best = min((j for j in (i - 1, i) if 0 <= j < len(stamps)), key=lambda j: abs(stamps[j] - stamp))
            return self.frames[best][1], abs(stamps[best] - stamp) * 1e-9


class DepthIngest:
    """The depth subscriptions of every camera that has a depth topic."""

    def __init__(self, owner: Node, subscriber: Node, configs: Sequence[Any], qos: Any, keep_seconds: float) -> None:
        self.cameras: dict[str, DepthCamera] = {}
        log = owner.get_logger()
        for config in configs:
            if not config.depth_topic:
                continue
            camera = DepthCamera(config.name, owner.resolve_topic_name(config.depth_topic),
                                 owner.resolve_topic_name(config.camera_info_topic), keep_seconds)
            self.cameras[config.name] = camera
            subscriber.create_subscription(Image, camera.depth_topic, camera.on_depth, qos)
            subscriber.create_subscription(CameraInfo, camera.info_topic, camera.on_info, qos)
            log.info(f"camera {config.name}: depth {camera.depth_topic}, camera info {camera.info_topic}")


def settings_from(s: Any) -> tuple[DepthSettings, float]:
    """The depth sampling settings and the stamp tolerance (s) from the node's Settings."""
    return (DepthSettings(window=s.depth_window, box_fraction=s.depth_box_fraction, max_m=s.depth_max_range),
            s.depth_max_offset)


def add_positions(objects: Sequence[ImageLocation], depth: DepthIngest | None, s: Any,
                  warn: Callable[[str], Any]) -> None:
    """Set the 3D point (or the reason there is none) of every located object."""
    settings, tolerance = settings_from(s)
    decoded: dict[int, Any] = {}  # id(depth message) → metres (or the ValueError): each image decoded once
    for obj in objects:
        camera = depth.cameras.get(obj.camera) if depth is not None else None
        if camera is None:
            obj.position_status = (f"no depth camera configured for camera {obj.camera} "
                                   f"(cameras.{obj.camera}.depth_topic)")
            continue
        position_for(obj, camera, settings, tolerance, warn, decoded)


def _decoded(msg: Any, cache: dict[int, Any]) -> np.ndarray:
    if id(msg) not in cache:
        try:
            cache[id(msg)] = depth_to_metres(msg)
        except ValueError as e:
            cache[id(msg)] = e
    if isinstance(cache[id(msg)], ValueError):
        raise cache[id(msg)]
    return cache[id(msg)]


def position_for(obj: ImageLocation, camera: DepthCamera, settings: DepthSettings, tolerance: float,
                 warn: Callable[[str], Any], cache: dict[int, Any] | None = None) -> None:
    info = camera.info
    if info is None:
        obj.position_status = f"no CameraInfo received on {camera.info_topic}"
        return
    stamp = obj.stamp_ns if obj.stamp_ns is not None else round(obj.stamp * 1e9)
    msg, offset = camera.nearest(stamp)
    if msg is None:
        obj.position_status = f"no depth image received on {camera.depth_topic}"
        return
    if offset > tolerance:
        obj.position_status = (f"no depth image within {tolerance:.2f} s of the frame (nearest {offset:.3f} s away; "
                               "depth.max_offset)")
        return
    try:
        depth_m = _decoded(msg, {} if cache is None else cache)
    except ValueError as e:
        obj.position_status = f"unusable depth image: {e}"
        return
    if any(abs(d) > 1e-9 for d in info.d) and "distortion" not in camera.warned:
        camera.warned.add("distortion")
        warn(f"camera {obj.camera}: its depth CameraInfo has non-zero distortion; 3D points use K only (an aligned "
             "depth image is expected rectified)")
    k = Intrinsics.from_k(info.k, info.width, info.height)
    point, why = project_location(depth_m, k, obj.anchor, obj.box, obj.point is None,
                                  (obj.image_width, obj.image_height), settings)
    if point is None:
        obj.position_status = why
        return
    obj.position, obj.position_frame_id = point, msg.header.frame_id
    obj.position_stamp_ns, obj.position_status = stamp_ns(msg.header.stamp), ""


def depth_status(prefix: str, camera: DepthCamera, now_ns: int, stale_after: float) -> Any:
    """/diagnostics entry of one depth camera: WARN while no depth image, no CameraInfo or only stale images."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    with camera.lock:
        newest = camera.frames[-1] if camera.frames else None
        buffered = len(camera.frames)
    age = (now_ns - newest[0]) * 1e-9 if newest is not None else float("inf")
    if newest is None:
        message = "no depth images"
    elif camera.info is None:
        message = "no CameraInfo"
    elif age > stale_after:
        message = f"stale: newest depth image {age:.1f} s old"
    else:
        message = "ok"
    values = [KeyValue(key=k, value=str(v)) for k, v in (
        ("depth_topic", camera.depth_topic), ("camera_info_topic", camera.info_topic), ("received", camera.received),
        ("buffered", buffered), ("age_seconds", f"{age:.3f}" if newest is not None else "inf"),
        ("encoding", newest[1].encoding if newest is not None else ""), ("camera_info", camera.info is not None))]
    return DiagnosticStatus(level=DiagnosticStatus.OK if message == "ok" else DiagnosticStatus.WARN,
                            name=f"{prefix}: depth {camera.camera}", message=message, hardware_id=camera.depth_topic,
                            values=values)
