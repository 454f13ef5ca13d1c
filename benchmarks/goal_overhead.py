#!/usr/bin/env python3
"""What the node adds around one model call, and what choosing, decoding and resizing frames costs.

Part 1, goals (real node, tiny model, real action client over DDS, cameras from another process): for
``--goals`` goals sent one after another, timestamps on one monotonic clock give

* send → accepted: the client's goal request until its acceptance arrives;
* accepted → model call: acceptance until the backend's ``generate`` is entered (waiting for frames,
  choosing and decoding them, ``prepare_clips``, building the prompt), with the frame part and
  ``prepare_clips`` also shown on their own;
* processor: inside ``generate``, the processor turning the prompt into tensors before ``model.generate``;
* model return → result: ``generate`` returning until the client holds the result (parsing, the plan
  message, publishing plan / verdict / markers / annotated image, the result over DDS).

A taught tiny model answers in a handful of tokens, so these are the node's costs with the model's own
time (a 7B model's seconds) taken out. Node overhead per goal is everything but ``model.generate``: send →
model forward plus forward end → result. Goals start every ``--goal-period`` s (consecutive goals share most
of their frames, as a robot asking every few seconds does), then one more after ``--idle`` s of idle (no
frame of it is cached any more). ``--paths`` runs both ways in one run, on the same machine: ``before`` (no
frame cache, ``local.preprocess: processor``, the transformers processor on the CPU) and ``after`` (the
defaults: frame cache, normalise and patch on the model's device). A second run with the random tiny model generating
``--stream-tokens`` tokens per goal measures the streaming path: action feedback messages per second
(``feedback_rate`` caps it) and the CPU spent per generated token outside the model (detokenising,
progress, feedback, live reasoning markers).

Part 2, frame preparation without DDS: a camera buffer holding 10 s of rgb8 or JPEG frames at 10 Hz (the
default ``buffer.store_rate``; no byte cap, so 16 frames of 1080p rgb8 fit, which the default 256 MB cap
would not), then the node's own selection (``select_aligned``), decoding (``CameraIngest.decode``) and
``prepare_clips`` (node defaults: 4096 visual tokens, 640×480 per frame, timestamp strip) for 8 and 16
frames at the default 2 fps: without the frame cache, with it for the same frames again, and with it for the
window 2 s later (half its frames new).

    python benchmarks/goal_overhead.py --json out.json
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from common import (
    fmt,
    isolate_dds,
    machine_info,
    machine_line,
    markdown_table,
    parse_size,
    percentile,
    require_installed_package,
    scene_frame,
    tiny_model_dir,
    use_dds_profile,
    write_json,
)

HERE = Path(__file__).resolve().parent
NODE_NAME = "bench_goal_reasoner"


# ----------------------------------------------------------------------------------------- instrumentation
class Marks:
    """perf_counter() timestamps taken inside the node, per goal, in call order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []
        self.stream_seconds = 0.0  # time inside the streamer's put() (per-token work outside the model)
        self.stream_cpu_seconds = 0.0  # the generation thread's CPU time inside put() (waits for the GIL excluded)
        self.stream_tokens = 0

    def mark(self, name: str) -> None:
        self.events.append((name, time.perf_counter()))

    def last(self, name: str, after: float = 0.0) -> float | None:
        times = [t for n, t in self.events if n == name and t >= after]
        return times[0] if times else None


def wrap(owner: Any, attribute: str, before: str | None, after: str | None, marks: Marks) -> None:
    """Replace ``owner.attribute`` (a function) by one that marks its entry and exit."""
    original = getattr(owner, attribute)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before:
            marks.mark(before)
        try:
            return original(*args, **kwargs)
        finally:
            if after:
                marks.mark(after)

    setattr(owner, attribute, wrapped)


def instrument(marks: Marks) -> None:
    from cosmos_reason_ros.core import reasoner
    from cosmos_reason_ros.core.models import streaming
    from cosmos_reason_ros.core.models.device_preprocess import DevicePreprocessor
    from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend
    from cosmos_reason_ros.ros.cameras import clips

    wrap(clips, "collect_clips", "frames_start", "frames_end", marks)
    wrap(reasoner, "prepare_clips", "prepare_start", "prepare_end", marks)
    wrap(TransformersBackend, "generate", "generate_start", "generate_end", marks)
    wrap(TransformersBackend, "_forward", "forward_start", "forward_end", marks)
    wrap(DevicePreprocessor, "videos", "device_start", "device_end", marks)
    put = streaming.CallbackStreamer.put

    def timed_put(self: Any, value: Any) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        put(self, value)
        marks.stream_seconds += time.perf_counter() - started
        marks.stream_cpu_seconds += time.thread_time() - cpu
        marks.stream_tokens += 1

    streaming.CallbackStreamer.put = timed_put  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------------ part 1
@dataclass
class GoalTimes:
    send_to_accept_ms: float
    accept_to_model_ms: float
    frames_ms: float  # wait + choose + decode (cameras.clips.collect_clips)
    prepare_ms: float  # prepare_clips
    processor_ms: float  # inside generate, before model.generate
    model_ms: float  # model.generate itself (tiny model: not representative)
    model_to_result_ms: float
    status: int
    overhead_ms: float = float("nan")  # send → model.generate + model.generate end → result: all but the model
    device_ms: float = float("nan")  # normalise + patch on the model's device (after path), inside processor_ms


#: ``--paths``: the old path (no frame cache, the processor on the CPU) and the new one (the defaults).
PATHS = {"before": "processor", "after": "device"}


@dataclass
class StreamFigures:
    goals: int
    tokens_per_goal: float
    generation_s: float  # per goal, model.generate
    feedback_per_s: float  # feedback messages received per second of generation
    feedback_rate_param: float
    stream_us_per_token: float  # streamer put() per generated token: detokenise + progress + feedback
    stream_cpu_us_per_token: float  # the same, the generation thread's CPU time only (no waits for the GIL)


class Session:
    """A node (on its MultiThreadedExecutor, as ``main()``), a client node, cameras in another process."""

    def __init__(self, model: Path, args: argparse.Namespace, marks: Marks, path: str = "after") -> None:
        import rclpy
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
        from rclpy.parameter import Parameter

        from cosmos_reason_ros.action import ReasonAboutTask
        from cosmos_reason_ros.ros.node.reasoner_node import ReasonerNode

        self.marks = marks
        self.goal_type = ReasonAboutTask.Goal
        topics = [f"/{NODE_NAME}/cam{i}/image_raw" for i in range(args.cameras)]
        names = [f"cam{i}" for i in range(args.cameras)]
        params: dict[str, Any] = {"model": str(model), "local.device": "cpu", "cameras.names": names,
                                  "local.preprocess": PATHS[path]}
        params.update({f"cameras.{n}.topic": t for n, t in zip(names, topics, strict=True)})
        rclpy.logging.set_logger_level(NODE_NAME, rclpy.logging.LoggingSeverity.ERROR)
        self.node = ReasonerNode(node_name=NODE_NAME,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        if path == "before":
            disable_frame_cache(self.node)
        self.executor = MultiThreadedExecutor(num_threads=len(names) + self.node.parts.settings.max_queue + 4)
        self.executor.add_node(self.node)
        self.client_node = rclpy.create_node("bench_goal_client")
        self.client = ActionClient(self.client_node, ReasonAboutTask, f"/{NODE_NAME}/reason")
        self.client_executor = SingleThreadedExecutor()
        self.client_executor.add_node(self.client_node)
        self._threads = [threading.Thread(target=e.spin, daemon=True) for e in (self.executor, self.client_executor)]
        for thread in self._threads:
            thread.start()
        self._stats = Path(tempfile.mkdtemp(prefix="cosmos-goal-")) / "sent.json"
        self.cameras = subprocess.Popen(
            [sys.executable, str(HERE / "camera_publisher.py"), "--topics", *topics, "--size", args.size,
             "--stats", str(self._stats)], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 120.0
        while not (self.node.parts.model.backend.ready and self.client.server_is_ready()
                   and all(len(c.buffer) >= 2 for c in self.node.parts.ingest.cameras.values())):
            if time.monotonic() > end:
                raise RuntimeError("node, action server or cameras not ready within 120 s")
            time.sleep(0.05)
        time.sleep(args.history + 0.5)  # a full history window of frames

    def run_goal(self, max_new_tokens: int) -> tuple[GoalTimes, list[float], Any]:
        """Send one goal, wait for its result; return the timings, feedback arrival times and the result.

        Feedback times are kept only while the model generates."""
        feedback: list[float] = []
        accepted, done = threading.Event(), threading.Event()
        times: dict[str, float] = {}
        goal = self.goal_type(task="put the red cup on the tray", max_new_tokens=max_new_tokens)
        outcome: dict[str, Any] = {}

        def on_result(future: Any) -> None:
            times["result"] = time.perf_counter()
            outcome["response"] = future.result()
            done.set()

        def on_accepted(future: Any) -> None:
            times["accepted"] = time.perf_counter()
            handle = future.result()
            outcome["handle"] = handle
            accepted.set()
            if handle.accepted:
                handle.get_result_async().add_done_callback(on_result)
            else:
                done.set()

        times["sent"] = time.perf_counter()
        self.client.send_goal_async(goal, feedback_callback=lambda _: feedback.append(time.perf_counter())
                                    ).add_done_callback(on_accepted)
        if not done.wait(120.0):
            raise RuntimeError("no result within 120 s")
        if "response" not in outcome:
            raise RuntimeError("goal rejected")
        m, after = self.marks, times["sent"]
        generate_start, generate_end = m.last("generate_start", after), m.last("generate_end", after)
        forward_start, forward_end = m.last("forward_start", after), m.last("forward_end", after)
        ms = lambda a, b: (b - a) * 1e3 if a is not None and b is not None else float("nan")  # noqa: E731
        if forward_start is not None and forward_end is not None:
            feedback = [t for t in feedback if forward_start <= t <= forward_end + 0.05]
        return GoalTimes(
            send_to_accept_ms=ms(times["sent"], times["accepted"]),
            accept_to_model_ms=ms(times["accepted"], generate_start),
            frames_ms=ms(m.last("frames_start", after), m.last("frames_end", after)),
            prepare_ms=ms(m.last("prepare_start", after), m.last("prepare_end", after)),
            processor_ms=ms(generate_start, forward_start), model_ms=ms(forward_start, forward_end),
            model_to_result_ms=ms(generate_end, times["result"]), status=int(outcome["response"].status),
            overhead_ms=ms(times["sent"], forward_start) + ms(forward_end, times["result"]),
            device_ms=ms(m.last("device_start", after), m.last("device_end", after)),
        ), feedback, outcome["response"].result

    def cache_stats(self) -> dict[str, Any]:
        """Hits and misses of the node's frame caches so far (decoded + resized; normalised on the device)."""
        stats: dict[str, Any] = {}
        cache = self.node.parts.cameras.frame_cache
        if cache is not None:
            stats["frames"] = asdict(cache.stats())
        device_cache = getattr(self.node.parts.model.backend, "frame_cache", None)
        if device_cache is not None:
            stats["normalised"] = asdict(device_cache.stats())
        return stats

    def close(self) -> None:
        self.cameras.communicate("stop\n", timeout=60.0)
        self.node.parts.goals.cancel_all(wait=5.0)
        self.executor.shutdown(timeout_sec=5.0)
        self.client_executor.shutdown(timeout_sec=5.0)
        for thread in self._threads:
            thread.join(timeout=5.0)
        self.client.destroy()
        self.client_node.destroy_node()
        self.node.destroy_node()


def disable_frame_cache(node: Any) -> None:
    """The old path's frames: no cache for decoding (the cameras') or resizing (the reasoner's, from the cameras
    part); the backend's normalised-frame cache is unused with ``local.preprocess: processor``."""
    parts = node.parts
    for camera in parts.ingest.cameras.values():
        camera.frame_cache = None
    parts.cameras.frame_cache = None


def paced_goals(session: Session, count: int, period: float) -> list[tuple[GoalTimes, list[float], Any]]:
    """``count`` goals, one starting every ``period`` s (or at once after the last result when it took longer)."""
    results = []
    next_start = time.monotonic()
    for _ in range(count):
        time.sleep(max(0.0, next_start - time.monotonic()))
        next_start = time.monotonic() + period
        results.append(session.run_goal(0))
    return results


def compare_rows(runs: list[list[GoalTimes]]) -> list[list[str]]:
    """``goal_rows`` of several runs side by side: per stage, each run's median and p90."""
    tables = [goal_rows(times) for times in runs]
    return [[rows[0][0], *[value for table in tables for value in table[i][1:3]]]
            for i, rows in enumerate(zip(*tables, strict=True))]


def goal_rows(times: list[GoalTimes]) -> list[list[str]]:
    fields = [("node overhead (all but model.generate)", "overhead_ms"),
              ("send → accepted", "send_to_accept_ms"), ("accepted → model call", "accept_to_model_ms"),
              ("  of which: wait + choose + decode frames", "frames_ms"),
              ("  of which: prepare_clips (resize, timestamp strip)", "prepare_ms"),
              ("processor / device preprocessing (in generate, before model.generate)", "processor_ms"),
              ("  of which: normalise + patch on the device (after)", "device_ms"),
              ("model return → result at the client", "model_to_result_ms"),
              ("(tiny model's model.generate, for scale)", "model_ms")]
    rows = []
    for label, name in fields:
        values = [getattr(t, name) for t in times]
        rows.append([label, fmt(statistics.median(values), 2), fmt(percentile(values, 90), 2), fmt(max(values), 2)])
    return rows


def stream_figures(session: Session, goals: int, tokens: int, feedback_rate: float) -> StreamFigures:
    marks = session.marks
    marks.stream_seconds, marks.stream_cpu_seconds, marks.stream_tokens = 0.0, 0.0, 0
    rates, generation = [], []
    for _ in range(goals):
        times, feedback, _ = session.run_goal(tokens)
        generation.append(times.model_ms / 1e3)
        rates.append(len(feedback) / max(times.model_ms / 1e3, 1e-9))
    return StreamFigures(goals=goals, tokens_per_goal=marks.stream_tokens / goals,
                         generation_s=statistics.median(generation), feedback_per_s=statistics.median(rates),
                         feedback_rate_param=feedback_rate,
                         stream_us_per_token=marks.stream_seconds / max(1, marks.stream_tokens) * 1e6,
                         stream_cpu_us_per_token=marks.stream_cpu_seconds / max(1, marks.stream_tokens) * 1e6)


# ------------------------------------------------------------------------------------------------ part 2
@dataclass
class PrepareResult:
    size: str
    encoding: str
    frames: int
    select_ms: float
    decode_ms: float
    prepare_ms: float
    total_ms: float
    visual_tokens: int
    model_frame: str  # frame size handed to the processor (with the timestamp strip)
    cache: str = "off"  # PREPARE_CACHE: no frame cache, or one primed by the previous goal


#: Frame cache for part 2: none; primed by a goal over the same frames; primed by the goal 2 s before.
PREPARE_CACHE = ("off", "same frames", "2 s later")


def prepare_case(size: str, compressed: bool, frames: int, repeats: int, family: Any,
                 cache_mode: str = "off") -> PrepareResult:
    """Fill one camera buffer with 10 s of frames, then time selection, decoding and prepare_clips; with a
    frame cache, a fresh one per repeat is first primed by the previous goal (not timed)."""
    import rclpy
    import rclpy.logging
    from sensor_msgs.msg import CompressedImage, Image

    from cosmos_reason_ros.core.frames.buffer import BufferLimits, select_aligned
    from cosmos_reason_ros.core.frames.frame_cache import FrameCache
    from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
    from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
    from cosmos_reason_ros.ros.node.parameters import SPECS, CameraConfig

    width, height = parse_size(size)
    node = rclpy.create_node("bench_prepare")
    rclpy.logging.set_logger_level("bench_prepare", rclpy.logging.LoggingSeverity.WARN)
    topic = f"/bench_prepare/cam_{size}/image_raw" + ("/compressed" if compressed else "")
    default = lambda name: SPECS[name].default  # noqa: E731
    rate = default("buffer.store_rate")
    ingest = CameraIngest(node, [CameraConfig("cam", topic, compressed)],
                          BufferLimits(max_seconds=10.0, max_frames=int(10 * rate) + 1, max_bytes=0, min_interval=0.0),
                          reliable=False, depth=5)
    camera = ingest.cameras["cam"]
    messages = []
    for index in range(16):  # distinct images, so decoding does not reread one cached buffer
        pixels = scene_frame(index, width, height)
        if compressed:
            _, encoded = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            messages.append(CompressedImage(format="jpeg", data=encoded.tobytes()))
        else:
            messages.append(Image(height=height, width=width, encoding="rgb8", step=width * 3, data=pixels.tobytes()))
    for k in range(int(10 * rate)):
        msg = messages[k % len(messages)]
        stamp_ns = 1000 * 10**9 + round(k * 1e9 / rate)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        camera.buffer.offer(stamp_ns * 1e-9, msg, len(msg.data), time.monotonic())
    fps = default("frames.fps")
    history = (frames - 1) / fps
    budget = VideoBudget(max_visual_tokens=default("video.max_visual_tokens"),
                         max_frame_pixels=default("video.max_frame_pixels"),
                         min_frame_pixels=default("video.min_frame_pixels"),
                         timestamp_overlay=default("video.timestamp_overlay"))
    timings: dict[str, list[float]] = {"select": [], "decode": [], "prepare": []}
    prepared: Any = None
    for attempt in range(repeats + 1):  # the first pass warms caches and OpenCV up, and is not counted
        cache = None
        if cache_mode != "off":
            cache = camera.frame_cache = FrameCache()
            snapshot = camera.buffer.snapshot()
            earlier = snapshot if cache_mode == "same frames" else snapshot[:-round(2.0 * rate)]
            _, primed = select_aligned({"cam": earlier}, history, frames, fps)
            prepare_clips([ingest.decode(camera, primed["cam"], budget.max_frame_pixels)], family, budget,
                          cache=cache)
        t0 = time.perf_counter()
        _, picked = select_aligned({"cam": camera.buffer.snapshot()}, history, frames, fps)
        t1 = time.perf_counter()
        clip = ingest.decode(camera, picked["cam"], budget.max_frame_pixels)
        t2 = time.perf_counter()
        prepared = prepare_clips([clip], family, budget, cache=cache)
        t3 = time.perf_counter()
        for key, (a, b) in {"select": (t0, t1), "decode": (t1, t2), "prepare": (t2, t3)}.items():
            if attempt:
                timings[key].append((b - a) * 1e3)
    node.destroy_node()
    med = {k: statistics.median(v) for k, v in timings.items()}
    pixels = prepared[0].pixels
    return PrepareResult(size=size, encoding="jpeg" if compressed else "rgb8", frames=pixels.shape[0],
                         select_ms=med["select"], decode_ms=med["decode"], prepare_ms=med["prepare"],
                         total_ms=sum(med.values()), visual_tokens=prepared[0].visual_tokens,
                         model_frame=f"{pixels.shape[2]}x{pixels.shape[1]}", cache=cache_mode)


# -------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    from cosmos_reason_ros.testing.tiny_model import TINY_FAMILIES  # the families a tiny model exists for

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goals", type=int, default=20, help="goals timed (after one warm-up goal)")
    parser.add_argument("--goal-period", type=float, default=2.0, help="s between goal starts (0 = back to back)")
    parser.add_argument("--idle", type=float, default=30.0,
                        help="s of idle before one more goal, timed on its own (0 = skip)")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS),
                        help="before: no frame cache, the processor on the CPU; after: the defaults")
    parser.add_argument("--stream-goals", type=int, default=3, help="goals for the streaming figures (0 = skip)")
    parser.add_argument("--stream-tokens", type=int, default=400, help="tokens per streaming goal")
    parser.add_argument("--stream-before", action="store_true",
                        help="also measure the streaming path before batching (a report per token), same session")
    parser.add_argument("--families", nargs="+", default=["reason1"], choices=TINY_FAMILIES,
                        help="model families whose goal overhead is timed, each on its tiny taught model")
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--size", default="640x480", help="camera resolution for the goal runs")
    parser.add_argument("--history", type=float, default=4.0, help="s of frames to buffer before the first goal")
    parser.add_argument("--prepare-sizes", nargs="+", default=["640x480", "1920x1080"])
    parser.add_argument("--prepare-frames", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--prepare-repeats", type=int, default=5)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    require_installed_package()
    isolate_dds()
    import rclpy
    import rclpy.logging
    import torch

    from cosmos_reason_ros.core.models.families import FAMILIES
    from cosmos_reason_ros.ros.node.parameters import SPECS

    torch.set_num_threads(args.torch_threads)
    info = machine_info()
    marks = Marks()
    instrument(marks)
    transport = use_dds_profile("large-shm")
    rclpy.init()
    try:
        per_family: dict[str, tuple[list, int]] = {}
        per_path: dict[str, dict[str, Any]] = {}  # "family/path" → goals, idle goal, cache counters
        for family in args.families:
            for path in args.paths:
                session = Session(tiny_model_dir(family), args, marks, path)
                try:
                    session.run_goal(0)  # warm-up
                    goals = paced_goals(session, args.goals, args.goal_period)
                    idle = None
                    if args.idle > 0:
                        time.sleep(args.idle)
                        idle = session.run_goal(0)[0]
                    per_path[f"{family}/{path}"] = {
                        "family": family, "path": path, "goals": [g[0] for g in goals], "idle": idle,
                        "succeeded": sum(1 for g in goals if g[2].error_code == 0), "caches": session.cache_stats()}
                finally:
                    session.close()
                if path == args.paths[-1]:  # the last path's goals stand for the family (the defaults: after)
                    per_family[family] = (per_path[f"{family}/{path}"]["goals"],
                                          per_path[f"{family}/{path}"]["succeeded"])
        stream: StreamFigures | None = None
        stream_before: StreamFigures | None = None
        if args.stream_goals:
            from cosmos_reason_ros.core.models import streaming

            random_session = Session(tiny_model_dir("reason1", teach=False), args, marks)
            try:
                if args.stream_before:  # the path before batching: one report per token
                    batch, streaming.STREAM_BATCH_TOKENS = streaming.STREAM_BATCH_TOKENS, 1
                    try:
                        stream_before = stream_figures(random_session, args.stream_goals, args.stream_tokens,
                                                       SPECS["feedback_rate"].default)
                    finally:
                        streaming.STREAM_BATCH_TOKENS = batch
                stream = stream_figures(random_session, args.stream_goals, args.stream_tokens,
                                        SPECS["feedback_rate"].default)
            finally:
                random_session.close()
        prepare = [prepare_case(size, encoding == "jpeg", frames, args.prepare_repeats, FAMILIES["reason1"], cache)
                   for size in args.prepare_sizes for encoding in ("rgb8", "jpeg") for frames in args.prepare_frames
                   for cache in PREPARE_CACHE]
    finally:
        rclpy.try_shutdown()
    for family in args.families:
        runs = [per_path[f"{family}/{path}"] for path in args.paths]
        print(f"### Goal overhead, {family}: " + "; ".join(
            f"{r['path']} {len(r['goals'])} goals, {r['succeeded']} succeeded" for r in runs)
            + f" ({args.cameras} camera(s) {args.size}, a goal every {args.goal_period:g} s)\n")
        print(markdown_table(["stage"] + [f"{r['path']} {q}" for r in runs for q in ("median ms", "p90 ms")],
                             compare_rows([r["goals"] for r in runs])) + "\n")
        idle = [r for r in runs if r["idle"] is not None]
        if idle:
            print(f"After {args.idle:g} s idle, one goal:\n")
            print(markdown_table(["stage"] + [f"{r['path']} ms" for r in idle],
                                 [[row[0], *row[1::2]] for row in compare_rows([[r["idle"]] for r in idle])]) + "\n")
        print(markdown_table(["path", "cache", "hits", "misses", "hit rate", "entries", "MB held"],
                             [[r["path"], name, c["hits"], c["misses"],
                               f"{c['hits'] / max(1, c['hits'] + c['misses']):.0%}", c["entries"],
                               fmt(c["bytes"] / 2**20, 1)]
                              for r in runs for name, c in r["caches"].items()]) + "\n")
    if stream is not None:
        print("\n### Streaming\n")
        measured = [("before: a report per token", stream_before)] if stream_before is not None else []
        print(markdown_table(
            ["path", "goals", "tokens / goal", "generation s / goal", "feedback msgs / s", "feedback_rate",
             "µs / token outside the model", "of which CPU µs / token"],
            [[label, f.goals, fmt(f.tokens_per_goal, 0), fmt(f.generation_s, 2), fmt(f.feedback_per_s, 1),
              fmt(f.feedback_rate_param, 1), fmt(f.stream_us_per_token, 1), fmt(f.stream_cpu_us_per_token, 1)]
             for label, f in [*measured, ("batched reports", stream)] if f is not None]))
    print("\n### Frame preparation per goal (one camera; node defaults)\n")
    print(markdown_table(
        ["camera", "encoding", "frames", "frame cache", "select ms", "decode ms", "prepare_clips ms", "total ms",
         "to the model", "visual tokens"],
        [[p.size, p.encoding, p.frames, p.cache, fmt(p.select_ms, 3), fmt(p.decode_ms, 2), fmt(p.prepare_ms, 2),
          fmt(p.total_ms, 2), p.model_frame, p.visual_tokens] for p in prepare]))
    write_json(args.json, {"machine": info, "settings": dict(vars(args), json=None, transport=transport),
                           "goals": [asdict(t) for t in per_family[args.families[0]][0]],
                           "succeeded": per_family[args.families[0]][1],
                           "families": {family: {"goals": [asdict(t) for t in t_], "succeeded": ok}
                                        for family, (t_, ok) in per_family.items()},
                           "stream": asdict(stream) if stream else None,
                           "stream_before": asdict(stream_before) if stream_before else None,
                           "prepare": [asdict(p) for p in prepare],
                           "paths": {key: dict(run, goals=[asdict(t) for t in run["goals"]],
                                               idle=asdict(run["idle"]) if run["idle"] else None)
                                     for key, run in per_path.items()}})
    print(f"\n{machine_line(info)}; transport: {transport}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
