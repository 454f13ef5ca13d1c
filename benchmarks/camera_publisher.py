#!/usr/bin/env python3
"""Synthetic cameras (and optionally a goal-sending client) in their own process, for the CPU benchmarks.

Running the cameras outside the node's process keeps the node's CPU and memory figures its own. Each
camera publishes sensor_msgs/Image (rgb8) or CompressedImage (JPEG) with sensor-data QoS at a fixed rate
from pre-built messages (only the stamp changes) until a line "stop" (or end of file) arrives on stdin, or
``--max-seconds`` pass; then the process writes what it sent (every stamp, per topic) as JSON. With
``--goal-action`` it also sends goals back to back, so the node is generating while its cameras stream.

    echo stop | python benchmarks/camera_publisher.py --topics /bench/cam0/image_raw --stats sent.json
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image

from common import parse_size, scene_frame
from cosmos_reason_ros.testing.publisher_process import stop_on_stdin

DISTINCT_FRAMES = 4  # messages cycled per camera (the content barely matters to ingest)


def build_messages(frames: list[Any], compressed: bool, frame_id: str, jpeg_quality: int) -> list[Any]:
    messages = []
    for pixels in frames:
        height, width = pixels.shape[:2]
        if compressed:
            ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            assert ok
            msg: Any = CompressedImage(format="rgb8; jpeg compressed bgr8", data=encoded.tobytes())
        else:
            msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3,
                        data=pixels.tobytes())
        msg.header.frame_id = frame_id
        messages.append(msg)
    return messages


class GoalLoop:
    """Sends ReasonAboutTask goals one after another (the next as soon as the previous ends)."""

    def __init__(self, node: Any, action: str, max_new_tokens: int, stop: threading.Event) -> None:
        from cosmos_reason_ros.action import ReasonAboutTask

        self._goal_type = ReasonAboutTask.Goal
        self._client = ActionClient(node, ReasonAboutTask, action)
        self._max_new_tokens = max_new_tokens
        self._stop = stop
        self.outcomes: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, name="goal-loop", daemon=True)

    def _count(self, key: str) -> None:
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    @staticmethod
    def _wait(future: Any, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > end:
                return False
            time.sleep(0.002)
        return True

    def _run(self) -> None:
        if not self._client.wait_for_server(timeout_sec=30.0):
            self._count("no_server")
            return
        while not self._stop.is_set():
            goal = self._goal_type(task="put the red cup on the tray", max_new_tokens=self._max_new_tokens)
            sent = self._client.send_goal_async(goal)
            if not self._wait(sent, 30.0):
                self._count("no_answer")
                return
            handle = sent.result()
            if not handle.accepted:
                self._count("rejected")
                time.sleep(0.05)
                continue
            result = handle.get_result_async()
            if not self._wait(result, 120.0):
                self._count("no_result")
                return
            code = int(result.result().result.error_code)
            self._count("succeeded" if code == 0 else f"error_{code}")


def publish(node: Any, topics: list[str], messages: dict[str, list[Any]], rate: float,
            stop: threading.Event) -> tuple[dict[str, list[int]], int]:
    """Publish every topic once per period until ``stop``; return the stamps sent (ns) and late ticks.

    Ticks that fall behind are not made up in a burst: the next tick is scheduled from now.
    """
    publishers = {t: node.create_publisher(type(messages[t][0]), t, qos_profile_sensor_data) for t in topics}
    sent: dict[str, list[int]] = {t: [] for t in topics}
    period = 1.0 / rate
    late = 0
    next_tick = time.monotonic()
    count = 0
    while not stop.is_set():
        now = node.get_clock().now()
        stamp = now.to_msg()
        for topic in topics:
            msg = messages[topic][count % DISTINCT_FRAMES]
            msg.header.stamp = stamp
            publishers[topic].publish(msg)
            sent[topic].append(now.nanoseconds)
        count += 1
        next_tick += period
        delay = next_tick - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            late += 1
            next_tick = time.monotonic()
    return sent, late


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", nargs="+", required=True, help="one per camera; '.../compressed' = JPEG")
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT")
    parser.add_argument("--rate", type=float, default=30.0, help="Hz per camera")
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop by then even without 'stop'")
    parser.add_argument("--goal-action", help="also send goals back to back to this action")
    parser.add_argument("--goal-max-new-tokens", type=int, default=0, help="0 = the node's default")
    parser.add_argument("--stats", type=Path, required=True, help="write what was sent here (JSON)")
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    stop = stop_on_stdin(args.max_seconds)
    rclpy.init()
    node = rclpy.create_node("bench_cameras")
    frames = [scene_frame(index, width, height) for index in range(DISTINCT_FRAMES)]
    messages = {t: build_messages(frames, t.endswith("/compressed"), f"cam{i}_optical_frame", args.jpeg_quality)
                for i, t in enumerate(args.topics)}
    goals: GoalLoop | None = None
    executor = SingleThreadedExecutor()
    spinner = threading.Thread(target=executor.spin, daemon=True)
    if args.goal_action:
        goals = GoalLoop(node, args.goal_action, args.goal_max_new_tokens, stop)
        executor.add_node(node)
        spinner.start()
        goals.thread.start()
    cpu_started, wall_started = time.process_time(), time.monotonic()
    sent, late = publish(node, args.topics, messages, args.rate, stop)
    cpu, wall = time.process_time() - cpu_started, time.monotonic() - wall_started
    if goals is not None:
        goals.thread.join(timeout=130.0)
    args.stats.write_text(json.dumps({
        "sent": sent, "late_ticks": late, "cpu_share": cpu / wall if wall > 0 else 0.0,
        "message_bytes": {t: len(serialize_message(m[0])) for t, m in messages.items()},
        "goals": goals.outcomes if goals is not None else {},
    }))
    executor.shutdown(timeout_sec=2.0)
    if spinner.is_alive():
        spinner.join(timeout=5.0)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
