"""Grounding end to end over real DDS: a tiny model taught to answer boxes and points ("grounded"), a colour
camera and an aligned depth camera (16UC1 + CameraInfo) publishing from their own node, MODE_LOCATE and
ground_targets goals through the real action client; the plan's LocatedObjects are checked against
hand-computed pixels and 3D points, and the rviz markers carry the 3D points.

Camera 320x240. Reason1 sees it resized to 308x252 (multiples of 28; time strip below), so its taught box
[100, 80, 200, 160] is x * 320/308, y * 240/252 in the camera image. Reason2 answers 0-1000 per axis, so its
box is x/1000 * 320, y/1000 * 240. The depth image holds 1.5 m where the cup is drawn, 3 m elsewhere.
"""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.msg import Subtask
from cosmos_reason_ros.ros import qos
from cosmos_reason_ros.ros.outputs import markers as visualization
from cosmos_reason_ros.ros.outputs.object_drawing import colour
from cosmos_reason_ros.tools.ask import format_plan
from helpers.ros_harness import Camera, Collector, Harness

Goal = ReasonAboutTask.Goal
Result = ReasonAboutTask.Result
FX = FY = 300.0
CX, CY = 159.5, 119.5


def depth_image() -> np.ndarray:
    depth = np.full((240, 320), 3000, np.uint16)  # mm
    depth[60:170, 90:220] = 1500  # the cup
    return depth


def start_depth_camera(harness: Harness, prefix: str) -> None:
    """16UC1 depth and its CameraInfo at 30 Hz, stamped like the colour camera (the same clock)."""
    depth_pub = harness.helper.create_publisher(Image, f"{prefix}/depth/image_raw", qos_profile_sensor_data)
    info_pub = harness.helper.create_publisher(CameraInfo, f"{prefix}/depth/camera_info", qos_profile_sensor_data)
    data = depth_image().tobytes()

    def publish() -> None:
        stamp = harness.helper.get_clock().now().to_msg()
        msg = Image(height=240, width=320, encoding="16UC1", is_bigendian=0, step=640, data=data)
        msg.header.stamp, msg.header.frame_id = stamp, "front_depth_optical_frame"
        info = CameraInfo(width=320, height=240, k=[FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0], d=[0.0] * 5,
                          distortion_model="plumb_bob")
        info.header = msg.header
        depth_pub.publish(msg)
        info_pub.publish(info)

    harness.helper.create_timer(1 / 30, publish)


@pytest.fixture(scope="module")
def reason1_node(rclpy_session, grounded_models):
    prefix = "/grounding_r1"
    params = {"model": str(grounded_models["reason1"]), "cameras.front.depth_topic": f"{prefix}/depth/image_raw",
              "markers.frame_id": ""}
    # Not ready yet: the depth camera starts before the wait, as the colour camera does.
    with Harness.started(params, [Camera("front", f"{prefix}/front/image_raw", width=320, height=240)],
                         ready=False, node_name="grounding_r1") as harness:
        start_depth_camera(harness, prefix)
        harness.wait_ready()
        harness.wait_for(lambda: harness.node.parts.ingest.depth.cameras["front"].info is not None, 15.0,
                         "the CameraInfo")
        yield harness


def expected_3d(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Pinhole back-projection of continuous pixel (x, y) (K's pixel centres are integers: x - 0.5)."""
    return (x - 0.5 - CX) * z / FX, (y - 0.5 - CY) * z / FY, z


def test_locate_gives_camera_pixels_and_a_3d_point_from_the_depth_camera(reason1_node: Harness) -> None:
    markers = Collector(reason1_node, MarkerArray, "/grounding_r1/markers", qos.LATCHED)
    status, result, _ = reason1_node.run("where is the red cup?", mode=Goal.MODE_LOCATE)
    assert result.error_code == Result.NONE, result.error_msg
    plan = result.plan
    assert [o.label for o in plan.objects] == ["red cup", "tray"]
    cup, tray = plan.objects
    sx, sy = 320 / 308, 240 / 252  # camera px per Reason1 model px
    assert (cup.camera, cup.header.frame_id, cup.image_width, cup.image_height) == ("front", "front_optical_frame",
                                                                                    320, 240)
    assert cup.has_box and cup.has_point and cup.bbox_theta == 0.0
    assert cup.bbox_center_x == pytest.approx(150 * sx) and cup.bbox_center_y == pytest.approx(120 * sy)
    assert cup.bbox_size_x == pytest.approx(100 * sx) and cup.bbox_size_y == pytest.approx(80 * sy)
    assert (cup.point_x, cup.point_y) == pytest.approx((150 * sx, 120 * sy))
    assert cup.confidence == pytest.approx(0.9) and cup.score == pytest.approx(0.9) and cup.class_id == "red cup"
    assert tray.confidence == tray.CONFIDENCE_UNKNOWN and not tray.has_point
    # The frame the location refers to: the newest the model saw, by its exact stamp.
    frames = plan.cameras[0]
    assert cup.frame_index == len(frames.stamps) - 1 and cup.header.stamp == frames.stamps[-1]
    # 3D: the cup's point lies on the 1.5 m region; the tray's box centre (no point) on the 3 m background.
    assert cup.has_position and cup.position_status == "", cup.position_status
    assert cup.position.header.frame_id == "front_depth_optical_frame"
    assert (cup.position.point.x, cup.position.point.y, cup.position.point.z) == pytest.approx(
        expected_3d(150 * sx, 120 * sy, 1.5), abs=1e-6)
    tray_x, tray_y = (220 + 300) / 2 * sx, (90 + 170) / 2 * sy
    assert tray.has_position and (tray.position.point.x, tray.position.point.y, tray.position.point.z) == pytest.approx(
        expected_3d(tray_x, tray_y, 3.0), abs=1e-6)
    depth_stamp = cup.position.header.stamp.sec * 10**9 + cup.position.header.stamp.nanosec
    frame_stamp = cup.header.stamp.sec * 10**9 + cup.header.stamp.nanosec
    assert abs(depth_stamp - frame_stamp) <= 0.1e9
    # The annotated image: each box drawn in its own colour at its camera pixels; ask prints the objects.
    drawn = visualization.annotate(plan, [("front", np.zeros((240, 320, 3), np.uint8))])
    top, left = int(cup.bbox_center_y - cup.bbox_size_y / 2), int(cup.bbox_center_x - cup.bbox_size_x / 2)
    assert tuple(drawn[top + 20, left]) == colour(0) and tuple(drawn[top + 20, left + 5]) == (0, 0, 0)
    text = format_plan(plan)
    assert "red cup [front, frame" in text and "3D (" in text and "front_depth_optical_frame" in text
    # rviz: a sphere per 3D point, in the depth camera's frame.
    reason1_node.wait_for(lambda: any(m.type == Marker.SPHERE for a in markers.messages for m in a.markers), 10.0,
                          "the object markers")
    spheres = [m for m in markers.messages[-1].markers if m.type == Marker.SPHERE]
    assert [(m.header.frame_id, round(m.pose.position.z, 3)) for m in spheres] == [
        ("front_depth_optical_frame", 1.5), ("front_depth_optical_frame", 3.0)]


def test_diagnostics_report_the_depth_camera(reason1_node: Harness) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    collected = Collector(reason1_node, DiagnosticArray, "/diagnostics", 10)

    def depth_entry():
        return next((s for a in reversed(collected.messages) for s in a.status
                     if s.name == "/grounding_r1: depth front"), None)

    reason1_node.wait_for(lambda: depth_entry() is not None, 15.0, "the depth camera's diagnostics")
    entry = depth_entry()
    values = {kv.key: kv.value for kv in entry.values}
    assert entry.message == "ok" and values["encoding"] == "16UC1" and values["camera_info"] == "True"
    assert values["depth_topic"] == "/grounding_r1/depth/image_raw" and int(values["received"]) > 0


def test_ground_targets_links_each_step_to_its_located_objects(reason1_node: Harness) -> None:
    status, result, _ = reason1_node.run("put the red cup on the tray", mode=Goal.MODE_DECOMPOSE, ground_targets=True)
    assert result.error_code == Result.NONE, result.error_msg
    plan = result.plan
    assert [o.label for o in plan.objects] == ["red cup", "tray"]
    assert [s.target_objects for s in plan.subtasks] == [["red cup"], ["red cup", "tray"]]
    assert [list(s.object_indices) for s in plan.subtasks] == [[0], [0, 1]]
    plain_status, plain, _ = reason1_node.run("put the red cup on the tray", mode=Goal.MODE_DECOMPOSE)
    assert plain.error_code == Result.NONE and list(plain.plan.objects) == []
    assert all(list(s.object_indices) == [] for s in plain.plan.subtasks)
    assert Subtask.OBJECT_NOT_LOCATED == -1


def test_ground_targets_with_a_mode_without_targets_is_an_invalid_goal(reason1_node: Harness) -> None:
    status, result, _ = reason1_node.run("is the cup reachable?", mode=Goal.MODE_FEASIBILITY, ground_targets=True)
    assert result.error_code == Result.INVALID_GOAL and "ground_targets" in result.error_msg


def test_reason2_answers_normalised_coordinates_and_says_why_there_is_no_3d_point(make_harness, grounded_models):
    harness = make_harness({"model": str(grounded_models["reason2"])},
                           [Camera("front", "/grounding_r2/front/image_raw", width=320, height=240)],
                           node_name="grounding_r2")
    status, result, _ = harness.run("where is the red cup?", mode=Goal.MODE_LOCATE)
    assert result.error_code == Result.NONE, result.error_msg
    cup = result.plan.objects[0]
    assert (cup.bbox_center_x, cup.bbox_center_y) == pytest.approx((0.15 * 320, 0.12 * 240))
    assert (cup.bbox_size_x, cup.bbox_size_y) == pytest.approx((0.1 * 320, 0.08 * 240))
    assert not cup.has_position
    assert cup.position_status == "no depth camera configured for camera front (cameras.front.depth_topic)"


def test_detections_are_published_where_vision_msgs_is_installed(reason1_node: Harness) -> None:
    vision_msgs = pytest.importorskip("vision_msgs.msg", reason="vision_msgs not installed")
    collected = Collector(reason1_node, vision_msgs.Detection2DArray, "/grounding_r1/detections",
                          qos.LATCHED)
    status, result, _ = reason1_node.run("where is the red cup?", mode=Goal.MODE_LOCATE)
    assert result.error_code == Result.NONE
    reason1_node.wait_for(lambda: bool(collected.messages), 10.0, "a Detection2DArray")
    detection = collected.messages[-1].detections[0]
    assert detection.results[0].hypothesis.class_id == "red cup"
    assert detection.bbox.size_x == pytest.approx(result.plan.objects[0].bbox_size_x)
