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

``--checks`` measures what one check costs instead (issue 27), the old reasoning check and the one-token check
in one run, same machine, same tiny Reason1 architecture (the reasoning check on the model taught a reasoning
answer, the one-token check on the one taught the word "no"): for 1 / 3 / 8 watches on one camera, all due
all the time (period 0.1 s), checks per second, the check latency and the tokens generated per check, on the
real node over DDS; then, on the backend alone, N questions over the same clip in one call (one shared
prefill) against N separate one-question calls.

    python benchmarks/watch_latency.py --checks --json out.json
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

    def __init__(self, model: Path, args: argparse.Namespace, size: tuple[int, int] = (320, 240),
                 extra: dict[str, Any] | None = None) -> None:
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
                  "cameras.front.topic": topic, "generation.max_new_tokens": 400, **(extra or {})}
        rclpy.logging.set_logger_level(NODE_NAME, rclpy.logging.LoggingSeverity.ERROR)
        self.node = ReasonerNode(node_name=NODE_NAME,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.client_node = rclpy.create_node("bench_watch_client")
        self.executor = MultiThreadedExecutor(num_threads=8)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client_node)
        frames = [scene_frame(i, *size) for i in range(8)]
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

    def add_watches(self, count: int, period: float, reasoning: bool = True) -> None:
        from cosmos_reason_ros.msg import Watch

        self.wait(self.add_watch.service_is_ready, 10.0, "the add_watch service")
        for i in range(count):
            question = QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" (camera view {i})")
            request = self.add_watch.srv_type.Request(watch=Watch(name=f"w{i}", question=question, period=period,
                                                                 reasoning=reasoning))
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


#: The two kinds of check compared by ``--checks``: (label, the watch's reasoning field, the tiny model's scenario).
CHECK_KINDS = (("reasoning check (before)", True, "reachable"), ("one-token check (after)", False, "watch_no"))


def check_throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    """For each kind of check and each watch count: checks per second and per-check latency and tokens, with
    every watch due all the time on one camera (a fresh node per row, the same process)."""
    rows = []
    for label, reasoning, scenario in CHECK_KINDS:
        model = tiny_model_dir(scenario=scenario)
        for count in args.check_counts:
            rows.append(measure_checks(model, args, count, reasoning) | {"kind": label, "watches": count})
            print(f"{label}, {count} watch(es): {rows[-1]['checks_per_s']:.2f} checks/s", flush=True)
    return rows


def measure_checks(model: Path, args: argparse.Namespace, count: int, reasoning: bool) -> dict[str, Any]:
    """``count`` watches on a fresh node for ``--check-seconds``: checks, latency and tokens of each check."""
    session = Session(model, args, size=args.size, extra={"frames.max_frames": args.frames})
    try:
        session.ready()
        session.add_watches(count, 0.1, reasoning=reasoning)
        entries = session.node.parts.watches.entries

        def all_checked() -> bool:
            held = entries()
            return len(held) == count and all(e.stats.checks >= 1 for e in held.values())

        session.wait(all_checked, 120.0, "a first check of every watch")
        seen = {n: e.stats.checks for n, e in entries().items()}
        start_checks, latencies, tokens = sum(seen.values()), [], []
        began = time.monotonic()
        while time.monotonic() - began < args.check_seconds:
            for name, entry in entries().items():
                if entry.stats.checks != seen[name]:
                    seen[name] = entry.stats.checks
                    latencies.append(entry.check_time)
                    if entry.evidence is not None:
                        tokens.append(entry.evidence.generation.stats.generated_tokens)
            time.sleep(0.005)
        elapsed = time.monotonic() - began
        checks = sum(e.stats.checks for e in entries().values()) - start_checks
        states = sorted({e.tracker.state.name for e in entries().values()})
    finally:
        session.close()
    return {"checks": checks, "seconds": elapsed, "checks_per_s": checks / elapsed,
            "latency_median_s": statistics.median(latencies), "latency_p90_s": percentile(latencies, 90),
            "tokens_per_check": statistics.median(tokens), "states": states}


def shared_prefill(args: argparse.Namespace) -> list[dict[str, Any]]:
    """N questions about one clip: one call (one prefill of the video, N continuations) against N one-question
    calls (N prefills), on the backend alone; medians of ``--prefill-reps`` repetitions, alternating."""
    from cosmos_reason_ros.core.datatypes import CameraClip, Frame
    from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
    from cosmos_reason_ros.core.models.backend import YesNoRequest
    from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
    from cosmos_reason_ros.core.modes.prompts import build_watch_prompt, watch_question

    backend = TransformersBackend(TransformersConfig(model=str(tiny_model_dir(scenario="watch_no")), device="cpu"))
    backend.load()
    assert backend.family is not None
    clip = CameraClip("front", [Frame(scene_frame(i, *args.size), 0.5 * i) for i in range(args.frames)])
    prepared = prepare_clips([clip], backend.family, VideoBudget())
    prompt = build_watch_prompt(backend.family, prepared, backend.control_tokens)
    rows = []
    for count in args.check_counts:
        questions = tuple(watch_question(QUESTIONS[i % len(QUESTIONS)] + f" ({i})") for i in range(count))
        together, apart, prefills = [], [], 0
        for _ in range(args.prefill_reps):
            began = time.perf_counter()
            out = backend.answer_yes_no(YesNoRequest(prompt, questions))
            together.append(time.perf_counter() - began)
            prefills = out.prefills
            began = time.perf_counter()
            for question in questions:
                backend.answer_yes_no(YesNoRequest(prompt, (question,)))
            apart.append(time.perf_counter() - began)
        rows.append({"questions": count, "together_s": statistics.median(together),
                     "separate_s": statistics.median(apart), "prefills_together": prefills, "prefills_separate": count,
                     "ratio": statistics.median(together) / statistics.median(apart), "note": out.note,
                     "prompt_tokens": out.prompt_tokens, "visual_tokens": out.visual_tokens})
        print(f"{count} question(s): together {rows[-1]['together_s']:.3f} s, separate {rows[-1]['separate_s']:.3f} s",
              flush=True)
    backend.close()
    return rows


def check_tables(data: dict[str, Any]) -> str:
    """The --checks tables: checks per second by kind and count; the shared-prefill ratio."""
    settings = data["settings"]
    throughput = markdown_table(
        ["check", "watches", "checks / s", "check latency median s", "p90 s", "tokens / check", "states"],
        [[r["kind"], r["watches"], fmt(r["checks_per_s"], 2), fmt(r["latency_median_s"], 3),
          fmt(r["latency_p90_s"], 3), fmt(r["tokens_per_check"], 0), ", ".join(r["states"])]
         for r in data["throughput"]])
    prefill = markdown_table(
        ["questions", "one call (1 prefill) s", "separate calls (N prefills) s", "one call ÷ separate",
         "prompt tokens (visual)"],
        [[r["questions"], fmt(r["together_s"], 3), fmt(r["separate_s"], 3), fmt(r["ratio"], 2),
          f"{r['prompt_tokens']} ({r['visual_tokens']})"] for r in data["prefill"]])
    return (f"Camera {settings['size'][0]}×{settings['size'][1]} at 10 Hz, {settings['frames']} frames per check, "
            f"every watch due all the time (period 0.1 s), {settings['check_seconds']:g} s per row.\n\n{throughput}"
            f"\n\nShared prefill, backend alone ({settings['frames']} frames {settings['size'][0]}×"
            f"{settings['size'][1]}, {settings['prefill_reps']} repetitions, medians):\n\n{prefill}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goals", type=int, default=8, help="goals per phase")
    parser.add_argument("--goal-period", type=float, default=5.0, help="s between goal arrivals")
    parser.add_argument("--watches", type=int, default=3)
    parser.add_argument("--watch-period", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--checks", action="store_true", help="measure the checks themselves (see the module help)")
    parser.add_argument("--check-counts", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--check-seconds", type=float, default=15.0)
    parser.add_argument("--frames", type=int, default=8, help="--checks: frames per check")
    parser.add_argument("--size", type=lambda t: tuple(int(v) for v in t.split("x")), default=(640, 480),
                        help="--checks: camera frame size WxH")
    parser.add_argument("--prefill-reps", type=int, default=5)
    args = parser.parse_args(argv)
    isolate_dds()
    require_installed_package()
    import rclpy

    if args.checks:
        rclpy.init()
        try:
            throughput = check_throughput(args)
        finally:
            rclpy.try_shutdown() if hasattr(rclpy, "try_shutdown") else rclpy.shutdown()
        data = {"machine": machine_info(), "settings": vars(args) | {"json": str(args.json)},
                "throughput": throughput, "prefill": shared_prefill(args)}
        print(f"Measured on: {machine_line(data['machine'])}")
        print(check_tables(data))
        write_json(args.json, data)
        return 0
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
