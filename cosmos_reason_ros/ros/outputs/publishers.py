"""The outputs part: every topic the node publishes for planners and people, and what goes on it.

``~/plan`` and ``~/feasibility`` (every successful plan), ``~/detections`` (vision_msgs, where installed),
``~/markers`` (rviz text: the result, the live reasoning, raised watches) and ``~/annotated_image``. All are
latched (``qos.LATCHED``), so a planner or an rviz started late sees the last result. Raised standing
watches stay on screen: the part asks ``raised`` (handed in by the node) each time it draws.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from cosmos_reason_ros.core.datatypes import CameraClip
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan
from cosmos_reason_ros.ros import conversions
from cosmos_reason_ros.ros.cameras.image_conversion import rgb_to_image_fields
from cosmos_reason_ros.ros.goals.feedback import LiveView
from cosmos_reason_ros.ros.node.parameters import Settings, SettingsSource
from cosmos_reason_ros.ros.outputs import markers
from cosmos_reason_ros.ros.qos import LATCHED
from cosmos_reason_ros.ros.watches.visuals import Raised, banner, raised_marker, with_raised


class OutputsPart:
    """Publishers of results and visuals (created at configure, destroyed at cleanup)."""

    def __init__(self, node: Any, settings: SettingsSource, raised: Callable[[], Raised],
                 default_frame_id: Callable[[], str]) -> None:
        """``raised``: the RAISED watches now; ``default_frame_id``: the frame for live markers when the
        parameter ``markers.frame_id`` is empty (the first camera's)."""
        self._node = node
        self._settings = settings
        self._raised = raised
        self._default_frame_id = default_frame_id
        self.plan_pub: Any = None
        self.feasibility_pub: Any = None
        self.markers_pub: Any = None
        self.image_pub: Any = None
        self.detections_pub: Any | None = None

    def configure(self) -> None:
        node = self._node
        self.plan_pub = node.create_publisher(TaskPlan, "~/plan", LATCHED)
        self.feasibility_pub = node.create_publisher(FeasibilityJudgment, "~/feasibility", LATCHED)
        self.markers_pub = node.create_publisher(MarkerArray, "~/markers", LATCHED)
        self.image_pub = node.create_publisher(Image, "~/annotated_image", LATCHED)
        # ~/detections (vision_msgs/Detection2DArray) only where vision_msgs is installed: not a dependency.
        detection_type = conversions.detection_type()
        self.detections_pub = (node.create_publisher(detection_type, "~/detections", LATCHED)
                               if detection_type is not None else None)

    def cleanup(self) -> None:
        for publisher in (self.plan_pub, self.feasibility_pub, self.markers_pub, self.image_pub,
                          self.detections_pub):
            if publisher is not None:
                self._node.destroy_publisher(publisher)
        self.plan_pub = self.feasibility_pub = self.markers_pub = self.image_pub = self.detections_pub = None

    # ---------------------------------------------------------------------------------------- goals
    def publish_plan(self, plan: TaskPlan, clips: Sequence[CameraClip], s: Settings) -> None:
        """A successful goal's plan on every output: topics, detections, markers and the annotated image."""
        self.plan_pub.publish(plan)
        self.feasibility_pub.publish(plan.feasibility)
        if self.detections_pub is not None and plan.objects:
            self.detections_pub.publish(conversions.detections(plan))
        raised = self._raised()
        if s.publish_markers:
            self.markers_pub.publish(with_raised(markers.plan_markers(plan, s.markers_frame_id), raised))
        views = [(clip.camera, clip.frames[-1].pixels) for clip in clips if clip.frames]
        if s.publish_annotated_image and views:
            header = Header(stamp=plan.header.stamp, frame_id=clips[0].frame_id)
            pixels = banner(markers.annotate(plan, views), raised)  # raised watches on top
            self.image_pub.publish(Image(header=header, **rgb_to_image_fields(pixels)))

    def publish_reasoning(self, live: LiveView) -> None:
        """A goal in progress (its live text) on the markers, stamped now."""
        s = self._settings()
        if s.publish_markers and self.markers_pub is not None:
            header = Header(stamp=self._node.get_clock().now().to_msg(),
                            frame_id=s.markers_frame_id or self._default_frame_id())
            self.markers_pub.publish(with_raised(markers.reasoning_marker(live, header), self._raised()))

    # -------------------------------------------------------------------------------------- watches
    def show_raised(self, header: Header, evidence: np.ndarray | None, raised_now: bool) -> None:
        """A watch entered or left RAISED: the raised-watches marker (or its deletion) and, when one was just
        raised, its evidence frame with the banner."""
        s, raised = self._settings(), self._raised()
        if s.publish_markers and self.markers_pub is not None:
            marker_header = Header(stamp=header.stamp, frame_id=s.markers_frame_id or header.frame_id)
            self.markers_pub.publish(MarkerArray(markers=[raised_marker(raised, marker_header)]))
        if s.publish_annotated_image and raised_now and evidence is not None and self.image_pub is not None:
            self.image_pub.publish(Image(header=header, **rgb_to_image_fields(banner(evidence, raised))))
