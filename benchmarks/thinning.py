#!/usr/bin/env python3
"""How the frame buffer thins cameras under stamp jitter, and what the camera callback's own work costs.

Synthetic stamps (no ROS): a camera at ``rate`` Hz whose every stamp is off its slot by up to ±``jitter`` of a
period, offered for ``--seconds`` to a buffer at ``buffer.store_rate``; reported: frames stored of offered and
the stored rate, and the median cost of one ``offer`` call. Then the callback's work per frame without DDS:
the validity checks of ``image_conversion`` on real sensor_msgs frames (rgb8, JPEG, PNG at 640×480 and
1080p) plus ``offer``, median of ``--repeats`` calls. Runs against the INSTALLED package, so running it
under an older build's environment gives that build's figures (how docs/benchmarks.md got its "before" row).

    python benchmarks/thinning.py --rates 10 30 --jitter 0.1 --store-rate 10
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from common import markdown_table


def callback_rows(repeats: int) -> list[list[str]]:
    """Median µs of the ingest checks (and of checks + offer) per frame kind, as the camera callback runs them."""
    import cv2
    import numpy as np
    from sensor_msgs.msg import CompressedImage, Image

    from cosmos_reason_ros.core.frames.buffer import BufferLimits, FrameBuffer
    from cosmos_reason_ros.ros.cameras import image_conversion

    stamp_check = getattr(image_conversion, "check_stamp", lambda msg: None)  # older builds have none
    rows = []
    for width, height in ((640, 480), (1920, 1080)):
        pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
        frames = {"rgb8": (Image(height=height, width=width, encoding="rgb8", step=width * 3, data=pixels.tobytes()),
                           image_conversion.check_image)}
        for extension in (".jpg", ".png"):
            data = cv2.imencode(extension, pixels)[1].tobytes()
            frames[extension[1:]] = (CompressedImage(format=extension[1:], data=data),
                                     image_conversion.check_compressed)
        for name, (msg, check) in frames.items():
            msg.header.stamp.sec = 1
            buffer = FrameBuffer(BufferLimits(min_interval=0.0))
            checks, both = [], []
            for i in range(repeats):
                started = time.perf_counter_ns()
                assert not stamp_check(msg) and not check(msg)
                middle = time.perf_counter_ns()
                buffer.offer(i * 0.01, msg, len(msg.data), received=i * 0.01)
                ended = time.perf_counter_ns()
                checks.append(middle - started)
                both.append(ended - started)
            rows.append([f"{width}x{height} {name}", f"{statistics.median(checks) / 1000:.1f}",
                         f"{statistics.median(both) / 1000:.1f}"])
    return rows


def main(argv: list[str] | None = None) -> int:
    from cosmos_reason_ros.core.frames.buffer import BufferLimits, FrameBuffer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 15.0, 30.0])
    parser.add_argument("--jitter", type=float, nargs="+", default=[0.0, 0.1], help="fraction of a period")
    parser.add_argument("--store-rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args(argv)
    rows = []
    for rate in args.rates:
        for jitter in args.jitter:
            kept, offered, costs = [], 0, []
            for seed in range(args.seeds):
                rng = random.Random(seed)
                buffer = FrameBuffer(BufferLimits(max_seconds=1e9, max_frames=10**7, max_bytes=0,
                                                  min_interval=1.0 / args.store_rate))
                period = 1.0 / rate
                for k in range(int(args.seconds * rate)):
                    stamp = 1000.0 + k * period + rng.uniform(-jitter, jitter) * period
                    started = time.perf_counter_ns()
                    buffer.offer(stamp, None, 1, received=stamp)
                    costs.append(time.perf_counter_ns() - started)
                    offered += 1
                frames = buffer.snapshot()
                kept.append((len(frames), (len(frames) - 1) / (frames[-1].stamp - frames[0].stamp)))
            stored = sum(n for n, _ in kept)
            rows.append([f"{rate:g}", f"±{jitter:.0%}", f"{args.store_rate:g}", f"{stored / offered:.1%}",
                         f"{statistics.mean(r for _, r in kept):.2f}", f"{statistics.median(costs) / 1000:.2f}"])
    print(markdown_table(["camera Hz", "stamp jitter", "store_rate Hz", "stored of offered", "stored Hz",
                          "offer µs (median)"], rows))
    print("\n" + markdown_table(["frame", "checks µs", "checks + offer µs"], callback_rows(args.repeats)))
    print(f"\n{args.seeds} runs of {args.seconds:g} s each", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
