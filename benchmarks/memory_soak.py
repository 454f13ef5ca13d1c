#!/usr/bin/env python3
"""Resident memory of the installed reasoner over a long run: cameras streaming and goals arriving.

The node runs as its own process (``install/lib/cosmos_reason_ros/reasoner``) with the tiny test model;
synthetic cameras run in another process (``camera_publisher.py``); goals come from this one. RSS of the
node is sampled every ``--sample`` s and printed per minute, with the change since minute 2 (the target:
flat within 50 MB after the first 2 minutes).

    soak:  a goal every ``--goal-period`` s (default 5), 2 cameras 640x480 rgb8 at 30 Hz, 15 minutes
    storm: bursts of ``--burst`` goals at once (busy_policy queue), the next burst when all ended

    python benchmarks/memory_soak.py --mode soak --minutes 15 --json benchmarks/out/soak.json
    python benchmarks/memory_soak.py --mode storm --minutes 5
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import (
    isolate_dds,
    machine_info,
    machine_line,
    markdown_table,
    require_installed_package,
    tiny_model_dir,
    use_dds_profile,
    write_json,
)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def installed_reasoner() -> Path:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(":"):
        candidate = Path(prefix) / "lib" / "cosmos_reason_ros" / "reasoner"
        if candidate.is_file():
            return candidate
    sys.exit("the reasoner executable is not installed: build with scripts/build.sh and source scripts/env.sh")


class Goals:
    """Sends goals (periodically or in bursts) and counts outcomes by error code."""

    def __init__(self, node: Any, action: str) -> None:
        from rclpy.action import ActionClient
        from rclpy.qos import QoSProfile

        from cosmos_reason_ros.action import ReasonAboutTask

        self.goal_type = ReasonAboutTask.Goal
        # A burst of goals needs deep service queues on the client too (rclpy's default 10 drops the rest).
        deep = QoSProfile(depth=100)
        self.client = ActionClient(node, ReasonAboutTask, action, goal_service_qos_profile=deep,
                                   result_service_qos_profile=deep, cancel_service_qos_profile=deep)
        self.outcomes: dict[str, int] = {}
        self.pending = 0
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def send(self, max_new_tokens: int) -> None:
        """Send one goal; its outcome is counted when the result arrives (nothing blocks)."""
        with self._lock:
            self.pending += 1
        future = self.client.send_goal_async(self.goal_type(task="put the red cup on the tray",
                                                            max_new_tokens=max_new_tokens))

        def accepted(f: Any) -> None:
            handle = f.result()
            if not handle.accepted:
                self._done("rejected")
                return
            handle.get_result_async().add_done_callback(
                lambda r: self._done("ok" if r.result().result.error_code == 0
                                     else f"code_{r.result().result.error_code}"))

        future.add_done_callback(accepted)

    def _done(self, key: str) -> None:
        self._count(key)
        with self._lock:
            self.pending -= 1

    @property
    def finished(self) -> int:
        with self._lock:
            return sum(self.outcomes.values())


def run(args: argparse.Namespace) -> dict[str, Any]:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    isolate_dds()
    dds = use_dds_profile("large-shm")
    model = args.model or str(tiny_model_dir("reason1"))
    topics = [f"/soak/cam{i}/image_raw" for i in range(args.cameras)]
    names = [f"cam{i}" for i in range(args.cameras)]
    params = [f"model:={model}", f"cameras.names:=[{','.join(names)}]",
              f"generation.max_new_tokens:={args.max_new_tokens}", "frames.stale_after:=5.0"]
    params += [f"cameras.{n}.topic:={t}" for n, t in zip(names, topics, strict=True)]
    if args.mode == "storm":
        params += ["busy_policy:=queue", f"max_queue:={max(args.burst, 4)}"]
    command = [str(installed_reasoner()), "--ros-args", "-r", "__node:=soak_reasoner"]
    for p in params:
        command += ["-p", p]
    env = dict(os.environ)
    for item in args.node_env:
        key, _, value = item.partition("=")
        env[key] = value
    node_proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
    seconds = args.minutes * 60.0
    cameras = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("camera_publisher.py")), "--topics", *topics,
         "--size", args.size, "--rate", str(args.rate), "--max-seconds", str(seconds + 120),
         "--stats", os.devnull], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        text=True)
    rclpy.init()
    node = rclpy.create_node("soak_client")
    goals = Goals(node, "/soak_reasoner/reason")
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    samples: list[tuple[float, float, int]] = []
    try:
        if not goals.client.wait_for_server(timeout_sec=90):
            raise RuntimeError("the reasoner's action server did not come up")
        from cosmos_reason_ros.action import ReasonAboutTask

        not_ready = f"code_{ReasonAboutTask.Result.MODEL_NOT_READY}"
        end_warm = time.monotonic() + 90
        while time.monotonic() < end_warm:  # the model loads in the background
            before = dict(goals.outcomes)
            goals.send(8)
            while goals.pending:
                time.sleep(0.05)
            answered = {k for k, n in goals.outcomes.items() if n > before.get(k, 0)} - {not_ready, "rejected"}
            if answered:  # the model ran (8 tokens may cut the answer off: that is an answer too)
                break
            time.sleep(0.5)
        goals.outcomes.clear()
        started = time.monotonic()
        next_goal = started
        next_sample = started
        while (now := time.monotonic()) - started < seconds:
            if node_proc.poll() is not None:
                raise RuntimeError(f"the reasoner exited with {node_proc.returncode}")
            if now >= next_sample:
                samples.append((now - started, rss_mb(node_proc.pid) or float("nan"), goals.finished))
                next_sample += args.sample
            if args.mode == "soak" and now >= next_goal:
                goals.send(args.max_new_tokens)
                next_goal += args.goal_period
            elif args.mode == "storm" and goals.pending == 0:
                for _ in range(args.burst):
                    goals.send(args.max_new_tokens)
            time.sleep(0.02)
        samples.append((time.monotonic() - started, rss_mb(node_proc.pid) or float("nan"), goals.finished))
    finally:
        try:
            cameras.communicate("stop\n", timeout=30)
        except subprocess.TimeoutExpired:
            cameras.kill()
        node_proc.terminate()
        try:
            node_proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node_proc.kill()
        executor.shutdown(timeout_sec=5)
        node.destroy_node()
        rclpy.try_shutdown()
    return {"mode": args.mode, "minutes": args.minutes, "goal_period": args.goal_period, "burst": args.burst,
            "cameras": args.cameras, "size": args.size, "rate": args.rate, "max_new_tokens": args.max_new_tokens,
            "node_env": args.node_env, "dds": dds, "samples": samples, "outcomes": goals.outcomes,
            "machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def per_minute(samples: list[tuple[float, float, int]]) -> list[tuple[int, float, int]]:
    """The last sample of each whole minute (and the final one)."""
    rows: dict[int, tuple[float, int]] = {}
    for t, rss, done in samples:
        rows[int(t // 60)] = (rss, done)
    return [(minute, rss, done) for minute, (rss, done) in sorted(rows.items())]


def report(result: dict[str, Any]) -> str:
    rows = per_minute(result["samples"])
    at2 = next((rss for minute, rss, _ in rows if minute >= 2), rows[-1][1])
    after = [rss for minute, rss, _ in rows if minute >= 2] or [rows[-1][1]]
    table = markdown_table(["minute", "RSS (MB)", "goals finished", "vs minute 2 (MB)"],
                           [[m, f"{rss:.0f}", done, f"{rss - at2:+.0f}"] for m, rss, done in rows])
    settings = (f"{result['mode']}: {result['cameras']} cameras {result['size']} rgb8 at {result['rate']:g} Hz, "
                + (f"a goal every {result['goal_period']:g} s" if result["mode"] == "soak"
                   else f"bursts of {result['burst']} goals (queue)")
                + f", max_new_tokens {result['max_new_tokens']}, {result['minutes']:g} min; {result['dds']}"
                + (f"; node env {' '.join(result['node_env'])}" if result["node_env"] else ""))
    spread = max(after) - min(after)
    return (f"{settings}\n\n{table}\n\nAfter minute 2: min {min(after):.0f} MB, max {max(after):.0f} MB, spread "
            f"{spread:.0f} MB; outcomes {result['outcomes']}\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["soak", "storm"], default="soak")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--goal-period", type=float, default=5.0, help="s between goals (soak)")
    parser.add_argument("--burst", type=int, default=20, help="goals per burst (storm)")
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--sample", type=float, default=10.0, help="s between RSS samples")
    parser.add_argument("--model", help="model directory (default: the tiny taught test model)")
    parser.add_argument("--node-env", nargs="*", default=[], help="KEY=VALUE set for the node only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    require_installed_package()
    args = parse_args(argv)
    result = run(args)
    print(machine_line(result["machine"]))
    print(report(result))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
