"""The node's visual topics and feedback over real DDS: latched markers and image (a late rviz gets the
last result; rviz's volatile default subscriptions match too), a new goal replacing the last result in the
markers at once, and feedback whose size grows linearly with the answer."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from action_msgs.msg import GoalStatus
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.ros.outputs import markers as visualization
from helpers.paths import REPO
from helpers.ros_harness import Collector

Goal = ReasonAboutTask.Goal

NODE = "reasoner_visuals"
PREFIX = "/test_visuals"
LATE = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RVIZ_DEFAULT = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)


@pytest.fixture(scope="module")
def harness(rclpy_session, reason1_model):
    from helpers.ros_harness import Camera, Harness

    cameras = [Camera("front", f"{PREFIX}/front/image_raw"), Camera("wrist", f"{PREFIX}/wrist/image_raw")]
    with Harness.started({"model": str(reason1_model), "generation.max_new_tokens": 64, "frames.wait_timeout": 0.3},
                         cameras, node_name=NODE, silent=("silent",)) as h:
        yield h


def headline_of(message: MarkerArray) -> str:
    return next(m.text for m in message.markers if m.id == visualization.ID_HEADLINE and m.action == Marker.ADD)


def test_visual_topics_are_latched_reliable_depth_one(harness):
    for topic in ("markers", "annotated_image"):
        [info] = harness.helper.get_publishers_info_by_topic(f"/{NODE}/{topic}")
        assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
        assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE


def test_late_rviz_gets_the_last_result_and_a_new_goal_replaces_it(harness):
    status, result, _ = harness.run("put the red cup on the tray", cameras=["front", "wrist"])
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    # An rviz started after the goal: transient local subscriptions get the last result.
    late_markers = Collector(harness, MarkerArray, f"/{NODE}/markers", LATE)
    late_images = Collector(harness, Image, f"/{NODE}/annotated_image", LATE)
    harness.wait_for(lambda: late_markers.messages and late_images.messages, 10, "the latched markers and image")
    assert headline_of(late_markers.messages[-1]) == "FEASIBLE (90%): 2 steps"
    assert late_images.messages[-1].width == 640  # both cameras, side by side
    # rviz's default (volatile, reliable) and a best-effort subscription match the latched publishers.
    markers = Collector(harness, MarkerArray, f"/{NODE}/markers", RVIZ_DEFAULT)
    images = Collector(harness, Image, f"/{NODE}/annotated_image", BEST_EFFORT)
    outputs = harness.node.parts.outputs
    harness.wait_for(lambda: outputs.markers_pub.get_subscription_count() >= 2
                     and outputs.image_pub.get_subscription_count() >= 2, 10, "the subscriptions to match")
    status, result, _ = harness.run("has the cup been put on the tray?", mode=Goal.MODE_VERIFY_COMPLETION,
                                 cameras=["front", "wrist"])
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    harness.wait_for(lambda: markers.messages and headline_of(markers.messages[-1]) == "NOT DONE", 10,
                     "the verify result's markers")
    harness.wait_for(lambda: images.messages, 10, "the verify result's image over a best-effort subscription")
    heads = [headline_of(m) for m in markers.messages]
    assert heads[0].startswith("WORKING: ")  # the new goal replaced the last result before any text
    assert all(m.markers[0].action == Marker.DELETEALL for m in markers.messages)
    assert any(h.startswith("WORKING: thinking") for h in heads)
    live = [m for m in markers.messages if any(mk.id == visualization.ID_REASONING for mk in m.markers)]
    assert live, "no live reasoning marker"
    for message in live:
        text = next(mk.text for mk in message.markers if mk.id == visualization.ID_REASONING)
        assert "<think>" not in text and "</think>" not in text and "{" not in text
        assert all(len(line) <= visualization.MARKER_WIDTH for line in text.splitlines())
    assert any("red cup" in next(mk.text for mk in m.markers if mk.id == visualization.ID_REASONING) for m in live)
    body = next(mk.text for mk in markers.messages[-1].markers if mk.id == visualization.ID_BODY)
    assert body.startswith("task: has the cup been put on the tray?")


def test_a_failed_goal_leaves_an_ended_state_not_a_stale_working_one(harness):
    markers = Collector(harness, MarkerArray, f"/{NODE}/markers", RVIZ_DEFAULT)
    outputs = harness.node.parts.outputs
    harness.wait_for(lambda: outputs.markers_pub.get_subscription_count() >= 1, 10, "the subscription")
    status, result, _ = harness.run("bring me the red cup", cameras=["silent"])
    assert result.error_code == ReasonAboutTask.Result.NO_FRAMES, result.error_msg
    harness.wait_for(lambda: markers.messages and headline_of(markers.messages[-1]).startswith("ENDED"), 10,
                     "the ended state")
    assert headline_of(markers.messages[-1]) == "ENDED during waiting for frames: see the goal's result"
    assert headline_of(markers.messages[0]) == "WORKING: waiting for frames"


def test_feedback_carries_the_whole_text_only_in_its_last_message(harness):
    status, result, feedback = harness.run("bring me the red cup", cameras=["front"])
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    assert len(feedback) >= 3
    whole = "".join(f.new_text for f in feedback)
    assert "red cup" in whole and feedback[-1].partial_text == whole
    assert all(f.partial_text == "" for f in feedback[:-1])


def test_full_text_feedback_goal_flag_repeats_it_in_every_message(harness):
    status, result, feedback = harness.run("bring me the red cup", cameras=["front"], full_text_feedback=True)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    so_far = ""
    for message in feedback:
        so_far += message.new_text
        assert message.partial_text == so_far


def test_feedback_size_benchmark_before_and_after(tmp_path):
    out = tmp_path / "feedback.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "feedback_size.py"), "--tokens", "800",
                           "--tok-s", "400", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after = json.loads(out.read_text())["rows"]
    assert before["full_text_feedback"] and not after["full_text_feedback"]
    assert before["messages"] == after["messages"]
    assert after["bytes"] < 0.3 * before["bytes"]
    assert after["bytes"] > 2 * after["chars"]  # every character once in new_text, once in the last message


def test_rviz_config_subscribes_latched_to_the_visual_topics():
    import yaml

    config = yaml.safe_load((REPO / "config" / "reasoner.rviz").read_text())
    displays = config["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"]: d["Topic"] for d in displays if isinstance(d.get("Topic"), dict)}
    for topic in ("/cosmos_reasoner/markers", "/cosmos_reasoner/annotated_image"):
        assert topics[topic]["Durability Policy"] == "Transient Local"
        assert topics[topic]["Reliability Policy"] == "Reliable"
