#!/usr/bin/env python3
"""What the node's camera ingest costs: frames delivered, time per frame, CPU share and memory over time.

For each case (cameras × resolution × encoding × goal running or not × setup) a fresh process runs the real
ReasonerNode (tiny model, real rclpy over real DDS) on a MultiThreadedExecutor sized as in
``reasoner_node.main()``; the cameras publish from another process (``camera_publisher.py``), so the node
process's CPU and memory are its own. Measured in the node process, over a window that opens once every
camera has delivered and ``--warmup`` seconds have passed:

* delivered: frames stamped inside the window that reached the camera callback, of those published
  (best-effort QoS: a subscriber that falls behind loses frames rather than queueing them);
* take: the executor taking one message from the middleware, deserialisation included (rclpy's
  ``Executor._take_subscription``, timed around the call);
* callback: the node's camera callback itself (the closure ``CameraIngest.camera_callback`` returns, wrapped);
* CPU: the node process's CPU time ÷ wall time (100 % = one core), every thread;
* RSS: resident memory with the node ready and no cameras yet, then at 10 s / 30 s / end of the window,
  and its peak.

With ``--goal on`` a client in the camera process sends goals back to back, so the tiny model generates
throughout (torch limited to ``--torch-threads``, default 1: on a GPU the generate loop keeps one CPU
thread busy launching kernels, which is what competes with ingest for the GIL and a core).

Setups, to show where the cost is and what a change buys:

* ``--ingest node-executor``: the camera subscriptions on the node's own MultiThreadedExecutor, as before
  ``CameraIngest`` got a companion node with its own thread (the default, ``own-thread``);
* ``--subscriber bare`` / ``bare-raw``: instead of the node, a do-nothing rclpy subscriber on a
  SingleThreadedExecutor, taking deserialised messages or ``raw=True`` CDR bytes: the floor any Python
  subscriber pays on this transport;
* ``--dds-profile default``: the RMW's own transport settings instead of a large shared-memory segment.

    python benchmarks/ingest.py                                   # full matrix, 60 s per case
    python benchmarks/ingest.py --cameras 4 --sizes 1920x1080 --encodings rgb8 --seconds 30 --json out.json
    python benchmarks/ingest.py --compare before.json after.json  # two runs side by side
"""
from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from common import (
    fmt,
    isolate_dds,
    machine_info,
    machine_line,
    markdown_table,
    parse_size,
    percentile,
    require_installed_package,
    tiny_model_dir,
    use_dds_profile,
    write_json,
)

HERE = Path(__file__).resolve().parent
RSS_MARKS = (10.0, 30.0)  # seconds into the window at which resident memory is reported
GRACE = 0.5  # s the node keeps listening after the window for frames stamped inside it
NODE_NAME = "bench_reasoner"


@dataclass(frozen=True)
class Case:
    """One measured configuration."""

    cameras: int
    size: str
    encoding: str  # rgb8 (sensor_msgs/Image) or jpeg (CompressedImage)
    goal: bool  # a goal is generating throughout
    subscriber: str = "node"  # node | bare | bare-raw
    ingest: str = "own-thread"  # own-thread | node-executor (node only)

    @property
    def setup(self) -> str:
        if self.subscriber != "node":
            return f"{self.subscriber} subscriber"
        return "node" if self.ingest == "own-thread" else "node, cameras on its executor (before)"


@dataclass
class CaseResult:
    cameras: int
    size: str
    encoding: str
    goal: bool
    setup: str
    message_kb: float  # serialized size of one frame
    sent: int  # frames published in the window (all cameras)
    received: int  # of those, frames that reached the callback
    delivered: float  # received / sent
    publisher_late_ticks: int  # periods the publisher could not keep (it, not the node, fell behind)
    take_ms_p50: float
    take_ms_p99: float
    callback_ms_p50: float
    callback_ms_p99: float
    cpu_share: float  # node process CPU ÷ wall over the window (1.0 = one core)
    cpu_ms_per_frame: float  # node process CPU ÷ frames received (idle cases only)
    publisher_cpu_share: float
    rss_mb_before: float  # node ready, cameras not yet publishing
    rss_mb_at: dict[str, float | None] = field(default_factory=dict)  # "10s", "30s", "end"
    rss_mb_peak: float = 0.0
    rss_mb_by_10s: list[float] = field(default_factory=list)  # median RSS in each 10 s slice of the window
    goals: dict[str, int] = field(default_factory=dict)
    stored_hz: float = float("nan")  # frames stored per second per camera over the window (buffer.store_rate thins)


def topics(case: Case, prefix: str) -> list[str]:
    suffix = "image_raw/compressed" if case.encoding == "jpeg" else "image_raw"
    return [f"{prefix}/cam{i}/{suffix}" for i in range(case.cameras)]


# ------------------------------------------------------------------------------------------ node process
class Probe:
    """Timings recorded inside the node process (appended from executor threads)."""

    def __init__(self, camera_topics: set[str]) -> None:
        self.camera_topics = camera_topics
        self.window = (float("inf"), float("inf"))  # wall-clock window, set when measuring starts
        self.takes_ns: list[int] = []
        self.callbacks: list[tuple[int, int]] = []  # (stamp ns, duration ns)
        self.delivering: set[str] = set()  # cameras that delivered at least once

    def timed(self, callback: Callable[[Any], None], camera: str) -> Callable[[Any], None]:
        def on_image(msg: Any) -> None:
            started = time.perf_counter_ns()
            callback(msg)
            self.callbacks.append((stamp_ns(msg), time.perf_counter_ns() - started))
            self.delivering.add(camera)

        return on_image


def stamp_ns(msg: Any) -> int:
    """Header stamp of a message, or of its serialized CDR bytes (right after the 4-byte encapsulation)."""
    if isinstance(msg, (bytes, bytearray, memoryview)):
        sec, nanosec = struct.unpack_from("<iI" if msg[1] & 1 else ">iI", msg, 4)
    else:
        sec, nanosec = msg.header.stamp.sec, msg.header.stamp.nanosec
    return sec * 1_000_000_000 + nanosec


def instrument_takes(probe: Probe) -> None:
    """Time every executor's take of a camera message (rclpy's ``Executor._take_subscription``)."""
    from rclpy.executors import Executor

    take = Executor._take_subscription

    def timed_take(self: Any, sub: Any) -> Any:
        if sub.topic_name not in probe.camera_topics:
            return take(self, sub)
        started = time.perf_counter_ns()
        work = take(self, sub)
        elapsed = time.perf_counter_ns() - started
        if work is not None and probe.window[0] <= time.time() <= probe.window[1]:
            probe.takes_ns.append(elapsed)
        return work

    Executor._take_subscription = timed_take  # type: ignore[method-assign]


def make_node(case: Case, model: str, camera_topics: list[str], probe: Probe) -> tuple[Any, Any]:
    """The node under test (or a bare subscriber) with instrumented callbacks, and its executor."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
    from cosmos_reason_ros.ros.node.reasoner_node import ReasonerNode

    if case.subscriber != "node":
        node = rclpy.create_node("bench_bare")
        msg_type = CompressedImage if case.encoding == "jpeg" else Image
        for topic in camera_topics:
            node.create_subscription(msg_type, topic, probe.timed(lambda msg: None, topic), qos_profile_sensor_data,
                                     raw=case.subscriber == "bare-raw")
        return node, SingleThreadedExecutor()
    make_callback = CameraIngest.camera_callback
    CameraIngest.camera_callback = (  # type: ignore[method-assign]
        lambda self, camera, *args: probe.timed(make_callback(self, camera, *args), camera.name))
    if case.ingest == "node-executor":  # the subscriptions go on the node itself, served by its executor
        CameraIngest.subscriber_node = lambda self, owner: owner  # type: ignore[method-assign]
    names = [f"cam{i}" for i in range(case.cameras)]
    params: dict[str, Any] = {"model": model, "local.device": "cpu", "cameras.names": names}
    params.update({f"cameras.{n}.topic": t for n, t in zip(names, camera_topics, strict=True)})
    node = ReasonerNode(node_name=NODE_NAME, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    return node, MultiThreadedExecutor(num_threads=len(names) + node.parts.settings.max_queue + 4)  # as in main()


def node_process(case: Case, model: str, prefix: str, args: argparse.Namespace, conn: Any) -> None:
    """Run the subscriber side; once every camera delivers, measure a window; send the figures back."""
    import rclpy
    import rclpy.logging
    import torch

    torch.set_num_threads(args.torch_threads)
    camera_topics = topics(case, prefix)
    probe = Probe(set(camera_topics))
    instrument_takes(probe)
    rclpy.init()
    rclpy.logging.set_logger_level(NODE_NAME, rclpy.logging.LoggingSeverity.WARN)
    node, executor = make_node(case, model, camera_topics, probe)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    process = psutil.Process()
    parts = getattr(node, "parts", None)  # the reasoner's parts (a bare subscriber node has none)
    backend = parts.model.backend if parts is not None else None
    while backend is not None and not backend.ready:
        time.sleep(0.05)
    rss_before = process.memory_info().rss
    conn.send("ready")
    waiting = time.monotonic()
    while len(probe.delivering) < case.cameras and time.monotonic() - waiting < args.discovery_timeout:
        time.sleep(0.01)
    t0 = time.time() + args.warmup
    t1 = t0 + args.seconds
    probe.window = (t0, t1)
    while time.time() < t0:
        time.sleep(0.001)
    cpu0 = sum(process.cpu_times()[:2])
    ingest = parts.ingest if parts is not None else None
    stored = lambda: sum(c.buffer.counters.stored for c in ingest.cameras.values()) if ingest else 0  # noqa: E731
    stored0 = stored()
    samples: list[tuple[float, int]] = []
    while time.time() < t1:
        samples.append((time.time() - t0, process.memory_info().rss))
        time.sleep(min(0.25, max(0.0, t1 - time.time())))
    cpu1 = sum(process.cpu_times()[:2])
    stored1 = stored()
    samples.append((time.time() - t0, process.memory_info().rss))
    time.sleep(GRACE)  # frames stamped inside the window may still be on their way
    conn.send({"t0": t0, "t1": t1, "rss_before": rss_before, "rss": samples, "cpu_seconds": cpu1 - cpu0,
               "stored_hz": (stored1 - stored0) / args.seconds / case.cameras if ingest else float("nan"),
               "takes_ns": probe.takes_ns, "callbacks": probe.callbacks})
    conn.poll(300.0)  # keep serving (the goal in flight) until the cameras and their client have stopped
    if hasattr(node, "cancel_all_goals"):
        node.parts.goals.cancel_all(wait=5.0)
    executor.shutdown(timeout_sec=5.0)
    node.destroy_node()
    rclpy.try_shutdown()


# ---------------------------------------------------------------------------------------- orchestration
def run_case(case: Case, args: argparse.Namespace, model: str, index: int) -> CaseResult:
    prefix = f"/bench{os.getpid()}_{index}"
    parent, child = multiprocessing.Pipe()
    # Forked from this process, which imported rclpy/torch/transformers but started nothing: the node
    # process starts in a fraction of a second instead of importing everything again.
    worker = multiprocessing.get_context("fork").Process(target=node_process,
                                                         args=(case, model, prefix, args, child), daemon=True)
    worker.start()
    limit = args.discovery_timeout + args.warmup + args.seconds + GRACE + 60.0
    command = [sys.executable, str(HERE / "camera_publisher.py"), "--topics", *topics(case, prefix),
               "--size", case.size, "--rate", str(args.rate), "--max-seconds", str(limit)]
    if case.goal and case.subscriber == "node":
        command += ["--goal-action", f"/{NODE_NAME}/reason", "--goal-max-new-tokens", str(args.goal_max_new_tokens)]
    with tempfile.TemporaryDirectory(prefix="cosmos-ingest-") as tmp:
        stats_path = Path(tmp) / "sent.json"
        try:
            if not parent.poll(120.0):
                raise RuntimeError("the node process did not become ready within 120 s")
            parent.recv()
            publisher = subprocess.Popen(command + ["--stats", str(stats_path)], stdin=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
            if not parent.poll(limit):
                publisher.kill()
                raise RuntimeError("the node process sent no figures")
            figures = parent.recv()
            _, errors = publisher.communicate("stop\n", timeout=180.0)
            parent.send("exit")
            if publisher.returncode != 0:
                raise RuntimeError(f"camera publisher failed:\n{errors[-3000:]}")
            sent_info = json.loads(stats_path.read_text())
        finally:
            worker.join(timeout=15.0)
            if worker.is_alive():
                worker.kill()
    return summarise(case, figures, sent_info, args.seconds)


def summarise(case: Case, figures: dict[str, Any], sent_info: dict[str, Any], seconds: float) -> CaseResult:
    window_ns = (int(figures["t0"] * 1e9), int(figures["t1"] * 1e9))
    in_window = lambda stamp: window_ns[0] <= stamp < window_ns[1]  # noqa: E731
    sent = sum(1 for stamps in sent_info["sent"].values() for s in stamps if in_window(s))
    callbacks = [(s, d) for s, d in figures["callbacks"] if in_window(s)]
    takes_ms = [d / 1e6 for d in figures["takes_ns"]]
    callback_ms = [d / 1e6 for _, d in callbacks]
    mb = lambda b: b / 2**20  # noqa: E731
    rss = figures["rss"]

    def rss_at(second: float) -> float | None:
        later = [value for t, value in rss if t >= second]
        return mb(later[0]) if later and second < seconds else None

    marks = {f"{int(m)}s": rss_at(m) for m in RSS_MARKS}
    marks["end"] = mb(rss[-1][1])
    slices = [[v for t, v in rss if start <= t < start + 10.0] for start in range(0, int(seconds), 10)]
    by_10s = [mb(sorted(s)[len(s) // 2]) for s in slices if s]
    wall = figures["t1"] - figures["t0"]
    sizes = sent_info["message_bytes"]
    return CaseResult(
        cameras=case.cameras, size=case.size, encoding=case.encoding, goal=case.goal, setup=case.setup,
        message_kb=sum(sizes.values()) / len(sizes) / 1024,
        sent=sent, received=len(callbacks), delivered=len(callbacks) / sent if sent else 0.0,
        publisher_late_ticks=sent_info["late_ticks"],
        take_ms_p50=percentile(takes_ms, 50), take_ms_p99=percentile(takes_ms, 99),
        callback_ms_p50=percentile(callback_ms, 50), callback_ms_p99=percentile(callback_ms, 99),
        cpu_share=figures["cpu_seconds"] / wall,
        cpu_ms_per_frame=(figures["cpu_seconds"] * 1e3 / len(callbacks) if callbacks and not case.goal
                          else float("nan")),  # with a goal the model's CPU dominates: not a per-frame cost
        publisher_cpu_share=sent_info["cpu_share"],
        rss_mb_before=mb(figures["rss_before"]), rss_mb_at=marks,
        rss_mb_peak=mb(max(value for _, value in rss)), goals=sent_info["goals"], rss_mb_by_10s=by_10s,
        stored_hz=figures.get("stored_hz", float("nan")),
    )


HEADERS = ["cameras", "size", "encoding", "goal", "setup", "KB/frame", "sent", "delivered", "take p50 / p99 ms",
           "callback p50 / p99 ms", "CPU", "CPU ms/frame", "RSS MB: before → 10 s / 30 s / end (peak)",
           "goals done", "stored Hz per camera"]


def row(r: CaseResult) -> list[Any]:
    marks = " / ".join(fmt(r.rss_mb_at.get(k), 0) for k in ("10s", "30s", "end"))
    goals = sum(v for k, v in r.goals.items() if k == "succeeded" or k.startswith("error_"))
    return [r.cameras, r.size, r.encoding, "yes" if r.goal else "no", r.setup, fmt(r.message_kb, 0), r.sent,
            f"{r.delivered:.1%}", f"{fmt(r.take_ms_p50, 3)} / {fmt(r.take_ms_p99, 3)}",
            f"{fmt(r.callback_ms_p50, 3)} / {fmt(r.callback_ms_p99, 3)}", f"{r.cpu_share:.1%}",
            fmt(r.cpu_ms_per_frame, 2), f"{fmt(r.rss_mb_before, 0)} → {marks} ({fmt(r.rss_mb_peak, 0)})",
            goals if r.goal else "–", fmt(r.stored_hz, 1)]


def table(results: list[CaseResult]) -> str:
    return markdown_table(HEADERS, [row(r) for r in results])


def memory_table(results: list[CaseResult]) -> str:
    """Resident memory over the window, median of each 10 s slice: flat once the buffers are full."""
    longest = max((len(r.rss_mb_by_10s) for r in results), default=0)
    headers = ["cameras", "size", "encoding", "goal", "before"] + [f"{10 * i}–{10 * (i + 1)} s" for i in range(longest)]
    rows = [[r.cameras, r.size, r.encoding, "yes" if r.goal else "no", fmt(r.rss_mb_before, 0)]
            + [fmt(v, 0) for v in r.rss_mb_by_10s] + ["–"] * (longest - len(r.rss_mb_by_10s)) for r in results]
    return markdown_table(headers, rows)


def compare_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Two runs of the same cases side by side (``--compare BEFORE.json AFTER.json``): a code change's cost."""
    key = lambda r: (r["cameras"], r["size"], r["encoding"], r["goal"], r["setup"])  # noqa: E731
    earlier = {key(r): r for r in before["results"]}
    rows = []
    for r in after["results"]:
        b = earlier.get(key(r))
        if b is None:
            continue
        pair = lambda name, digits, b=b, r=r: f"{fmt(b[name], digits)} → {fmt(r[name], digits)}"  # noqa: E731
        rows.append([r["cameras"], r["size"], r["encoding"], "yes" if r["goal"] else "no",
                     f"{b['delivered']:.1%} → {r['delivered']:.1%}", pair("callback_ms_p50", 3),
                     pair("callback_ms_p99", 3), f"{b['cpu_share']:.1%} → {r['cpu_share']:.1%}",
                     pair("cpu_ms_per_frame", 2)])
    return markdown_table(["cameras", "size", "encoding", "goal", "delivered", "callback p50 ms", "callback p99 ms",
                           "CPU", "CPU ms/frame"], rows)


def cases_from(args: argparse.Namespace) -> list[Case]:
    """Every combination asked for; a bare subscriber has no goals and no ingest variants."""
    cases = [Case(cameras, size, encoding, goal == "on", subscriber, ingest if subscriber == "node" else "own-thread")
             for subscriber, ingest, goal, size, encoding, cameras in itertools.product(
                 args.subscriber, args.ingest, args.goal, args.sizes, args.encodings, args.cameras)
             if subscriber == "node" or goal == "off"]
    return list(dict.fromkeys(cases))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1920x1080"], help="WIDTHxHEIGHT ...")
    parser.add_argument("--encodings", nargs="+", default=["rgb8", "jpeg"], choices=["rgb8", "jpeg"])
    parser.add_argument("--goal", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--subscriber", nargs="+", default=["node"], choices=["node", "bare", "bare-raw"])
    parser.add_argument("--ingest", nargs="+", default=["own-thread"], choices=["own-thread", "node-executor"])
    parser.add_argument("--dds-profile", choices=["large-shm", "default"], default="large-shm",
                        help="large-shm: Fast DDS shared memory with 64 MB segments (common.LARGE_SHM_PROFILE); "
                             "default: the RMW's own transport settings")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per case")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="s of traffic (after every camera's first frame) before the window opens")
    parser.add_argument("--discovery-timeout", type=float, default=20.0,
                        help="s to wait for the cameras' first frames before measuring anyway")
    parser.add_argument("--rate", type=float, default=30.0, help="Hz per camera")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--goal-max-new-tokens", type=int, default=0, help="0 = the node's default")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                        help="measure nothing: print two earlier --json runs side by side")
    args = parser.parse_args(argv)
    for size in args.sizes:
        parse_size(size)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        before, after = (json.loads(path.read_text()) for path in args.compare)
        print(compare_table(before, after))
        return 0
    require_installed_package()
    isolate_dds()
    model = str(tiny_model_dir("reason1"))
    # Imported before any fork, so every node process starts with them loaded (see run_case).
    import rclpy  # noqa: F401
    import torch  # noqa: F401
    import transformers.models.qwen2_5_vl.modeling_qwen2_5_vl  # noqa: F401


    info = machine_info()
    results = []
    transport = use_dds_profile(args.dds_profile)
    for index, case in enumerate(cases_from(args)):
        started = time.monotonic()
        result = run_case(case, args, model, index)
        print(f"  {case.cameras} × {case.size} {case.encoding} goal={case.goal} [{case.setup}]: delivered "
              f"{result.delivered:.1%}, take p50 {fmt(result.take_ms_p50, 3)} ms, CPU {result.cpu_share:.1%} "
              f"({fmt(result.cpu_ms_per_frame, 2)} ms/frame), publisher CPU {result.publisher_cpu_share:.0%}, "
              f"late ticks {result.publisher_late_ticks} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        results.append(result)
    print(table(results))
    print("\n" + memory_table(results))
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    settings["transport"] = transport
    write_json(args.json, {"machine": info, "settings": settings, "results": [asdict(r) for r in results]})
    print(f"\n{machine_line(info)}; transport: {transport}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
