#!/usr/bin/env python3
"""What standing watches cost the goals, and the period they achieve while goals come.

One real node (tiny taught model on the CPU, one camera at 10 Hz in this process, real DDS), goals sent over
the action every ``--goal-period`` s. Phase 1: ``--goals`` goals with no watch. Phase 2, same node, same run:
``--watches`` watches at ``--watch-period`` s added through ``~/add_watch``, then ``--goals`` goals again. For
each phase the send → result latency of every goal; for phase 2 each watch's achieved period (mean gap
between checks, as /diagnostics reports it), checks run, checks skipped by cause (a goal held the model, or
took it back from a running check) and the median check time.

The tiny model answers in about a hundred tokens, so a check costs what one short answer costs here; with a
7B model both the checks and the goals take seconds, and the preemption delay a goal sees stays one
decoding step (the check stops between steps).

    python benchmarks/watch_latency.py --json out.json
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import (
    fmt,
    isolate_dds,
    machine_info,
    machine_line,
    markdown_table,
    percentile,
    require_installed_package,
    scene_frame,
    tiny_model_dir,
    write_json,
)

NODE_NAME = "bench_watch_reasoner"
QUESTIONS = ["Is a person inside the robot arm's workspace?", "Has anything fallen off the table?",
             "Is liquid spilled on the table?", "Is the tray missing from the table?",
             "Is the gripper holding an object?", "Is a door open behind the table?"]


class Session:
    """The node on a MultiThreadedExecutor (as ``main()``), a client node with the camera and the clients."""

    def __init__(self, model: Path, args: argparse.Namespace) -> None:
        import rclpy
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_msgs.msg import Header

        from cosmos_reason_ros.action import ReasonAboutTask
        from cosmos_reason_ros.ros.cameras.image_conversion import rgb_to_image_fields
        from cosmos_reason_ros.ros.node.reasoner_node import ReasonerNode
        from cosmos_reason_ros.srv import AddWatch

        topic = f"/{NODE_NAME}/front/image_raw"
        params = {"model": str(model), "local.device": "cpu", "cameras.names": ["front"],
                  "cameras.front.topic": topic, "generation.max_new_tokens": 400}
        rclpy.logging.set_logger_level(NODE_NAME, rclpy.logging.LoggingSeverity.ERROR)
        self.node = ReasonerNode(node_name=NODE_NAME,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.client_node = rclpy.create_node("bench_watch_client")
        self.executor = MultiThreadedExecutor(num_threads=8)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client_node)
        frames = [scene_frame(i, 320, 240) for i in range(8)]
        publisher = self.client_node.create_publisher(Image, topic, qos_profile_sensor_data)
        self._count = 0

        def publish() -> None:
            stamp = self.client_node.get_clock().now().to_msg()
            fields = rgb_to_image_fields(frames[self._count % len(frames)])
            self._count += 1
            publisher.publish(Image(header=Header(stamp=stamp, frame_id="front"), **fields))

        self.client_node.create_timer(0.1, publish)
        self.goal_type = ReasonAboutTask.Goal
        self.action = ActionClient(self.client_node, ReasonAboutTask, f"/{NODE_NAME}/reason")
        self.add_watch = self.client_node.create_client(AddWatch, f"/{NODE_NAME}/add_watch")
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    @staticmethod
    def wait(predicate: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def ready(self) -> None:
        self.wait(lambda: self.node.parts.model.backend.ready, 120.0, "the model")
        self.wait(self.action.server_is_ready, 20.0, "the action server")
        self.wait(lambda: len(self.node.parts.ingest.cameras["front"].buffer) >= 10, 20.0, "a second of frames")

    def goal(self) -> tuple[float, int]:
        """One goal, send → result; (seconds, error code)."""
        started = time.perf_counter()
        future = self.action.send_goal_async(self.goal_type(task="bring me the red cup",
                                                            mode=self.goal_type.MODE_DECOMPOSE))
        self.wait(future.done, 30.0, "acceptance")
        result = future.result().get_result_async()
        self.wait(result.done, 120.0, "the result")
        return time.perf_counter() - started, result.result().result.error_code

    def add_watches(self, count: int, period: float) -> None:
        from cosmos_reason_ros.msg import Watch

        self.wait(self.add_watch.service_is_ready, 10.0, "the add_watch service")
        for i in range(count):
            request = self.add_watch.srv_type.Request(watch=Watch(name=f"w{i}", question=QUESTIONS[i % len(QUESTIONS)],
                                                                 period=period))
            future = self.add_watch.call_async(request)
            self.wait(future.done, 10.0, "add_watch")
            if not future.result().success:
                raise RuntimeError(future.result().error_msg)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        self.client_node.destroy_node()


def phase(session: Session, goals: int, period: float) -> list[dict[str, Any]]:
    """``goals`` goals, one every ``period`` s (the next starts ``period`` s after the previous one started)."""
    out = []
    for _ in range(goals):
        began = time.monotonic()
        seconds, code = session.goal()
        out.append({"latency_s": seconds, "error_code": code})
        time.sleep(max(0.0, period - (time.monotonic() - began)))  # the arrival schedule, not a wait for a result
    return out


def summary(goals: list[dict[str, Any]]) -> dict[str, float]:
    values = [g["latency_s"] for g in goals]
    return {"median_s": statistics.median(values), "p90_s": percentile(values, 90), "max_s": max(values),
            "succeeded": sum(g["error_code"] == 0 for g in goals)}


def tables(data: dict[str, Any]) -> str:
    """The goal-latency table, the ratio line and the per-watch table (printed, and rendered by run_all.py)."""
    settings, a, b = data["settings"], data["summary_without"], data["summary_with"]
    goals = markdown_table(["goals", "watches", "median s", "p90 s", "max s", "succeeded"], [
        [settings["goals"], "none", fmt(a["median_s"], 3), fmt(a["p90_s"], 3), fmt(a["max_s"], 3), a["succeeded"]],
        [settings["goals"], f"{settings['watches']} at {settings['watch_period']:g} s", fmt(b["median_s"], 3),
         fmt(b["p90_s"], 3), fmt(b["max_s"], 3), b["succeeded"]]])
    ratio = (f"Goal latency with ÷ without watches (same run, same node): median {data['ratio_median']:.2f}, "
             f"p90 {data['ratio_p90']:.2f}. Goals arrive every {settings['goal_period']:g} s.")
    watches = markdown_table(["watch", "period s", "achieved s", "checks during the goals", "skipped (cause: count)",
                              "last check s"], [
        [w["name"], fmt(w["period_s"], 1), fmt(w["achieved_period_s"], 2), w["checks"],
         ", ".join(f"{k}: {v}" for k, v in sorted(w["skipped"].items())) or "0", fmt(w["last_check_time_s"], 3)]
        for w in data["watches"]])
    return f"{goals}\n\n{ratio}\n\n{watches}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goals", type=int, default=8, help="goals per phase")
    parser.add_argument("--goal-period", type=float, default=5.0, help="s between goal arrivals")
    parser.add_argument("--watches", type=int, default=3)
    parser.add_argument("--watch-period", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    isolate_dds()
    require_installed_package()
    import rclpy

    model = tiny_model_dir()
    rclpy.init()
    session = Session(model, args)
    try:
        session.ready()
        session.goal()  # warm the path once; not counted
        without = phase(session, args.goals, args.goal_period)
        session.add_watches(args.watches, args.watch_period)
        session.wait(lambda: all(e.stats.checks >= 2 for e in session.node.parts.watches.entries().values()), 60.0,
                     "two checks of every watch (an achieved period)")
        started_checks = {n: e.stats.checks for n, e in session.node.parts.watches.entries().items()}
        with_watches = phase(session, args.goals, args.goal_period)
        watches = []
        for name, entry in session.node.parts.watches.entries().items():
            check_times = entry.check_time
            watches.append({"name": name, "period_s": entry.spec.period,
                            "achieved_period_s": entry.stats.achieved_period,
                            "checks": entry.stats.checks - started_checks[name], "checks_total": entry.stats.checks,
                            "skipped": dict(entry.stats.skipped),
                            "last_check_time_s": check_times, "state": entry.tracker.state.name})
    finally:
        session.close()
        rclpy.try_shutdown() if hasattr(rclpy, "try_shutdown") else rclpy.shutdown()
    a, b = summary(without), summary(with_watches)
    data = {"machine": machine_info(), "settings": vars(args) | {"json": str(args.json)}, "without": without,
            "with_watches": with_watches, "summary_without": a, "summary_with": b,
            "ratio_median": b["median_s"] / a["median_s"], "ratio_p90": b["p90_s"] / a["p90_s"], "watches": watches}
    print(f"Measured on: {machine_line(data['machine'])}")
    print(tables(data))
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
