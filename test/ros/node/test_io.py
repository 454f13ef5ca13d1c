"""What the node publishes (plan, feasibility, markers, annotated image, diagnostics) and what it survives
on its camera topics (malformed images, compressed streams, a flood of 1080p frames)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import Marker, MarkerArray

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan
from cosmos_reason_ros.ros.outputs import markers as visualization
from helpers.ros_harness import Collector

Goal, Result = ReasonAboutTask.Goal, ReasonAboutTask.Result
PREFIX = "/test_io"
NODE = "reasoner_io"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture(scope="module")
def harness(rclpy_session, reason1_model):
    from helpers.ros_harness import Camera, Harness

    cameras = [Camera("front", f"{PREFIX}/front/image_raw", width=320, height=240),
               Camera("wrist", f"{PREFIX}/wrist/image_raw/compressed", compressed=True)]
    with Harness.started({
        "model": str(reason1_model),
        "cameras.flood.topic": f"{PREFIX}/flood/image_raw",  # the tests publish on it themselves
        "buffer.max_frames": 16,
        "buffer.max_megabytes": 40.0,
        "buffer.store_rate": 0.0,
        "diagnostics_period": 0.2,
    }, cameras, node_name=NODE, silent=("flood",)) as h:
        yield h


def test_plan_feasibility_markers_and_image_are_published(harness):
    markers = Collector(harness, MarkerArray, f"/{NODE}/markers", 50)
    images = Collector(harness, Image, f"/{NODE}/annotated_image", 5)
    time.sleep(0.5)  # let discovery match the new subscriptions
    status, result, _ = harness.run("put the red cup on the tray", cameras=["front", "wrist"])
    assert result.error_code == Result.NONE, result.error_msg
    # A planner that subscribes after the fact still gets the latest plan and verdict (transient local).
    late_plans = Collector(harness, TaskPlan, f"/{NODE}/plan", LATCHED)
    late_verdicts = Collector(harness, FeasibilityJudgment, f"/{NODE}/feasibility", LATCHED)
    harness.wait_for(lambda: late_plans.messages and late_verdicts.messages, 5, "latched plan and verdict")
    plan = late_plans.messages[-1]
    assert plan.goal_id == result.plan.goal_id and [s.action for s in plan.subtasks] == ["pick", "place"]
    verdict = late_verdicts.messages[-1]
    assert verdict.verdict == FeasibilityJudgment.VERDICT_FEASIBLE and verdict.task == "put the red cup on the tray"
    assert verdict.header.stamp == plan.header.stamp
    # Markers: live reasoning while generating, then verdict and steps.
    harness.wait_for(lambda: any(len(m.markers) == 3 for m in markers.messages), 5, "plan markers")
    final = next(m for m in reversed(markers.messages) if len(m.markers) == 3)
    assert final.markers[0].action == Marker.DELETEALL
    assert "FEASIBLE (90%)" in final.markers[1].text and final.markers[1].header.frame_id == "cosmos_reasoner"
    assert "1. pick up the red cup" in final.markers[2].text
    assert any("red cup stands upright" in marker.text.replace("\n", " ")
               for m in markers.messages for marker in m.markers if marker.id == visualization.ID_REASONING)
    # Annotated image: the newest frames of both cameras side by side (320x240 each), the text panel below.
    harness.wait_for(lambda: images.messages, 5, "annotated image")
    image = images.messages[-1]
    assert (image.width, image.encoding) == (640, "rgb8") and image.height > 240
    assert image.header.frame_id == "front_optical_frame"
    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, 640, 3)
    assert pixels[250:].mean() < pixels[:240].mean()  # the dark panel under the frames


def test_compressed_camera_frames_reach_the_model(harness):
    status, result, _ = harness.run("is the cup on the table?", mode=Goal.MODE_QUESTION, cameras=["wrist"])
    assert result.error_code == Result.NONE, result.error_msg
    assert [c.camera for c in result.plan.cameras] == ["wrist"] and len(result.plan.cameras[0].stamps) >= 2


def test_malformed_images_are_counted_skipped_and_the_node_keeps_serving(harness):
    publisher = harness.helper.create_publisher(Image, f"{PREFIX}/flood/image_raw", qos_profile_sensor_data)
    bad_jpeg = harness.helper.create_publisher(CompressedImage, f"{PREFIX}/wrist/image_raw/compressed",
                                               qos_profile_sensor_data)
    time.sleep(0.5)
    stamp = harness.helper.get_clock().now().to_msg()
    bad = [
        Image(height=4, width=4, encoding="rgb8", step=8, data=bytes(32)),  # step < width * 3
        Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(10)),  # short data
        Image(height=0, width=4, encoding="rgb8", step=12, data=b""),  # zero size
        Image(height=2, width=2, encoding="bayer_rggb16", step=8, data=bytes(16)),  # unsupported
    ]
    for msg in bad:
        msg.header.stamp = stamp
        publisher.publish(msg)
    bad_jpeg.publish(CompressedImage(format="jpeg", data=b"not an image at all"))
    flood = harness.node.parts.ingest.cameras["flood"]
    harness.wait_for(lambda: flood.buffer.counters.rejected >= 4, 5, "malformed frames to be counted")
    assert len(flood.buffer) == 0
    assert {"short_step", "short_data", "zero_size", "unsupported_encoding"} <= flood.warned
    harness.wait_for(lambda: harness.node.parts.ingest.cameras["wrist"].buffer.counters.rejected >= 1, 5, "bad jpeg")
    status, result, _ = harness.run("bring me the red cup", cameras=["front", "wrist"])
    assert result.error_code == Result.NONE, result.error_msg
    harness.helper.destroy_publisher(publisher)
    harness.helper.destroy_publisher(bad_jpeg)


def test_buffer_memory_stays_bounded_under_a_flood_of_1080p_frames(harness):
    publisher = harness.helper.create_publisher(Image, f"{PREFIX}/flood/image_raw", qos_profile_sensor_data)
    time.sleep(0.5)
    frame = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8).tobytes()
    flood = harness.node.parts.ingest.cameras["flood"]
    peak_frames, peak_bytes, sent = 0, 0, 0
    end = time.monotonic() + 4.0
    while time.monotonic() < end:
        msg = Image(height=1080, width=1920, encoding="rgb8", step=1920 * 3, data=frame)
        msg.header.stamp = harness.helper.get_clock().now().to_msg()
        publisher.publish(msg)
        sent += 1
        peak_frames = max(peak_frames, len(flood.buffer))
        peak_bytes = max(peak_bytes, flood.buffer.nbytes)
    harness.wait_for(lambda: flood.buffer.counters.stored >= 10, 5, "1080p frames to arrive")
    assert flood.buffer.counters.received >= 10, f"{sent} sent"
    assert peak_frames <= 16 and peak_bytes <= 40 * 2**20  # buffer.max_frames / buffer.max_megabytes
    assert flood.buffer.counters.evicted > 0
    harness.helper.destroy_publisher(publisher)


def test_diagnostics_report_model_cameras_and_goals(harness):
    arrays = Collector(harness, DiagnosticArray, "/diagnostics", 10)
    harness.wait_for(lambda: any(s.name.endswith("goals") for a in arrays.messages for s in a.status), 5,
                     "diagnostics")
    latest = {s.name: s for s in arrays.messages[-1].status}
    model = latest[f"/{NODE}: model"]
    assert model.level == DiagnosticStatus.OK and model.message == "ready"
    assert {kv.key: kv.value for kv in model.values}["family"] == "reason1"
    front = {kv.key: kv.value for kv in latest[f"/{NODE}: camera front"].values}
    # The reported rate matches what the synthetic camera really sent over the last seconds (on a loaded
    # machine its 30 Hz timer runs slower), and the newest frame is fresh.
    camera = harness.cameras[0]
    now_ns = harness.helper.get_clock().now().nanoseconds
    sent_rate = sum(1 for t in camera.sent if now_ns - t <= 5e9) / 5.0
    assert 0.6 * sent_rate < float(front["rate_hz"]) < 1.4 * sent_rate + 1.0, (front["rate_hz"], sent_rate)
    assert float(front["age_s"]) < 1.0
    assert latest[f"/{NODE}: camera flood"].level in (DiagnosticStatus.WARN, DiagnosticStatus.ERROR)
    goals = {kv.key: kv.value for kv in latest[f"/{NODE}: goals"].values}
    assert int(goals["succeeded"]) >= 1 and float(goals["last_total_time_s"]) > 0
