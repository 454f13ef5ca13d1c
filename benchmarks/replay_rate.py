#!/usr/bin/env python3
"""How fast ``replay`` publishes raw frames: ``bytes`` into ``Image.data`` (before) against the
``array.array('B')`` fast path (after), with the generated setters' field checks off (Jazzy and Kilted by
default) and on (``ROS_PYTHON_CHECK_FIELDS=1``; Humble's setters always check, unless Python runs with -O).

Each case is a process of its own (the checks are chosen when the message module is imported) that runs
replay's ``FramePlayer`` on a still bgr8 image at ``--rate`` far above what it can reach, for ``--seconds``; a
subscriber in another process, with sensor-data QoS like the reasoner's, counts what arrives. "before" is
``FramePlayer.publish_frame`` as it was before the fast path (commit 3fa9228), kept here as a subclass; "after" is
the installed ``FramePlayer`` itself. Fast DDS gets the package's large-image profile (``common.use_dds_profile``).

    python3 benchmarks/replay_rate.py --sizes 1920x1080 640x480 --seconds 5 --repeats 3 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

VARIANTS = ("before", "after")
CHECKS = {"off": "", "on": "1"}  # ROS_PYTHON_CHECK_FIELDS per case
UNREACHABLE_RATE = 1000.0  # Hz asked of the player: the publishing itself sets the pace
MATCH_TIMEOUT = 30.0  # s a case waits for the counter to match before it gives up (a case never hangs)


def before_player() -> type:
    """``FramePlayer`` with its image data as at commit 3fa9228 (then in ``_publish``): the ``bytes`` of the
    frame (or of its JPEG encoding) assigned to the message's data; everything else is the installed player."""
    import numpy as np

    from cosmos_reason_ros.tools.replay import FramePlayer

    class BytesFramePlayer(FramePlayer):
        image_data = staticmethod(lambda pixels: np.ascontiguousarray(pixels).tobytes())

    return BytesFramePlayer


def run_case(image: Path, variant: str, topic: str, frame_id: str, seconds: float) -> dict[str, Any]:
    """In this process: play ``image`` for ``seconds`` after the first frame; publish times and rate."""
    import rclpy

    from cosmos_reason_ros.tools import replay

    args = replay.build_parser().parse_args([str(image), "--topic", topic, "--rate", str(UNREACHABLE_RATE),
                                             "--frame-id", frame_id, "--report", "0"])
    stop = threading.Event()
    rclpy.init(args=[])
    try:
        player_type = before_player() if variant == "before" else replay.FramePlayer
        player = player_type(replay.FrameSource(image), args, stop)
        publish, spans = player.publish_frame, []

        def timed(frame: Any) -> None:
            started = time.perf_counter()
            publish(frame)
            spans.append((started, time.perf_counter()))
            if spans[-1][1] - spans[0][0] >= seconds:
                stop.set()

        player.publish_frame = timed  # type: ignore[method-assign]
        unmatched = threading.Timer(MATCH_TIMEOUT, lambda: None if spans else stop.set())
        unmatched.daemon = True
        unmatched.start()
        player.run()
        unmatched.cancel()
    finally:
        rclpy.try_shutdown()
    if not spans:
        raise RuntimeError(f"no frame published: the counter did not match within {MATCH_TIMEOUT:g} s")
    starts = [s for s, _ in spans]
    window = starts[-1] - starts[0] if len(starts) > 1 else float("nan")
    return {"variant": variant, "checks": os.environ.get("ROS_PYTHON_CHECK_FIELDS", "") == "1",
            "published": len(spans), "window_s": window, "rate_hz": (len(starts) - 1) / window if window > 0 else 0.0,
            "publish_ms_median": statistics.median((e - s) * 1e3 for s, e in spans) if spans else float("nan")}


def subscribe(topic: str) -> None:
    """In this process: count the frames on ``topic`` per frame_id until SIGINT, then print the counts."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from cosmos_reason_ros.ros.qos import SENSOR_DATA

    rclpy.init(args=[])
    node = rclpy.create_node(f"replay_rate_counter_{os.getpid()}")
    counts: dict[str, int] = {}

    def on_image(msg: Any) -> None:
        counts[msg.header.frame_id] = counts.get(msg.header.frame_id, 0) + 1

    node.create_subscription(Image, topic, on_image, SENSOR_DATA)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    ended = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: ended.set())
    print("ready", flush=True)
    try:
        while not ended.is_set():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    print(json.dumps(counts), flush=True)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=common.parse_size, nargs="+", default=[(1920, 1080), (640, 480)])
    parser.add_argument("--seconds", type=float, default=5.0, help="per run of a case, after its first frame")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of every case, interleaved (before and after alternate); the median is shown")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--case", nargs=4, metavar=("IMAGE", "VARIANT", "TOPIC", "FRAME_ID"), help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", metavar="TOPIC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    common.require_installed_package()
    if args.subscribe:
        subscribe(args.subscribe)
        return 0
    if args.case:
        image, variant, topic, frame_id = args.case
        print(json.dumps(run_case(Path(image), variant, topic, frame_id, args.seconds)), flush=True)
        sys.stderr.flush()
        os._exit(0)  # measured and reported: skip the interpreter's and the middleware's slow finalisation

    import cv2

    common.isolate_dds()
    transport = common.use_dds_profile("large-shm")
    info = common.machine_info()
    topic = f"/replay_rate_{os.getpid()}/image_raw"
    script = str(Path(__file__).resolve())
    counter = subprocess.Popen([sys.executable, script, "--subscribe", topic], stdout=subprocess.PIPE, text=True)
    cases: list[dict[str, Any]] = []
    try:
        assert counter.stdout is not None and counter.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as folder:
            images = {}
            for width, height in args.sizes:
                images[width, height] = Path(folder) / f"still_{width}x{height}.png"
                cv2.imwrite(str(images[width, height]), common.scene_frame(0, width, height))
            for repeat in range(args.repeats):
                for (width, height), image in images.items():
                    for checks, value in CHECKS.items():
                        for variant in VARIANTS:
                            frame_id = f"{width}x{height}-{checks}-{variant}-{repeat}"
                            env = {**os.environ, "ROS_PYTHON_CHECK_FIELDS": value}
                            try:
                                done = subprocess.run([sys.executable, script, "--case", str(image), variant,
                                                       topic, frame_id, "--seconds", str(args.seconds)], env=env,
                                                      capture_output=True, text=True,
                                                      timeout=args.seconds + MATCH_TIMEOUT + 60)
                            except subprocess.TimeoutExpired as e:
                                partial = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr
                                sys.exit(f"case {frame_id} did not end; its output so far:\n{partial}")
                            if done.returncode != 0:
                                sys.exit(f"case {frame_id} failed:\n{done.stderr[-3000:]}")
                            case = json.loads(done.stdout.strip().splitlines()[-1])
                            case.update(size=f"{width}x{height}", frame_id=frame_id, repeat=repeat)
                            cases.append(case)
                            print(f"[replay_rate] {frame_id}: {case['rate_hz']:.1f} Hz", file=sys.stderr)
            time.sleep(1.0)  # the last frames in flight reach the counter
    finally:
        counter.send_signal(signal.SIGINT)
        output, _ = counter.communicate(timeout=30)
    received = json.loads(output.strip().splitlines()[-1])
    for case in cases:
        case["received"] = received.get(case["frame_id"], 0)
        case["delivered"] = case["received"] / case["published"] if case["published"] else float("nan")

    print(f"{common.machine_line(info)}; {transport}; rate asked {UNREACHABLE_RATE:g} Hz, {args.repeats} × "
          f"{args.seconds:g} s per case\n")
    rows = []
    for size in dict.fromkeys(c["size"] for c in cases):
        for checks in (False, True):
            runs = {v: [c for c in cases if c["size"] == size and c["checks"] == checks and c["variant"] == v]
                    for v in VARIANTS}
            rates = {v: sorted(c["rate_hz"] for c in runs[v]) for v in VARIANTS}
            publish = {v: statistics.median(c["publish_ms_median"] for c in runs[v]) for v in VARIANTS}
            delivered = {v: sum(c["received"] for c in runs[v]) / max(1, sum(c["published"] for c in runs[v]))
                         for v in VARIANTS}
            rows.append([size, "on" if checks else "off",
                         " / ".join(f"{statistics.median(rates[v]):.1f}" for v in VARIANTS),
                         " / ".join(f"{rates[v][0]:.0f}–{rates[v][-1]:.0f}" for v in VARIANTS),
                         " / ".join(f"{publish[v]:.1f}" for v in VARIANTS),
                         " / ".join(f"{delivered[v]:.0%}" for v in VARIANTS)])
    print(common.markdown_table(["bgr8 frame", "ROS_PYTHON_CHECK_FIELDS", "replay Hz, median (before / after)",
                                 "range of runs", "ms per publish, median (before / after)",
                                 "delivered (before / after)"], rows))
    common.write_json(args.json, {"machine": info, "transport": transport, "seconds": args.seconds,
                                  "repeats": args.repeats, "cases": cases})
    return 0


if __name__ == "__main__":
    sys.exit(main())
