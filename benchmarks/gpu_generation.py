#!/usr/bin/env python3
"""Time to first token and decode speed of the Cosmos-Reason1-7B architecture through the package's own
backend, against the GPU's memory-bandwidth ceiling.

The model is the real ``Qwen2_5_VLForConditionalGeneration`` with the Qwen2.5-VL-7B configuration and
random bf16 weights (speed does not depend on the weights' values; no download is needed). Each case feeds
N frames of 640×480 through the package's video pipeline and prompt builder and generates a fixed number of
tokens (EOS ignored), so runs are comparable.

    python benchmarks/gpu_generation.py                       # bf16, 8 and 16 frames, 512 tokens
    python benchmarks/gpu_generation.py --quantization none 4bit 8bit --json out.json
    python benchmarks/gpu_generation.py --tiny --device cpu   # seconds-long smoke test of this script

Ceiling: decode at batch 1 reads every language-model weight (and the KV cache) once per token, so
tokens/s cannot exceed measured bandwidth ÷ bytes read per token. The report gives the fraction reached.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.models.backend import GenerationRequest, SamplingParams
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.core.modes.prompts import build_prompt
from cosmos_reason_ros.testing.tiny_model import build_model, build_processor, build_tokenizer

#: Qwen2.5-VL-7B-Instruct (the base of Cosmos-Reason1-7B): published config values.
REASON1_7B_TEXT = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152064, max_position_embeddings=128000,
                       rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6})
REASON1_7B_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                         patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                         fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2)


@dataclass
class CaseResult:
    """One measured configuration (medians over the repeats)."""

    quantization: str
    frames: int
    visual_tokens: int
    prompt_tokens: int
    new_tokens: int
    time_to_first_token_s: float
    decode_tokens_per_s: float
    total_s: float
    peak_memory_gib: float
    bytes_per_token_gb: float
    ceiling_tokens_per_s: float
    fraction_of_ceiling: float


def reason1_7b(tokenizer, device: torch.device, dtype: torch.dtype):
    """The 7B architecture with random weights, created directly on ``device``."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>",
                                                           "<|vision_end|>", "<|im_end|>", "<|endoftext|>")}
    config = Qwen2_5_VLConfig(
        text_config=dict(REASON1_7B_TEXT, eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]),
        vision_config=REASON1_7B_VISION,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model.eval()


def measure_bandwidth(device: torch.device, gib: float = 2.0) -> float:
    """Achievable memory bandwidth in bytes/s: a large device copy, counting bytes read and written."""
    n = int(gib * 2**30) // 2
    src = torch.empty(n, dtype=torch.bfloat16, device=device)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(10):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        dst.copy_(src)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    del src, dst
    return 2 * n * 2 / statistics.median(times)


def decode_bytes_per_token(model, context_tokens: int) -> float:
    """Bytes a decode step reads: language-model weights (not the vision tower, one embedding row) + KV cache."""
    language = model.model.language_model if hasattr(model.model, "language_model") else model.model
    weights = sum(p.numel() * p.element_size() for n, p in language.named_parameters() if "embed_tokens" not in n)
    weights += sum(p.numel() * p.element_size() for p in model.lm_head.parameters())
    text = model.config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    kv = 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * context_tokens * 2
    return float(weights + kv)


def clips(frames: int, width: int = 640, height: int = 480) -> list[CameraClip]:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (height, width, 3), dtype=np.uint8) for _ in range(frames)]
    return [CameraClip("front", [Frame(img, 100.0 + i * 0.25) for i, img in enumerate(images)], "front")]


def run_case(backend: TransformersBackend, frames: int, new_tokens: int, repeats: int, quantization: str,
             bandwidth: float) -> CaseResult:
    family = backend.family
    prepared = prepare_clips(clips(frames), family, VideoBudget(max_visual_tokens=16384))
    prompt = build_prompt(family, Mode.DECOMPOSE, "put the red cup on the tray", prepared)
    sampling = SamplingParams(temperature=0.0, max_new_tokens=new_tokens, ignore_eos=True)
    device = backend._device
    outputs = []
    for i in range(repeats + 1):  # the first run warms up kernels and the allocator
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        out = backend.generate(GenerationRequest(prompt=prompt, sampling=sampling))
        if i:
            outputs.append(out.stats)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    median = lambda values: statistics.median(values)  # noqa: E731
    stats = outputs[-1]
    bytes_per_token = decode_bytes_per_token(backend._model, stats.prompt_tokens + new_tokens // 2)
    ceiling = bandwidth / bytes_per_token
    decode = median([s.tokens_per_second for s in outputs])
    return CaseResult(
        quantization=quantization, frames=frames, visual_tokens=stats.visual_tokens,
        prompt_tokens=stats.prompt_tokens, new_tokens=stats.generated_tokens,
        time_to_first_token_s=median([s.time_to_first_token for s in outputs]),
        decode_tokens_per_s=decode, total_s=median([s.generation_time for s in outputs]),
        peak_memory_gib=peak, bytes_per_token_gb=bytes_per_token / 1e9, ceiling_tokens_per_s=ceiling,
        fraction_of_ceiling=decode / ceiling,
    )


def make_backend(args, quantization: str, tokenizer, processor, saved: Path | None) -> TransformersBackend:
    device = torch.device(args.device)
    if args.tiny:
        model = build_model("reason1", tokenizer).to(device)
        return TransformersBackend.from_loaded(model, processor, TransformersConfig(model="tiny-reason1"))
    if quantization == "none":
        model = reason1_7b(tokenizer, device, torch.bfloat16)
        return TransformersBackend.from_loaded(model, processor, TransformersConfig(model="Qwen2.5-VL-7B (random)"))
    # bitsandbytes quantizes while loading: go through the package's own loading path from a saved checkpoint.
    backend = TransformersBackend(TransformersConfig(model=str(saved), quantization=quantization, warmup=False))
    backend.load(progress=lambda m: print(f"  load: {m}", file=sys.stderr))
    return backend


def save_checkpoint(tokenizer, processor, directory: Path) -> Path:
    model = reason1_7b(tokenizer, torch.device("cuda"), torch.bfloat16)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    del model
    torch.cuda.empty_cache()
    return directory


def table(results: list[CaseResult]) -> str:
    rows = ["| quantization | frames | visual tok | prompt tok | TTFT (s) | decode tok/s | ceiling tok/s | "
            "of ceiling | peak GiB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.quantization} | {r.frames} | {r.visual_tokens} | {r.prompt_tokens} | "
                    f"{r.time_to_first_token_s:.3f} | {r.decode_tokens_per_s:.1f} | {r.ceiling_tokens_per_s:.0f} | "
                    f"{r.fraction_of_ceiling:.0%} | {r.peak_memory_gib:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quantization", nargs="+", default=["none"], choices=["none", "4bit", "8bit"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny config instead of 7B (CPU smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: this benchmark needs an NVIDIA GPU (use --tiny --device cpu to test the script)",
              file=sys.stderr)
        return 2
    tokenizer = build_tokenizer()
    processor = build_processor("reason1", tokenizer)
    bandwidth = measure_bandwidth(device, 0.25 if args.tiny else 2.0)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {name}; measured bandwidth {bandwidth / 1e12:.2f} TB/s; torch {torch.__version__}", file=sys.stderr)
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="cosmos-7b-") as tmp:
        saved = None
        for quantization in args.quantization:
            if quantization != "none" and saved is None and not args.tiny:
                saved = save_checkpoint(tokenizer, processor, Path(tmp))
            backend = make_backend(args, quantization, tokenizer, processor, saved)
            for frames in args.frames:
                result = run_case(backend, frames, args.new_tokens, args.repeats, quantization, bandwidth)
                print(f"  {quantization} {frames} frames: TTFT {result.time_to_first_token_s:.3f} s, "
                      f"{result.decode_tokens_per_s:.1f} tok/s ({result.fraction_of_ceiling:.0%} of ceiling)",
                      file=sys.stderr)
                results.append(result)
            backend.close()
            del backend
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"device": name, "bandwidth_bytes_per_s": bandwidth,
                                         "torch": torch.__version__, "results": [asdict(r) for r in results]},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
