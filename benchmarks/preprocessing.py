#!/usr/bin/env python3
"""Visual tokens and CPU preprocessing time per frame count, camera resolution and token budget.

For each case the package's own path runs on synthetic camera frames: ``prepare_clips`` (fit the frames to
the budget, resize to multiples of the token size, draw the timestamp strip where the family wants it),
then the backend's ``preprocess`` (chat template, the real Qwen-VL processor making ``pixel_values`` and
grid tensors, moving them to the model's device and dtype). The processor is what a real checkpoint
uses; only the weights are tiny, and they are not involved, so token counts and times are those of the
7B/8B models' preprocessing on this CPU. The table shows what a ``video.max_visual_tokens`` budget buys:
the frame size the model gets, the tokens it costs (checked against the processor's own grid) and the
CPU time before the model sees it. Prefill on the GPU grows with those tokens; it is not measured here.
(Text tokens are not reported: the tiny model's tokenizer is not the real one.)

``--paths`` times the ways a prompt becomes tensors, in one run: ``processor`` (the transformers processor
on the CPU, ``local.preprocess: processor``, the old path), ``device`` (normalise and patch with torch on the
model's device, here the CPU, every frame anew) and ``device+cache`` (the same frames again through the frame
cache: resized frames and patches reused, as for consecutive goals over the same frames; the first, cold
request is not counted).

    python benchmarks/preprocessing.py --budgets 1024 4096 8192 --json out.json
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common import (
    fmt,
    isolate_dds,
    machine_info,
    machine_line,
    markdown_table,
    parse_size,
    require_installed_package,
    scene_frame,
    tiny_model_dir,
    write_json,
)

#: ``--paths``: the processor on the CPU; normalise + patch with torch; the same with the frame cache warm.
PATHS = ("processor", "device", "device+cache")


@dataclass
class Result:
    family: str
    camera: str
    frames_in: int
    budget: int  # video.max_visual_tokens
    max_frame_pixels: int  # video.max_frame_pixels
    frames_kept: int
    model_frame: str  # W×H handed to the processor, timestamp strip included
    visual_tokens: int  # from prepare_clips
    processor_visual_tokens: int  # from the processor's grid_thw (must agree)
    prepare_ms: float
    processor_ms: float
    path: str = "processor"  # PATHS

    @property
    def total_ms(self) -> float:
        return self.prepare_ms + self.processor_ms


def load_backend(family: str, path: str = "processor") -> Any:
    """The package's TransformersBackend on a tiny random model of ``family`` (its processor is the real one),
    preprocessing the way ``path`` says."""
    from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig

    backend = TransformersBackend(TransformersConfig(model=str(tiny_model_dir(family, teach=False)), device="cpu",
                                                     warmup=False, preprocess=path.split("+")[0]))
    backend.load()
    return backend


def run_case(backend: Any, family_name: str, size: str, frames: int, budget_tokens: int, max_frame_pixels: int,
             repeats: int, path: str = "processor") -> Result:
    from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode
    from cosmos_reason_ros.core.frames.frame_cache import FrameCache
    from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
    from cosmos_reason_ros.core.modes.prompts import build_prompt
    from cosmos_reason_ros.ros.node.parameters import SPECS

    width, height = parse_size(size)
    clip = CameraClip("front", [Frame(scene_frame(i, width, height), 100.0 + 0.5 * i) for i in range(frames)],
                      "front_optical_frame")
    budget = VideoBudget(max_visual_tokens=budget_tokens, max_frame_pixels=max_frame_pixels,
                         min_frame_pixels=min(SPECS["video.min_frame_pixels"].default, max_frame_pixels))
    prepare, processor = [], []
    cache = FrameCache() if path == "device+cache" else None
    for attempt in range(repeats + (cache is not None)):  # with the cache: a cold request first, not counted
        t0 = time.perf_counter()
        prepared = prepare_clips([clip], backend.family, budget, cache=cache)
        t1 = time.perf_counter()
        _, visual = backend.preprocess(build_prompt(backend.family, Mode.DECOMPOSE, "put the red cup on the tray",
                                                          prepared))
        t2 = time.perf_counter()
        if cache is not None and attempt == 0:
            continue
        prepare.append((t1 - t0) * 1e3)
        processor.append((t2 - t1) * 1e3)
    pixels = prepared[0].pixels
    return Result(family=family_name, camera=size, frames_in=frames, budget=budget_tokens,
                  max_frame_pixels=max_frame_pixels, frames_kept=pixels.shape[0],
                  model_frame=f"{pixels.shape[2]}x{pixels.shape[1]}", visual_tokens=prepared[0].visual_tokens,
                  processor_visual_tokens=visual, prepare_ms=statistics.median(prepare),
                  processor_ms=statistics.median(processor), path=path)


def table(results: list[Result]) -> str:
    return markdown_table(
        ["family", "camera", "frames", "max_visual_tokens", "max_frame_pixels", "frames kept", "to the model",
         "visual tokens", "path", "prepare_clips ms", "processor ms", "total ms"],
        [[r.family, r.camera, r.frames_in, r.budget, r.max_frame_pixels, r.frames_kept, r.model_frame, r.visual_tokens,
          r.path, fmt(r.prepare_ms, 1), fmt(r.processor_ms, 1), fmt(r.total_ms, 1)] for r in results])


def main(argv: list[str] | None = None) -> int:
    from cosmos_reason_ros.testing.tiny_model import TINY_FAMILIES  # the families a tiny model exists for

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=["reason1", "reason2"], choices=TINY_FAMILIES)
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1920x1080"], help="camera WIDTHxHEIGHT ...")
    parser.add_argument("--frames", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--budgets", type=int, nargs="+", default=[1024, 4096, 8192],
                        help="video.max_visual_tokens values")
    parser.add_argument("--max-frame-pixels", type=int, nargs="+", default=None,
                        help="video.max_frame_pixels values (default: the node's, 640x480 = 307200)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--paths", nargs="+", default=["processor"], choices=PATHS,
                        help="how the prompt becomes tensors (several: side by side in one run)")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    require_installed_package()
    isolate_dds()
    import torch

    from cosmos_reason_ros.ros.node.parameters import SPECS

    torch.set_num_threads(args.torch_threads)
    pixel_caps = args.max_frame_pixels or [SPECS["video.max_frame_pixels"].default]
    info = machine_info()
    results = []
    for family in args.families:
        backends = {path: load_backend(family, path) for path in args.paths}
        for path, backend in backends.items():  # warm-up
            run_case(backend, family, args.sizes[0], args.frames[0], args.budgets[0], pixel_caps[0], 1, path)
        for size in args.sizes:
            for frames in args.frames:
                for pixels in pixel_caps:
                    for budget in args.budgets:
                        for path, backend in backends.items():
                            result = run_case(backend, family, size, frames, budget, pixels, args.repeats, path)
                            if result.visual_tokens != result.processor_visual_tokens:
                                raise AssertionError(f"token count mismatch: {result}")
                            results.append(result)
        for backend in backends.values():
            backend.close()
    print(table(results))
    write_json(args.json, {"machine": info, "settings": dict(vars(args), json=None, max_frame_pixels=pixel_caps),
                           "results": [dict(asdict(r), total_ms=r.total_ms) for r in results]})
    print(f"\n{machine_line(info)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
