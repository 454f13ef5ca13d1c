"""Raised standing watches on ``~/markers`` and ``~/annotated_image``.

The markers get one text marker (namespace ``WATCH_NAMESPACE``) listing every RAISED watch in red, added to
every MarkerArray the node publishes (after its DELETEALL, so a new plan or live reasoning never hides a raised
watch) and published alone, or deleted, when a watch is raised or leaves RAISED. The annotated image gets a
red banner over its top with the same list: on the plan's image, and on the watch's own evidence frame when
it is raised.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from cosmos_reason_ros.ros.outputs.annotated_image import FONT, font_for, text_height, wrap_to_width

WATCH_NAMESPACE = "cosmos_reason_watches"
BANNER_RGB = (200, 30, 30)
TEXT_RGB = (255, 255, 255)
MARKER_Z = 2.6  # m above the frame's origin: over the plan's text (which starts at 1.8 m)
MARKER_HEIGHT = 0.1

Raised = Sequence[tuple[str, str, str]]  # (name, severity, explanation) of each RAISED watch


def raised_lines(raised: Raised) -> list[str]:
    return [f"RAISED {name} ({severity})" + (f": {why}" if why else "") for name, severity, why in raised]


def raised_marker(raised: Raised, header: Header) -> Marker:
    """ADD with the list of raised watches, or DELETE when there is none."""
    if not raised:
        return Marker(header=header, ns=WATCH_NAMESPACE, id=0, action=Marker.DELETE)
    return Marker(header=header, ns=WATCH_NAMESPACE, id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                  pose=Pose(position=Point(z=MARKER_Z), orientation=Quaternion(w=1.0)),
                  scale=Vector3(z=MARKER_HEIGHT), color=ColorRGBA(r=1.0, g=0.15, b=0.15, a=1.0),
                  lifetime=Duration(sec=0), text="\n".join(raised_lines(raised)))


def with_raised(markers: MarkerArray, raised: Raised) -> MarkerArray:
    """``markers`` with the raised-watches marker appended (nothing appended when none is raised)."""
    if raised and markers.markers:
        markers.markers.append(raised_marker(raised, markers.markers[0].header))
    return markers


def banner(image: np.ndarray, raised: Raised) -> np.ndarray:
    """``image`` (RGB) with a red strip over its top listing the raised watches; unchanged when none is."""
    if not raised:
        return image
    out = np.ascontiguousarray(image).copy()
    height, width = out.shape[:2]
    cap = text_height(width)
    scale, thickness = font_for(cap)
    lines = [line for text in raised_lines(raised) for line in wrap_to_width(text, width - 2 * cap, scale, thickness)]
    step = int(cap * 1.7)
    strip = min(height, step * len(lines) + cap)
    out[:strip] = (0.35 * out[:strip] + 0.65 * np.array(BANNER_RGB)).astype(np.uint8)
    for i, line in enumerate(lines):
        y = cap + step * i + cap
        if y > strip:
            break
        cv2.putText(out, line, (cap, y), FONT, scale, TEXT_RGB, thickness, cv2.LINE_AA)
    return out
