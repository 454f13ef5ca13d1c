#!/usr/bin/env python3
"""What the node adds around the model per goal, measured with real rclpy over Fast DDS.

1. Goal path, with the tiny taught model (the model's own time is reported separately): client send →
   goal accepted, accepted → the core's model call (frame wait, selection, decode, resize, prompt), the
   model's return → result received by the client (parse, messages, publishing, result service).
2. Feedback rate while the (random-weight) tiny model generates a long answer.
3. Frame selection + decode + resize (``select_aligned`` + image conversion + ``prepare_clips``) for 8 and
   16 frames of 640×480 and 1920×1080, rgb8 and JPEG, from a buffer of real sensor_msgs messages.

    python benchmarks/goal_overhead.py [--goals 20] [--json out.json]   (run inside `. scripts/env.sh`)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))

import rclpy  # noqa: E402

from conftest import build_tiny_model  # noqa: E402
from ros_harness import Camera, Harness, image_msg, jpeg_msg, synthetic_frame  # noqa: E402

from cosmos_reason_ros.core.frame_buffer import BufferLimits, FrameBuffer, select_aligned  # noqa: E402
from cosmos_reason_ros.core.video import VideoBudget, prepare_clips  # noqa: E402
from cosmos_reason_ros.core.families import REASON1  # noqa: E402
from cosmos_reason_ros.ros.camera_ingest import Camera as IngestCamera, decode_clip  # noqa: E402
from cosmos_reason_ros.ros.parameters import CameraConfig  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402


def ms(values: list[float]) -> str:
    """median / p90 in milliseconds."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(values) * 1000:.1f} / {p90 * 1000:.1f}"


class GenerateTimer:
    """Wraps the node's backend.generate to timestamp the model call (entry and return)."""

    def __init__(self, backend: Any) -> None:
        self.calls: list[tuple[float, float]] = []
        self._generate = backend.generate
        backend.generate = self

    def __call__(self, request: Any) -> Any:
        entered = time.monotonic()
        try:
            return self._generate(request)
        finally:
            self.calls.append((entered, time.monotonic()))


def goal_path(goals: int) -> dict[str, Any]:
    harness = Harness({"model": str(build_tiny_model("reason1", teach=True)), "generation.max_new_tokens": 64},
                      [Camera("front", "/bench_goal/front/image_raw", width=640, height=480)],
                      node_name="bench_goal")
    try:
        harness.wait_ready()
        timer = GenerateTimer(harness.node.backend)
        sent_to_accepted, accepted_to_model, model_to_result, model = [], [], [], []
        for _ in range(goals + 1):  # the first goal warms caches up and is not counted
            sent = time.monotonic()
            handle = harness.send("bring me the red cup")
            accepted = time.monotonic()
            future = handle.get_result_async()
            harness.wait_for(future.done, 60, "result")
            received = time.monotonic()
            assert future.result().result.error_code == 0, future.result().result.error_msg
            entered, returned = timer.calls[-1]
            sent_to_accepted.append(accepted - sent)
            accepted_to_model.append(entered - accepted)
            model_to_result.append(received - returned)
            model.append(returned - entered)
        cut = slice(1, None)
        return {"sent_to_accepted_ms": ms(sent_to_accepted[cut]), "accepted_to_model_call_ms": ms(accepted_to_model[cut]),
                "model_return_to_result_ms": ms(model_to_result[cut]), "model_call_ms": ms(model[cut]),
                "goals": goals}
    finally:
        harness.close()


def feedback_rate(seconds_of_generation_tokens: int = 600) -> dict[str, Any]:
    harness = Harness({"model": str(build_tiny_model("reason1", teach=False)), "generation.temperature": 0.0,
                       "generation.max_new_tokens": seconds_of_generation_tokens},
                      [Camera("front", "/bench_feedback/front/image_raw")], node_name="bench_feedback")
    try:
        harness.wait_ready()
        status, result, feedback = harness.run("describe the scene")
        stats = result.plan.stats
        streaming = [f for f in feedback if f.stage >= 4]  # thinking / answering
        span = streaming[-1].elapsed - streaming[0].elapsed if len(streaming) > 1 else 0.0
        return {"tokens": stats.generated_tokens, "tokens_per_s": round(stats.tokens_per_second, 1),
                "feedback_messages": len(feedback), "feedback_hz": round((len(streaming) - 1) / span, 1) if span else 0.0,
                "feedback_rate_parameter_hz": harness.node.settings.feedback_rate}
    finally:
        harness.close()


def camera_for(compressed: bool) -> IngestCamera:
    """A camera as the node keeps it, for the node's own decode path (with its JPEG reduction)."""
    return IngestCamera(CameraConfig("front", "front/image_raw", compressed), FrameBuffer(BufferLimits()))


def selection_decode_resize(repeats: int) -> list[dict[str, Any]]:
    budget = VideoBudget(max_visual_tokens=8192)
    rows = []
    for width, height in ((640, 480), (1920, 1080)):
        for compressed in (False, True):
            buffer: FrameBuffer = FrameBuffer(BufferLimits(max_seconds=10, max_frames=200, max_bytes=0, min_interval=0))
            for i in range(100):  # 10 s at 10 Hz
                stamp = Time(sec=1000 + i // 10, nanosec=(i % 10) * 100_000_000)
                pixels = synthetic_frame(i, width, height)
                msg = jpeg_msg(pixels, stamp, "cam") if compressed else image_msg(pixels, stamp, "cam")
                buffer.offer(stamp.sec + stamp.nanosec * 1e-9, msg, len(msg.data), time.monotonic())
            for frames in (8, 16):
                select, decode, prepare = [], [], []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    _, picked = select_aligned({"front": buffer.snapshot()}, frames / 2.0, frames, 2.0)
                    t1 = time.perf_counter()
                    clip = decode_clip(camera_for(compressed), picked["front"], budget.max_frame_pixels, print)
                    t2 = time.perf_counter()
                    prepared = prepare_clips([clip], REASON1, budget)
                    t3 = time.perf_counter()
                    select.append(t1 - t0)
                    decode.append(t2 - t1)
                    prepare.append(t3 - t2)
                rows.append({"source": f"{width}x{height} {'jpeg' if compressed else 'rgb8'}", "frames": frames,
                             "selected": len(picked["front"]), "select_ms": ms(select), "decode_ms": ms(decode),
                             "resize_ms": ms(prepare), "visual_tokens": prepared[0].visual_tokens})
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goals", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rclpy.init()
    try:
        path = goal_path(args.goals)
        rate = feedback_rate()
    finally:
        rclpy.try_shutdown() if hasattr(rclpy, "try_shutdown") else rclpy.shutdown()
    frames = selection_decode_resize(args.repeats)
    print(f"Goal path over {path['goals']} goals (median / p90, ms)\n")
    print("| sent → accepted | accepted → model call | model call (tiny model) | model return → result received |")
    print("|---|---|---|---|")
    print(f"| {path['sent_to_accepted_ms']} | {path['accepted_to_model_call_ms']} | {path['model_call_ms']} | "
          f"{path['model_return_to_result_ms']} |\n")
    print(f"Feedback: {rate['feedback_messages']} messages for {rate['tokens']} tokens at {rate['tokens_per_s']} tok/s: "
          f"{rate['feedback_hz']} Hz while streaming (feedback_rate {rate['feedback_rate_parameter_hz']} Hz)\n")
    print("Frame selection, decode and resize per goal (median / p90, ms)\n")
    print("| source | frames | selected | select | decode | resize + strip | visual tokens |")
    print("|---|---|---|---|---|---|---|")
    for r in frames:
        print(f"| {r['source']} | {r['frames']} | {r['selected']} | {r['select_ms']} | {r['decode_ms']} | "
              f"{r['resize_ms']} | {r['visual_tokens']} |")
    if args.json:
        args.json.write_text(json.dumps({"goal_path": path, "feedback": rate, "frames": frames}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
