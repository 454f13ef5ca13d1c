"""Located objects drawn on the annotated image and shown as rviz markers.

On the image, each object gets its own colour (by its index in plan.objects), its box as a rectangle and
its point as a cross-hair disc, with the label (and the distance when the 3D point is known) above the box,
drawn in the camera's own pixel space before the cameras' frames are tiled. A frame decoded smaller than
the camera image (a JPEG reduction) is drawn at its own scale. In rviz, each 3D point is a sphere with a
text label, in the depth camera's optical frame.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker

from cosmos_reason_ros.msg import LocatedObject

#: RGB 0-255, one per object index (cycled).
PALETTE = ((255, 80, 80), (80, 200, 255), (120, 230, 90), (255, 200, 40), (220, 120, 255), (255, 140, 40),
           (60, 230, 200), (250, 250, 250))
#: Marker ids of located objects start here (the text blocks use 0-2).
ID_OBJECTS = 100
SPHERE_DIAMETER = 0.05  # m
LABEL_HEIGHT = 0.04  # m


def colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def draw_objects(pixels: np.ndarray, camera: str, objects: Sequence[LocatedObject]) -> np.ndarray:
    """A copy of one camera's frame with that camera's located objects drawn on it (the frame if none)."""
    mine = [(i, o) for i, o in enumerate(objects) if o.camera == camera and (o.has_box or o.has_point)]
    if not mine:
        return pixels
    out = np.ascontiguousarray(pixels[..., :3], dtype=np.uint8).copy()
    height, width = out.shape[:2]
    thick = max(1, round(width / 320))
    for index, obj in mine:
        scale = width / obj.image_width if obj.image_width else 1.0  # camera px → px of this frame
        rgb = colour(index)
        anchor = (0, 0)
        if obj.has_box:
            half_x, half_y = obj.bbox_size_x / 2, obj.bbox_size_y / 2
            x1, y1 = (obj.bbox_center_x - half_x) * scale, (obj.bbox_center_y - half_y) * scale
            x2, y2 = (obj.bbox_center_x + half_x) * scale, (obj.bbox_center_y + half_y) * scale
            # Edges are continuous coordinates: the last pixel inside is ceil(x2) - 1.
            last = (max(int(x1), int(np.ceil(x2)) - 1), max(int(y1), int(np.ceil(y2)) - 1))
            cv2.rectangle(out, (int(x1), int(y1)), last, rgb, thick)
            anchor = (int(x1), int(y1))
        if obj.has_point:
            px, py = int(obj.point_x * scale), int(obj.point_y * scale)
            radius = max(3, 3 * thick)
            cv2.circle(out, (px, py), radius, rgb, -1)
            cv2.drawMarker(out, (px, py), (0, 0, 0), cv2.MARKER_CROSS, 2 * radius, max(1, thick // 2))
            if not obj.has_box:
                anchor = (px + radius, py - radius)
        text = obj.label + (f" {obj.position.point.z:.2f} m" if obj.has_position else "")
        font = max(0.4, width / 900)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        x, y = min(max(0, anchor[0]), max(0, width - tw)), max(th + base, anchor[1] - 2)
        cv2.rectangle(out, (x, y - th - base), (x + tw, y), (24, 24, 24), -1)
        cv2.putText(out, text, (x, y - base), cv2.FONT_HERSHEY_SIMPLEX, font, rgb, thick, cv2.LINE_AA)
    return out


def object_markers(objects: Sequence[LocatedObject], namespace: str) -> list[Marker]:
    """A sphere and a label per object with a 3D point, in the point's own frame (the depth optical frame)."""
    markers: list[Marker] = []
    for index, obj in enumerate(objects):
        if not obj.has_position:
            continue
        r, g, b = (c / 255.0 for c in colour(index))
        where = obj.position
        pose = Pose(position=Point(x=where.point.x, y=where.point.y, z=where.point.z), orientation=Quaternion(w=1.0))
        markers.append(Marker(header=where.header, ns=namespace, id=ID_OBJECTS + 2 * index, type=Marker.SPHERE,
                              action=Marker.ADD, pose=pose, scale=Vector3(x=SPHERE_DIAMETER, y=SPHERE_DIAMETER,
                                                                          z=SPHERE_DIAMETER),
                              color=ColorRGBA(r=r, g=g, b=b, a=0.9)))
        above = Pose(position=Point(x=where.point.x, y=where.point.y - 1.5 * SPHERE_DIAMETER, z=where.point.z),
                     orientation=Quaternion(w=1.0))
        markers.append(Marker(header=where.header, ns=namespace, id=ID_OBJECTS + 2 * index + 1,
                              type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, pose=above,
                              scale=Vector3(z=LABEL_HEIGHT), color=ColorRGBA(r=r, g=g, b=b, a=1.0),
                              text=f"{obj.label} ({where.point.z:.2f} m)"))
    return markers
