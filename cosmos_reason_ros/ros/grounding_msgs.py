"""Located objects (``core.grounding.ImageLocation``) → LocatedObject messages, and → vision_msgs'
Detection2DArray where vision_msgs is installed (a field-by-field copy: LocatedObject mirrors Detection2D)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from geometry_msgs.msg import Point, PointStamped
from std_msgs.msg import Header

from ..core.grounding import ImageLocation
from ..core.types import CONFIDENCE_UNKNOWN
from ..msg import LocatedObject, TaskPlan


def _time(ns: Optional[int], seconds: float) -> Any:
    from .messages import to_time

    return to_time(seconds, ns)


def located_msg(obj: ImageLocation, index: int) -> LocatedObject:
    """One located object; unset box, point or position keep zeros with their has_* flag false."""
    confidence = obj.confidence if obj.confidence != CONFIDENCE_UNKNOWN else LocatedObject.CONFIDENCE_UNKNOWN
    msg = LocatedObject(header=Header(stamp=_time(obj.stamp_ns, obj.stamp), frame_id=obj.frame_id),
                        id=f"{obj.camera}/{index}", label=obj.label, camera=obj.camera, frame_index=obj.frame_index,
                        image_width=obj.image_width, image_height=obj.image_height, class_id=obj.label,
                        score=float(confidence), confidence=float(confidence))
    if obj.box is not None:
        x1, y1, x2, y2 = obj.box
        msg.has_box = True
        msg.bbox_center_x, msg.bbox_center_y = (x1 + x2) / 2, (y1 + y2) / 2
        msg.bbox_size_x, msg.bbox_size_y = x2 - x1, y2 - y1
    if obj.point is not None:
        msg.has_point, msg.point_x, msg.point_y = True, float(obj.point[0]), float(obj.point[1])
    if obj.position is not None:
        msg.has_position = True
        msg.position = PointStamped(header=Header(stamp=_time(obj.position_stamp_ns, 0.0), frame_id=obj.position_frame_id),
                                    point=Point(x=obj.position[0], y=obj.position[1], z=obj.position[2]))
    msg.position_status = obj.position_status
    return msg


def located_msgs(objects: Sequence[ImageLocation]) -> list[LocatedObject]:
    return [located_msg(obj, i) for i, obj in enumerate(objects)]


def detection_type() -> Optional[Any]:
    """vision_msgs/Detection2DArray, or None where vision_msgs is not installed (it is not a dependency)."""
    try:
        from vision_msgs.msg import Detection2DArray
    except ImportError:
        return None
    return Detection2DArray


def detections(plan: TaskPlan) -> Any:
    """The plan's boxed objects as a vision_msgs/Detection2DArray (header: the plan's)."""
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    array = Detection2DArray(header=plan.header)
    for obj in plan.objects:
        if not obj.has_box:
            continue
        detection = Detection2D(header=obj.header, id=obj.id)
        center = detection.bbox.center
        if hasattr(center, "position"):  # vision_msgs 4 (Humble and later): Pose2D with a position
            center.position.x, center.position.y = obj.bbox_center_x, obj.bbox_center_y
        else:
            center.x, center.y = obj.bbox_center_x, obj.bbox_center_y
        center.theta = obj.bbox_theta
        detection.bbox.size_x, detection.bbox.size_y = obj.bbox_size_x, obj.bbox_size_y
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = obj.class_id, obj.score
        if obj.has_position:
            hypothesis.pose.pose.position = obj.position.point
        detection.results.append(hypothesis)
        array.detections.append(detection)
    return array
