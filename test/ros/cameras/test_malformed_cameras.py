"""Misbehaving cameras beside the real node: a battery of malformed Image and CompressedImage frames
interleaved with valid ones at 30 Hz, from another process, with stamps that jitter by ±10 %.

Goals keep succeeding with the frame count they ask for, every frame from a valid frame (valid frames have
even stamp nanoseconds, malformed ones odd: ``cosmos_reason_ros.testing.malformed_cameras``); /diagnostics
counts each kind; jitter does not thin a camera at the store rate, and a faster one is stored at it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.testing.malformed_cameras import bad_compressed, bad_images

Goal, Result = ReasonAboutTask.Goal, ReasonAboutTask.Result
PREFIX = "/test_battery"
NODE = "reasoner_battery"
TOPICS = {"raw": f"{PREFIX}/raw/image_raw", "jpeg": f"{PREFIX}/jpeg/image_raw/compressed",
          "steady": f"{PREFIX}/steady/image_raw"}


class Publisher:
    """``malformed_cameras`` in its own process; ``stop()`` returns what it sent."""

    def __init__(self, tmp: Path, name: str, topics: list[str], *args: str) -> None:
        self.stats = tmp / f"{name}.json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cosmos_reason_ros.testing.malformed_cameras", "--topics", *topics,
             "--stats", str(self.stats), "--max-seconds", "300", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)

    def stop(self) -> dict:
        if self.process.poll() is None:
            output, _ = self.process.communicate("stop\n", timeout=30)
        else:
            output = self.process.stdout.read()
        assert self.process.returncode == 0, output[-3000:]
        return json.loads(self.stats.read_text())


@pytest.fixture(scope="module")
def battery(rclpy_session, reason1_model, tmp_path_factory):
    from helpers.ros_harness import Harness

    tmp = tmp_path_factory.mktemp("battery")
    publishers = [
        Publisher(tmp, "battery", [TOPICS["raw"], TOPICS["jpeg"]], "--rate", "30", "--jitter", "0.1"),
        Publisher(tmp, "steady", [TOPICS["steady"]], "--rate", "10", "--jitter", "0.1", "--bad", "none"),
    ]
    try:
        with Harness.started({"model": str(reason1_model), "diagnostics_period": 0.3,
                              **{f"cameras.{name}.topic": topic for name, topic in TOPICS.items()}},
                             [], node_name=NODE, silent=tuple(TOPICS)) as h:
            for name in TOPICS:
                buffer = h.node.parts.ingest.cameras[name].buffer
                h.wait_for(lambda b=buffer: Harness.buffered_span(b) >= 3.0, 60, f"3 s of frames from {name}")
            yield h
    finally:  # the node is closed before the publishers are
        for publisher in publishers:
            if publisher.process.poll() is None:
                publisher.process.kill()
                publisher.process.wait(timeout=10)


def valid(stamp) -> bool:
    return stamp.nanosec % 2 == 0 and (stamp.sec or stamp.nanosec)


def test_goals_get_every_frame_they_ask_for_and_only_valid_ones(battery):
    jpeg = battery.node.parts.ingest.cameras["jpeg"]
    skipped_warning = False
    for _attempt in range(6):
        status, result, _ = battery.run("bring me the red cup", cameras=["raw", "jpeg"], history_seconds=2.0,
                                        max_frames=5)
        assert result.error_code == Result.NONE, result.error_msg
        plan = result.plan
        assert [c.camera for c in plan.cameras] == ["raw", "jpeg"]
        for camera in plan.cameras:
            assert len(camera.stamps) == 5, (camera.camera, plan.parse_warnings)
            assert all(valid(s) for s in camera.stamps), [(s.sec, s.nanosec) for s in camera.stamps]
        skipped_warning |= any("undecodable" in w for w in plan.parse_warnings)
    # Frames that pass the ingest checks and fail to decode (2 of the 9 compressed kinds) reach the buffer only
    # when the store rate happens to pick them; when a goal met one, it said so and the frame left the buffer.
    assert skipped_warning == (jpeg.decode_failures > 0)
    assert jpeg.buffer.counters.discarded == jpeg.decode_failures


def test_diagnostics_count_each_kind_of_malformed_frame(battery):
    arrays: list = []
    battery.helper.create_subscription(DiagnosticArray, "/diagnostics", arrays.append, 10)
    expected = {"raw": {f.kind for f in bad_images()} - {"stamp_outlier"},
                "jpeg": {f.kind for f in bad_compressed()} - {"decode"}}

    def counted() -> bool:
        if not arrays:
            return False
        status = {s.name: {kv.key: kv.value for kv in s.values} for s in arrays[-1].status}
        prefix = battery.node.get_fully_qualified_name()
        return all(int(status.get(f"{prefix}: camera {camera}", {}).get(f"malformed_{kind}", 0)) > 0
                   for camera, kinds in expected.items() for kind in kinds)

    battery.wait_for(counted, 15, "a /diagnostics counter for every kind")
    status = {s.name: {kv.key: kv.value for kv in s.values} for s in arrays[-1].status}
    raw = status[f"{battery.node.get_fully_qualified_name()}: camera raw"]
    kinds = [key for key in raw if key.startswith("malformed_")]
    assert sum(int(raw[k]) for k in kinds) == int(raw["malformed"])  # the kinds add up to the total
    assert int(status[f"{battery.node.get_fully_qualified_name()}: camera steady"]["malformed"]) == 0
    # Frames stamped in 1970 or an hour ahead are dropped by the buffer, and never clear it.
    assert int(raw["stamp_outliers"]) > 0 and int(raw["time_jumps"]) == 0
    for name in ("raw", "jpeg"):  # each kind is logged once, not once per frame
        assert expected[name] <= battery.node.parts.ingest.cameras[name].warned


def test_jittery_cameras_are_stored_at_the_store_rate(battery):
    """buffer.store_rate 10: the 10 Hz camera (±10 % jitter) is stored whole, the 30 Hz one at 10 Hz."""
    steady = battery.node.parts.ingest.cameras["steady"].buffer
    raw = battery.node.parts.ingest.cameras["raw"].buffer
    battery.wait_for(lambda: steady.counters.received >= 60, 30, "6 s of the 10 Hz camera")
    counters = steady.counters
    assert counters.thinned <= 0.02 * counters.received, (counters.thinned, counters.received)
    frames = raw.snapshot()  # only valid frames reach it (every malformed raw kind is refused at ingest)
    rate = (len(frames) - 1) / (frames[-1].stamp - frames[0].stamp)
    assert rate == pytest.approx(10.0, rel=0.08), rate
    arrival = raw.arrival_rate(time.monotonic()) / 2  # half of what arrives is malformed
    assert rate < 0.6 * arrival or arrival < 15  # thinned, unless DDS itself delivered little on this machine


def test_duplicate_cameras_are_merged_and_the_plan_says_so(battery):
    status, result, _ = battery.run("bring me the red cup", cameras=["steady", "steady", "raw"], max_frames=3,
                                    history_seconds=1.0)
    assert result.error_code == Result.NONE, result.error_msg
    assert [c.camera for c in result.plan.cameras] == ["steady", "raw"]
    assert any("named 2 times" in w for w in result.plan.parse_warnings), result.plan.parse_warnings


def test_more_frames_than_the_window_holds_is_told_and_more_history_than_the_buffer_is_refused(battery):
    status, result, _ = battery.run("bring me the red cup", cameras=["steady"], history_seconds=2.0, max_frames=20)
    assert result.error_code == Result.NONE, result.error_msg
    assert len(result.plan.cameras[0].stamps) == 5  # 2 s at frames.fps 2
    assert any("asked for 20 frames" in w and "at most 5" in w for w in result.plan.parse_warnings)
    status, result, _ = battery.run("bring me the red cup", cameras=["steady"], history_seconds=10.5)
    assert result.error_code == Result.INVALID_GOAL and "buffer holds 10.0 s" in result.error_msg
    status, result, _ = battery.run("bring me the red cup", cameras=["steady"], history_seconds=10.0, max_frames=3)
    assert result.error_code == Result.NONE, result.error_msg  # the whole buffer.seconds may be asked for
