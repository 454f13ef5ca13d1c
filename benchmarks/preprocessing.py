#!/usr/bin/env python3
"""Visual tokens and preprocessing time per clip size and token budget, so users can choose a budget.

For N frames of W×H per camera: ``prepare_clips`` (resize once to multiples of the token side, draw the
Reason1 timestamp strip, enforce ``video.max_visual_tokens``) and the processor's tensor preparation
(chat template, patchify) through the backend's own ``_preprocess``, on the CPU with the tiny Reason1
model's processor (the same processor code as the 7B model's; the model's weights play no part here).

    python benchmarks/preprocessing.py [--repeats 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))

from conftest import build_tiny_model  # noqa: E402  (the cached tiny model builder of the test suite)

from cosmos_reason_ros.core.prompts import build_prompt  # noqa: E402
from cosmos_reason_ros.core.transformers_backend import TransformersBackend, TransformersConfig  # noqa: E402
from cosmos_reason_ros.core.types import CameraClip, Frame, Mode  # noqa: E402
from cosmos_reason_ros.core.video import VideoBudget, prepare_clips  # noqa: E402

RESOLUTIONS = ((640, 480), (1920, 1080))
FRAME_COUNTS = (4, 8, 16)
BUDGETS = (2048, 4096, 8192)


def textured_frames(count: int, width: int, height: int) -> list[Frame]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return [Frame(np.roll(base, 8 * i, axis=1), 100.0 + 0.5 * i) for i in range(count)]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(backend: TransformersBackend, width: int, height: int, frames: int, budget: int, repeats: int) -> dict:
    clip = CameraClip("front", textured_frames(frames, width, height), "front")
    prepare, processor = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        prepared = prepare_clips([clip], backend.family, VideoBudget(max_visual_tokens=budget))
        prepare.append(time.perf_counter() - started)
        prompt = build_prompt(backend.family, Mode.DECOMPOSE, "put the red cup on the tray", prepared)
        started = time.perf_counter()
        inputs, visual = backend._preprocess(prompt)
        processor.append(time.perf_counter() - started)
    kept = prepared[0]
    return {
        "resolution": f"{width}x{height}", "frames": frames, "budget": budget,
        "frames_kept": kept.num_frames, "model_frame": f"{kept.pixels.shape[2]}x{kept.pixels.shape[1]}",
        "visual_tokens": visual, "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "prepare_ms": median_ms(prepare), "processor_ms": median_ms(processor),
    }


def table(rows: list[dict]) -> str:
    lines = ["| source | frames | budget | kept | model frame (W×H, strip incl.) | visual tokens | "
             "prepare_clips ms | processor ms |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['resolution']} | {r['frames']} | {r['budget']} | {r['frames_kept']} | {r['model_frame']} | "
              f"{r['visual_tokens']} | {r['prepare_ms']:.1f} | {r['processor_ms']:.1f} |" for r in rows]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAME_COUNTS))
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    backend = TransformersBackend(TransformersConfig(model=str(build_tiny_model("reason1", teach=False)),
                                                     device="cpu", warmup=False))
    backend.load()
    rows = [measure(backend, w, h, n, budget, args.repeats)
            for (w, h) in RESOLUTIONS for n in args.frames for budget in args.budgets]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
