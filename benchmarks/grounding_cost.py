#!/usr/bin/env python3
"""What grounding adds to a goal, per located object: mapping model coordinates to camera pixels (after
parsing), decoding the aligned depth image and taking the 3D point. No model: the answer is fixed text,
the depth image a real sensor_msgs/Image. The model's own time to write the coordinates is not included.

    python3 benchmarks/grounding_cost.py --objects 1 4 16 --size 640x480 1280x720
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def measure(objects: int, width: int, height: int, repeats: int) -> dict:
    from sensor_msgs.msg import CameraInfo, Image

    from cosmos_reason_ros.core.answers.parsing import parse_output
    from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode
    from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
    from cosmos_reason_ros.core.grounding.coordinates import ground_outcome
    from cosmos_reason_ros.core.models.families import REASON2
    from cosmos_reason_ros.ros.cameras.depth import DepthCamera, add_positions

    clip = prepare_clips([CameraClip("front", [Frame(np.zeros((height, width, 3), np.uint8), 1.0, 1_000_000_000)])],
                         REASON2, VideoBudget())[0]
    answer = json.dumps({"objects": [{"label": f"o{i}", "bbox_2d": [100 + i, 100, 300 + i, 400],
                                      "point_2d": [200 + i, 250]} for i in range(objects)], "answer": "here"})
    text = "<think>\nx\n</think>\n\n" + answer
    depth = Image(height=height, width=width, encoding="16UC1", step=2 * width,
                  data=np.full((height, width), 1500, np.uint16).tobytes())
    depth.header.stamp.sec = 1
    camera = DepthCamera("front", "/d", "/i", 10.0)
    camera.on_depth(depth)
    camera.on_info(CameraInfo(width=width, height=height, k=[500.0, 0, width / 2, 0, 500.0, height / 2, 0, 0, 1]))
    settings = argparse.Namespace(depth_window=2, depth_box_fraction=0.5, depth_max_range=20.0, depth_max_offset=0.1)
    ingest = argparse.Namespace(cameras={"front": camera})
    parse_s = map_s = depth_s = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        outcome = parse_output(text, REASON2, Mode.LOCATE, stop_reason="eos")
        t1 = time.perf_counter()
        located = ground_outcome(outcome, [clip], REASON2, Mode.LOCATE, False)
        t2 = time.perf_counter()
        add_positions(located, ingest, settings, print)
        t3 = time.perf_counter()
        assert all(o.position is not None for o in located)
        parse_s, map_s, depth_s = parse_s + t1 - t0, map_s + t2 - t1, depth_s + t3 - t2
    return {"objects": objects, "size": f"{width}x{height}", "parse_ms": 1e3 * parse_s / repeats,
            "map_ms": 1e3 * map_s / repeats, "depth_ms": 1e3 * depth_s / repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--size", nargs="+", default=["640x480", "1280x720"])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    rows = [measure(n, *map(int, size.split("x")), args.repeats) for size in args.size for n in args.objects]
    print("| objects | camera / depth image | parse (ms) | map to camera px (ms) | depth decode + 3D (ms) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['objects']} | {r['size']} | {r['parse_ms']:.3f} | {r['map_ms']:.3f} | {r['depth_ms']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
