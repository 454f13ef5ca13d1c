"""The cameras part: colour and depth subscriptions made at configure, their ring buffers, closed at cleanup.

Goals and watch checks read frames through ``current()`` (the ingest of the configuration in force), and the
diagnostics part asks ``status`` for one entry per colour and per depth camera, and one for the frame cache.

The frame cache (decoded and resized frames, shared by goals and watch checks) is built at configure and
dropped at cleanup, with the subscriptions whose messages it is keyed on.
"""
from __future__ import annotations

import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus

from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.ros.cameras import clips, depth
from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
from cosmos_reason_ros.ros.node import diagnostics
from cosmos_reason_ros.ros.node.parameters import SettingsSource, camera_configs


class CamerasPart:
    """Owns the camera ingest (its companion node, subscriptions and buffers) of the current configuration."""

    def __init__(self, node: Any, settings: SettingsSource) -> None:
        self._node = node
        self._settings = settings
        self.ingest: CameraIngest | None = None  # None while unconfigured
        self.topics: dict[str, str] = {}  # camera name → resolved topic (namespace and remappings applied)
        self.frame_cache: FrameCache | None = None  # None while unconfigured

    def configure(self) -> None:
        node, s = self._node, self._settings()
        for problem in clips.check_limits(s):
            node.get_logger().warning(problem)
        self.frame_cache = FrameCache()
        self.ingest = CameraIngest(node, camera_configs(node), clips.buffer_limits(s),
                                   reliable=s.qos_reliability == "reliable", depth=s.qos_depth,
                                   frame_cache=self.frame_cache)
        self.topics = {name: node.resolve_topic_name(camera.config.topic)
                       for name, camera in self.ingest.cameras.items()}

    def cleanup(self) -> None:
        if self.ingest is not None:
            self.ingest.close()
        if self.frame_cache is not None:
            self.frame_cache.clear()
        self.ingest, self.topics, self.frame_cache = None, {}, None

    def current(self) -> CameraIngest:
        """The ingest of the configuration in force (RuntimeError while unconfigured)."""
        if self.ingest is None:
            raise RuntimeError("the node is not configured: no cameras")
        return self.ingest

    def first_frame_id(self) -> str:
        """The first camera frame_id seen, for markers when ``markers.frame_id`` is empty."""
        cameras = self.ingest.cameras.values() if self.ingest is not None else []
        return next((c.frame_id for c in cameras if c.frame_id), "")

    def status(self, prefix: str, now_ns: int) -> list[DiagnosticStatus]:
        """Colour cameras (rate, age, drops) and their aligned depth cameras."""
        if self.ingest is None:
            return []
        s = self._settings()
        now_mono = time.monotonic()
        status = [diagnostics.camera_status(prefix, c, now_ns * 1e-9, now_mono, s.frames_stale_after,
                                            topic=self.topics[c.name])
                  for c in self.ingest.cameras.values()]
        status += [depth.depth_status(prefix, c, now_ns, s.frames_stale_after)
                   for c in self.ingest.depth.cameras.values()]
        if self.frame_cache is not None:
            status.append(diagnostics.frame_cache_status(prefix, "frame cache", self.frame_cache.stats()))
        return status
