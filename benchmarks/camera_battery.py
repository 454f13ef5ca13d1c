#!/usr/bin/env python3
"""Memory of the node beside misbehaving cameras: resident memory over time while a battery of malformed
frames (``cosmos_reason_ros.testing.malformed_cameras``: 13 kinds of broken Image, 9 of broken
CompressedImage) arrives interleaved with valid frames, and goals run back to back.

Three processes: the node (real ReasonerNode, tiny model, forked from this one), the cameras (the battery,
its own process), and this one, which sends goals asking for ``--frames`` frames of ``--history`` s from both
cameras and checks every answer: error code, frame count per camera, and that every frame stamp came from a
valid frame (valid frames have even stamp nanoseconds). Resident memory of the node process is sampled
every 0.25 s and reported as the median of each 10 s slice; the counters of /diagnostics come at the end.

    python benchmarks/camera_battery.py --seconds 60 --json out.json
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from common import (
    fmt,
    isolate_dds,
    machine_info,
    machine_line,
    markdown_table,
    require_installed_package,
    tiny_model_dir,
    use_dds_profile,
    write_json,
)

NODE = "bench_battery"
WARMUP = 3.0  # s of frames beyond the goals' history before the first goal and before the window opens


def node_process(model: str, topics: dict[str, str], args: argparse.Namespace, conn: Any) -> None:
    """The node under test: report 'ready', then RSS samples until told to stop, then its camera counters."""
    import rclpy
    import rclpy.logging
    import torch
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter

    from cosmos_reason_ros.ros.node.reasoner_node import ReasonerNode

    torch.set_num_threads(1)
    rclpy.init()
    rclpy.logging.set_logger_level(NODE, rclpy.logging.LoggingSeverity.ERROR)
    params: dict[str, Any] = {"model": model, "local.device": "cpu", "cameras.names": list(topics)}
    params.update({f"cameras.{name}.topic": topic for name, topic in topics.items()})
    node = ReasonerNode(node_name=NODE, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    executor = MultiThreadedExecutor(num_threads=node.parts.settings.max_queue + 4)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    while not node.parts.model.backend.ready:
        time.sleep(0.05)
    process = psutil.Process()
    conn.send({"rss_before": process.memory_info().rss})
    started = time.monotonic()
    samples = []
    while not conn.poll(0.25):
        samples.append((time.monotonic() - started, process.memory_info().rss))
    conn.recv()
    cameras = {}
    for name, camera in node.parts.ingest.cameras.items():
        c = camera.buffer.counters
        cameras[name] = {"received": c.received, "stored": c.stored, "thinned": c.thinned, "malformed": c.rejected,
                         "decode_failures": camera.decode_failures, "by_kind": dict(camera.malformed_by_kind),
                         "stamp_outliers": c.stamp_outliers, "time_jumps": c.time_jumps,
                         "buffered_frames": len(camera.buffer), "buffered_mb": camera.buffer.nbytes / 2**20}
    conn.send({"rss": samples, "cameras": cameras})
    node.parts.goals.cancel_all(wait=5.0)
    executor.shutdown(timeout_sec=5.0)
    node.destroy_node()
    rclpy.try_shutdown()


def send_goals(topics: dict[str, str], args: argparse.Namespace, stop: threading.Event,
               outcomes: dict[str, int], started: list[float], short: list[list[str]]) -> None:
    """Goals back to back (this process); every successful plan is checked frame by frame."""
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor

    from cosmos_reason_ros.action import ReasonAboutTask

    rclpy.init()
    node = rclpy.create_node("bench_battery_client")
    client = ActionClient(node, ReasonAboutTask, f"/{NODE}/reason")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()

    def wait(future: Any, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not future.done() and time.monotonic() < end:
            time.sleep(0.005)
        return future.done()

    def count(key: str) -> None:
        outcomes[key] = outcomes.get(key, 0) + 1

    client.wait_for_server(timeout_sec=30.0)
    stop.wait(args.history + WARMUP)  # the buffers hold the goals' history before the first goal
    started.append(time.monotonic())
    while not stop.is_set():
        goal = ReasonAboutTask.Goal(task="bring me the red cup", cameras=list(topics), history_seconds=args.history,
                                    max_frames=args.frames)
        sent = client.send_goal_async(goal)
        if not wait(sent, 30.0) or not sent.result().accepted:
            count("not_accepted")
            continue
        result = sent.result().get_result_async()
        if not wait(result, 120.0):
            count("no_result")
            continue
        answer = result.result().result
        if answer.error_code != ReasonAboutTask.Result.NONE:
            count(f"error_{answer.error_code}")
            time.sleep(0.1)
            continue
        cams = answer.plan.cameras
        count("succeeded")
        if any(len(c.stamps) != args.frames for c in cams) or len(cams) != len(topics):
            count("fewer_frames_than_asked")
            if len(short) < 5:
                short.append(list(answer.plan.parse_warnings))
        if any(s.nanosec % 2 for c in cams for s in c.stamps):
            count("frame_from_a_malformed_message")
    executor.shutdown(timeout_sec=2.0)
    client.destroy()
    node.destroy_node()
    rclpy.try_shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window")
    parser.add_argument("--rate", type=float, default=30.0, help="Hz of valid frames per camera (as many bad ones)")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--history", type=float, default=2.0, help="history_seconds of each goal")
    parser.add_argument("--frames", type=int, default=5, help="max_frames of each goal")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    require_installed_package()
    isolate_dds()
    transport = use_dds_profile("large-shm")
    model = str(tiny_model_dir("reason1"))
    import rclpy  # noqa: F401  (loaded before the fork, as ingest.py does)
    import torch  # noqa: F401


    prefix = f"/battery{os.getpid()}"
    topics = {"raw": f"{prefix}/raw/image_raw", "jpeg": f"{prefix}/jpeg/image_raw/compressed"}
    parent, child = multiprocessing.Pipe()
    worker = multiprocessing.get_context("fork").Process(target=node_process, args=(model, topics, args, child),
                                                         daemon=True)
    worker.start()
    if not parent.poll(180.0):
        sys.exit("the node process did not become ready")
    before = parent.recv()
    with tempfile.TemporaryDirectory(prefix="cosmos-battery-") as tmp:
        stats = Path(tmp) / "sent.json"
        publisher = subprocess.Popen(
            [sys.executable, "-m", "cosmos_reason_ros.testing.malformed_cameras", "--topics", *topics.values(),
             "--rate", str(args.rate), "--size", args.size, "--jitter", str(args.jitter), "--stats", str(stats),
             "--max-seconds", str(args.seconds + 120)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if publisher.stdout.readline().strip() != "publishing":  # started: the goals' warm-up counts from here
            sys.exit("the camera battery did not start")
        stop, outcomes, goal_start, short = threading.Event(), {}, [], []
        goals = threading.Thread(target=send_goals, args=(topics, args, stop, outcomes, goal_start, short), daemon=True)
        goals.start()
        time.sleep(args.seconds + args.history + WARMUP)
        stop.set()
        goals.join(timeout=130.0)
        parent.send("stop")
        figures = parent.recv()
        publisher.communicate("stop\n", timeout=60)  # (reads the rest of its output too)
        sent = json.loads(stats.read_text())
    worker.join(timeout=30.0)
    mb = lambda b: b / 2**20  # noqa: E731
    rss = figures["rss"]
    offset = args.history + WARMUP  # the window opens with the first goal
    slices = [[v for t, v in rss if offset + start <= t < offset + start + 10]
              for start in range(0, int(args.seconds), 10)]
    by_10s = [mb(sorted(s)[len(s) // 2]) for s in slices if s]
    headers = ["before"] + [f"{10 * i}–{10 * (i + 1)} s" for i in range(len(by_10s))] + ["peak"]
    print(markdown_table(headers, [[fmt(mb(before["rss_before"]), 0)] + [fmt(v, 0) for v in by_10s]
                                   + [fmt(mb(max(v for _, v in rss)), 0)]]))
    kinds = sorted({k for c in figures["cameras"].values() for k in c["by_kind"]})
    rows = [[name, c["received"], c["stored"], c["thinned"], c["malformed"], c["decode_failures"], c["stamp_outliers"],
             ", ".join(f"{k} {c['by_kind'][k]}" for k in kinds if k in c["by_kind"]), c["buffered_frames"],
             fmt(c["buffered_mb"], 1)] for name, c in figures["cameras"].items()]
    print("\n" + markdown_table(["camera", "received", "stored", "thinned", "malformed", "decode failures",
                                 "stamp outliers",
                                 "malformed by kind", "buffered", "buffered MB"], rows))
    print("\ngoals: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    for warnings in short:
        print(f"  fewer frames: {warnings}")
    info = machine_info()
    write_json(args.json, {"machine": info, "settings": {k: v for k, v in vars(args).items() if k != "json"},
                           "transport": transport, "rss_mb_before": mb(before["rss_before"]), "rss_mb_by_10s": by_10s,
                           "rss_mb_peak": mb(max(v for _, v in rss)), "cameras": figures["cameras"],
                           "goals": outcomes, "short_goal_warnings": short, "bad_sent": sent["bad"],
                           "valid_sent": {t: len(v) for t, v in sent["valid"].items()}})
    print(f"\n{machine_line(info)}; transport: {transport}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
