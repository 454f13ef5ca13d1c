#!/usr/bin/env python3
"""Critic batch throughput: clips per minute, local engine vs the Ray engine (2 workers), same clips, one run.

    . scripts/env.sh && python benchmarks/critic_throughput.py [--videos 12] [--window 1] [--json out.json]

Writes ``--videos`` MP4s (640×480, 10 fps, 2 s) to a temporary folder, judges every window with the tiny
critic model (reason1, taught "critic_plausible", CPU) once with ``--engine local`` and once with ``--engine
ray --workers 2`` on a local Ray (``--ray-cpus``). Reports, per engine: wall time including start-up (model
load; Ray start), steady clips/min (between the first and the last record), and the time per clip outside
the model (``total_s - generation_s`` of each record: decoding, frame preparation, prompt, parsing).
Figures only; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent


def write_videos(folder: Path, count: int, seconds: float, fps: float = 10.0) -> list[Path]:
    paths = []
    rng = np.random.default_rng(0)
    for index in range(count):
        path = folder / f"clip_{index:03d}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
        base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        for frame in range(int(seconds * fps)):
            image = base.copy()
            x = (frame * 20) % 560
            image[100:300, x:x + 80] = (0, 0, 230)
            writer.write(image)
        writer.release()
        paths.append(path)
    return paths


def measure(engine: str, specs, config, settings, ray_cpus: int) -> dict:
    from cosmos_reason_ros.critic.engines import run_local, run_ray

    stamps: list[float] = []
    records: list[dict] = []

    def on_record(record: dict) -> None:
        stamps.append(time.monotonic())
        records.append(record)

    started = time.monotonic()
    if engine == "local":
        run_local(specs, config, settings, on_record, jobs=1)
    else:
        run_ray(specs, config, settings, on_record, workers=2, cpus_per_worker=0.5, num_cpus=ray_cpus)
    wall = time.monotonic() - started
    errors = [r for r in records if r.get("error")]
    if errors:
        sys.exit(f"{engine}: {len(errors)} clip(s) failed: {errors[0]['error']}")
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) * 60 if len(stamps) > 1 else float("nan")
    outside = [r["timings"]["total_s"] - r["timings"]["generation_s"] for r in records]
    model = [r["timings"]["generation_s"] for r in records]
    return {"engine": engine, "clips": len(records), "wall_s": wall, "startup_s": stamps[0] - started,
            "clips_per_min_wall": len(records) / wall * 60, "clips_per_min_steady": steady,
            "outside_model_ms_mean": statistics.mean(outside) * 1e3,
            "decode_ms_mean": statistics.mean(r["timings"]["decode_s"] for r in records) * 1e3,
            "model_ms_mean": statistics.mean(model) * 1e3,
            "verdicts": sorted({r["verdict"] for r in records})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each video")
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--frames", type=int, default=8, help="--max-frames per clip")
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(REPO / "test"))
    from conftest import build_tiny_model
    from cosmos_reason_ros.critic.inputs import Settings, discover
    from cosmos_reason_ros.critic.judge import JudgeConfig

    model = build_tiny_model("reason1", True, "critic_plausible")
    with tempfile.TemporaryDirectory() as tmp:
        write_videos(Path(tmp), args.videos, args.seconds)
        settings = Settings(window=args.window, fps=4.0, max_frames=args.frames)
        specs = discover([tmp], settings)
        config = JudgeConfig(model=str(model), device="cpu", temperature=0.0, max_new_tokens=64)
        results = [measure(engine, specs, config, settings, args.ray_cpus) for engine in ("local", "ray")]
    local, ray = results
    load = os.getloadavg()[0]
    print(f"# critic throughput: {len(specs)} clips ({args.videos} videos 640x480 x {args.seconds:g} s, window "
          f"{args.window:g} s, <= {args.frames} frames at 4 fps), tiny reason1 critic on CPU; "
          f"{os.cpu_count()} cores, load {load:.2f}, {platform.python_version()}")
    print("| engine | clips | wall s (incl. start-up) | start-up s | clips/min (wall) | clips/min (steady) | "
          "outside model ms/clip | decode ms/clip | model ms/clip |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['engine']} | {r['clips']} | {r['wall_s']:.1f} | {r['startup_s']:.1f} | "
              f"{r['clips_per_min_wall']:.0f} | {r['clips_per_min_steady']:.0f} | {r['outside_model_ms_mean']:.0f} | "
              f"{r['decode_ms_mean']:.0f} | {r['model_ms_mean']:.0f} |")
    ratio = ray["clips_per_min_steady"] / local["clips_per_min_steady"]
    print(f"ray (2 workers) / local, steady clips/min: {ratio:.2f}; wall: "
          f"{ray['clips_per_min_wall'] / local['clips_per_min_wall']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio_steady": ratio, "load": load,
                                         "clips": len(specs)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
