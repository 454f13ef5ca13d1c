"""A battery of misbehaving cameras, for tests and benchmarks: valid frames interleaved with malformed ones.

Each tick publishes one valid frame on every topic, and half a period later one malformed frame, cycling
through ``bad_images`` (sensor_msgs/Image topics) or ``bad_compressed`` (CompressedImage topics). So at
``--rate 30`` a topic carries 30 valid and 30 malformed frames a second. Valid frames have an EVEN
``header.stamp.nanosec`` and malformed ones an ODD one (or a zero stamp, itself a kind of malformation), so a
consumer can tell from any stamp it reports which kind of frame it came from; the stats file also lists
every valid stamp sent. ``--jitter 0.1`` moves every stamp by up to ±10 % of a period off its slot.
``--bad none`` publishes the valid frames only (a jittery but well-formed camera).

Run it in its own process (tests and benchmarks do, so the node's CPU and memory stay its own):

    python -m cosmos_reason_ros.testing.malformed_cameras --topics /cam/image_raw /cam2/image_raw/compressed \\
        --rate 30 --stats sent.json          # until a line "stop" on stdin, or --max-seconds
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cosmos_reason_ros.testing.publisher_process import stop_on_stdin


@dataclass(frozen=True)
class BadFrame:
    """One kind of malformed frame: ``kind`` is what the node counts it as (``malformed_<kind>`` in
    /diagnostics), or ``decode`` for frames that pass every ingest check and fail only when decoded."""

    name: str
    kind: str
    msg: Any


def scene(index: int, width: int, height: int) -> np.ndarray:
    """A synthetic RGB frame that changes with ``index``."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    frame = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                      np.full((height, width), (index * 37) % 256, np.float32)], axis=2).astype(np.uint8)
    bar = (index * 16) % max(1, width - 20)
    frame[:, bar:bar + 20] = 255
    return frame


def valid_image(pixels: np.ndarray) -> Any:
    from sensor_msgs.msg import Image

    h, w = pixels.shape[:2]
    return Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3, data=pixels.tobytes())


def encoded(pixels: np.ndarray, extension: str) -> bytes:
    ok, data = cv2.imencode(extension, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def valid_compressed(pixels: np.ndarray) -> Any:
    from sensor_msgs.msg import CompressedImage

    return CompressedImage(format="rgb8; jpeg compressed bgr8", data=encoded(pixels, ".jpg"))


def bad_images(width: int = 320, height: int = 240) -> list[BadFrame]:
    """Thirteen kinds of broken sensor_msgs/Image (two of them well formed but stamped off the camera's timeline,
    which the buffer drops as ``stamp_outliers`` rather than ingest as ``malformed_<kind>``)."""
    from sensor_msgs.msg import Image

    pixels = scene(0, width, height).tobytes()
    row = width * 3

    def image(**fields: Any) -> Any:
        base = dict(height=height, width=width, encoding="rgb8", is_bigendian=0, step=row, data=pixels)
        base.update(fields)
        return Image(**base)

    return [
        BadFrame("zero width", "zero_size", image(width=0, step=0, data=b"")),
        BadFrame("zero height", "zero_size", image(height=0, data=b"")),
        BadFrame("unknown encoding", "unsupported_encoding", image(encoding="bogus42")),
        BadFrame("empty encoding", "unsupported_encoding", image(encoding="")),
        BadFrame("step shorter than a row", "short_step", image(step=row - 3, data=pixels[: (row - 3) * height])),
        BadFrame("half the data", "short_data", image(data=pixels[: len(pixels) // 2])),
        BadFrame("no data", "short_data", image(data=b"")),
        BadFrame("one byte too many", "long_data", image(data=pixels + b"\x00")),
        BadFrame("odd width for YUV 4:2:2", "odd_width",
                 image(encoding="yuv422", width=width - 1, step=(width - 1) * 2, data=bytes((width - 1) * 2 * height))),
        BadFrame("is_bigendian 7", "bad_endianness", image(is_bigendian=7)),
        BadFrame("stamp never set", "no_stamp", image()),
        BadFrame("stamped in 1970", "stamp_outlier", image()),
        BadFrame("stamped an hour ahead", "stamp_outlier", image()),
    ]


def bad_compressed(width: int = 320, height: int = 240) -> list[BadFrame]:
    """Nine kinds of broken sensor_msgs/CompressedImage (two of them fail only when decoded)."""
    from sensor_msgs.msg import CompressedImage

    pixels = scene(1, width, height)
    jpeg, png = encoded(pixels, ".jpg"), encoded(pixels, ".png")
    garbage = bytes(random.Random(7).getrandbits(8) for _ in range(4000))
    bad_scan = bytearray(jpeg)
    bad_scan[bad_scan.index(b"\xff\xda") + 5] = 0x7F  # the scan names a component the frame does not have
    bad_idat = bytearray(png)
    start = bad_idat.index(b"IDAT") + 10
    bad_idat[start:start + 50] = bytes(50)  # zlib stream broken, chunk structure (and IEND) intact

    def compressed(data: bytes, format_string: str = "jpeg") -> Any:
        return CompressedImage(format=format_string, data=data)

    return [
        BadFrame("JPEG magic then garbage", "corrupt_header", compressed(b"\xff\xd8\xff\xe0" + garbage)),
        BadFrame("PNG signature then garbage", "corrupt_header", compressed(b"\x89PNG\r\n\x1a\n" + garbage, "png")),
        BadFrame("truncated JPEG", "truncated", compressed(jpeg[: len(jpeg) // 2])),
        BadFrame("truncated PNG", "truncated", compressed(png[: len(png) // 2], "png")),
        BadFrame("format png, data JPEG", "format", compressed(jpeg, "png")),
        BadFrame("format tiff", "format", compressed(jpeg, "tiff")),
        BadFrame("empty data", "too_short", compressed(b"")),
        BadFrame("JPEG scan names a missing component", "decode", compressed(bytes(bad_scan))),
        BadFrame("PNG with a broken zlib stream", "decode", compressed(bytes(bad_idat), "png")),
    ]


def _stamp(ns: int, odd: bool) -> Any:
    from builtin_interfaces.msg import Time

    ns = (ns | 1) if odd else (ns & ~1)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def publish(node: Any, topics: list[str], rate: float, jitter: float, with_bad: bool, size: tuple[int, int],
            stop: threading.Event, seed: int = 0) -> dict[str, Any]:
    """Publish until ``stop``; return the valid stamps (ns) per topic and the malformed frames sent per kind."""
    from sensor_msgs.msg import CompressedImage, Image

    from cosmos_reason_ros.ros.qos import SENSOR_DATA

    width, height = size
    rng = random.Random(seed)
    compressed = {t: t.rstrip("/").endswith("/compressed") for t in topics}
    publishers = {t: node.create_publisher(CompressedImage if compressed[t] else Image, t, SENSOR_DATA)
                  for t in topics}
    valid = {t: [(valid_compressed if compressed[t] else valid_image)(scene(i, width, height)) for i in range(4)]
             for t in topics}
    bad = {t: (bad_compressed(width, height) if compressed[t] else bad_images(width, height)) for t in topics}
    sent: dict[str, list[int]] = {t: [] for t in topics}
    bad_sent: dict[str, dict[str, int]] = {t: {} for t in topics}
    period_ns = int(1e9 / rate)
    origin = node.get_clock().now().nanoseconds
    started = time.monotonic()
    tick = 0
    while not stop.is_set():
        for half in (0, 1) if with_bad else (0,):
            due = started + (tick + 0.5 * half) / rate
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            nominal = origin + tick * period_ns + half * period_ns // 2
            for topic in topics:
                offset = int(rng.uniform(-jitter, jitter) * period_ns)
                if half == 0:
                    msg = valid[topic][tick % len(valid[topic])]
                    msg.header.stamp = _stamp(nominal + offset, odd=False)
                    msg.header.frame_id = "battery_optical_frame"
                    sent[topic].append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
                else:
                    frame = bad[topic][tick % len(bad[topic])]
                    msg = frame.msg
                    stamp_ns = nominal + offset
                    if frame.kind == "no_stamp":
                        stamp_ns = 0
                    elif frame.name == "stamped in 1970":
                        stamp_ns = 1_000_000_001 + tick
                    elif frame.name == "stamped an hour ahead":
                        stamp_ns += 3600 * 1_000_000_000
                    msg.header.stamp = _stamp(stamp_ns, odd=stamp_ns != 0)
                    bad_sent[topic][frame.name] = bad_sent[topic].get(frame.name, 0) + 1
                publishers[topic].publish(msg)
        tick += 1
        if time.monotonic() - (started + tick / rate) > 1.0:  # far behind: restart the schedule from now
            started, origin, tick = time.monotonic(), node.get_clock().now().nanoseconds, 0
    return {"valid": sent, "bad": bad_sent}


def main(argv: list[str] | None = None) -> int:
    import rclpy

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", nargs="+", required=True, help="'.../compressed' = CompressedImage (JPEG)")
    parser.add_argument("--rate", type=float, default=30.0, help="Hz of valid frames per topic (as many bad ones)")
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--jitter", type=float, default=0.0, help="stamp jitter, fraction of a period (0.1 = ±10 %%)")
    parser.add_argument("--bad", choices=["all", "none"], default="all")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--stats", type=Path, required=True, help="write the stamps and kinds sent here (JSON)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    stop = stop_on_stdin(args.max_seconds)
    rclpy.init()
    node = rclpy.create_node("malformed_cameras")
    try:
        print("publishing", flush=True)
        stats = publish(node, args.topics, args.rate, args.jitter, args.bad == "all", (width, height), stop)
        args.stats.write_text(json.dumps(stats))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
