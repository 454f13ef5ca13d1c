"""Camera clips → the model's video input, inside a visual-token budget.

Qwen-VL vision towers cut frames into patches, merge 2×2 patches into one token and fold
``temporal_patch_size`` frames into one temporal patch. A frame pair resized to H×W (multiples of the
family's ``pixels_per_token_side`` f) therefore costs (H/f)·(W/f) tokens, and a clip of T frames
ceil(T/2)·(H/f)·(W/f). Frames are resized here, once, to exact multiples of f, so the processor does no
further resizing and the token count is known before the model runs.

Budget policy (never an out-of-memory by default): every frame is first capped at ``max_frame_pixels``;
if all clips together still exceed ``max_visual_tokens``, frames shrink uniformly down to
``min_frame_pixels``, and only then are frames dropped (evenly across each clip).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from cosmos_reason_ros.core.datatypes import CameraClip
from cosmos_reason_ros.core.errors import InvalidRequestError
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.core.models.families import ModelFamily


@dataclass(frozen=True)
class VideoBudget:
    """Limits on what the vision tower is given. Pixel counts are per frame, before the timestamp strip."""

    max_visual_tokens: int = 8192  # all cameras together (the models' documented maximum)
    max_frame_pixels: int = 640 * 480  # cap per frame; larger frames are downscaled keeping aspect
    min_frame_pixels: int = 224 * 224  # frames are not shrunk below this to meet the budget; frames are dropped
    timestamp_overlay: bool = True  # draw "N.NNs" under each frame for families that expect it

    def __post_init__(self) -> None:
        if self.max_visual_tokens < 4:
            raise InvalidRequestError(f"max_visual_tokens must be >= 4, got {self.max_visual_tokens}")
        if not 0 < self.min_frame_pixels <= self.max_frame_pixels:
            raise InvalidRequestError(
                f"need 0 < min_frame_pixels <= max_frame_pixels, got {self.min_frame_pixels}, {self.max_frame_pixels}"
            )


@dataclass
class PreparedClip:
    """One camera's frames, resized and ready for the processor."""

    camera: str
    pixels: np.ndarray  # T×H×W×3 uint8 RGB, H and W multiples of the family's pixels_per_token_side
    timestamps: list[float]  # seconds, relative to the earliest frame of all clips in the request
    source_stamps: list[float]  # the frames' own stamps (seconds), for reporting which frames were seen
    fps: float  # sampling rate of the clip (frames per second of scene time)
    visual_tokens: int
    frame_id: str = ""
    source_stamps_ns: list[int | None] = field(default_factory=list)  # exact stamps where known
    dropped_frames: int = 0  # frames removed to meet the token budget
    timestamp_overlay: bool = False  # each frame carries its time ("N.NNs") on a black strip below it
    notes: list[str] = field(default_factory=list)
    # Resize bookkeeping, so model coordinates map back to the camera's own image (core.grounding): the rows
    # of ``pixels`` above the timestamp strip (0 = all rows), and per frame the camera image's own size
    # (width, height) in px: the decoded frame's size times its Frame.source_scale.
    content_height: int = 0
    source_sizes: list[tuple[int, int]] = field(default_factory=list)
    # Per frame, the cached read-only resized frame (content rows) it was copied from, or None: the identity the
    # device preprocessing keys its normalised frames on (empty when no frame cache was used).
    frame_sources: list[np.ndarray | None] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.pixels.shape[0])


def fit_to_multiple(height: int, width: int, factor: int, max_pixels: int, min_pixels: int = 0) -> tuple[int, int]:
    """Size (h, w), both multiples of ``factor``, closest in aspect to (height, width), area in bounds."""
    if height <= 0 or width <= 0:
        raise InvalidRequestError(f"frame size must be positive, got {height}x{width}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / scale / factor) * factor)
        w = max(factor, math.floor(width / scale / factor) * factor)
        # A very thin frame has one side clamped up to a single token row: the other gets what is left.
        if h * w > max_pixels:
            if h == factor:
                w = max(factor, math.floor(max_pixels / h / factor) * factor)
            else:
                h = max(factor, math.floor(max_pixels / w / factor) * factor)
    elif min_pixels and h * w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * scale / factor) * factor
        w = math.ceil(width * scale / factor) * factor
    return h, w


def clip_tokens(num_frames: int, height: int, width: int, family: ModelFamily) -> int:
    """Visual tokens of a clip of ``num_frames`` frames of height×width (multiples of the token side)."""
    f = family.pixels_per_token_side
    return math.ceil(num_frames / family.temporal_patch_size) * (height // f) * (width // f)


def _evenly_spaced(count: int, keep: int) -> list[int]:
    """Indices of ``keep`` items spread evenly over ``count``, always including the newest."""
    if keep >= count:
        return list(range(count))
    if keep <= 1:
        return [count - 1]
    return sorted({round(i * (count - 1) / (keep - 1)) for i in range(keep)})


def plan_sizes(
    shapes: Sequence[tuple[int, int, int]], family: ModelFamily, budget: VideoBudget
) -> list[tuple[int, int, int]]:
    """For clips given as (frames, height, width), choose (frames kept, image height, image width).

    The returned height excludes the timestamp strip; the token count includes it.
    """
    f = family.pixels_per_token_side
    strip = f if (budget.timestamp_overlay and family.timestamp_overlay) else 0

    def total(plan: Sequence[tuple[int, int, int]]) -> int:
        return sum(clip_tokens(t, h + strip, w, family) for t, h, w in plan)

    def sized(max_pixels: int) -> list[tuple[int, int, int]]:
        return [(t, *fit_to_multiple(h, w, f, max_pixels)) for t, h, w in shapes]

    pixels = budget.max_frame_pixels
    plan = sized(pixels)
    # Shrink frames uniformly (10 % of area per step) until the budget holds or the floor is reached.
    while total(plan) > budget.max_visual_tokens and pixels > budget.min_frame_pixels:
        pixels = max(budget.min_frame_pixels, int(pixels * 0.9))
        plan = sized(pixels)
    if total(plan) <= budget.max_visual_tokens:
        return plan
    # Still too large at the floor: drop frames. Every clip keeps one frame pair; the rest of the budget is
    # shared in proportion to the pairs each clip still wants, so no clip starves another of its first pair.
    per_pair = [clip_tokens(2, h + strip, w, family) for _, h, w in plan]
    if sum(per_pair) > budget.max_visual_tokens:
        raise InvalidRequestError(
            f"{len(shapes)} camera(s) need at least {sum(per_pair)} visual tokens even at "
            f"{budget.min_frame_pixels} pixels and one frame pair each; max_visual_tokens is "
            f"{budget.max_visual_tokens}"
        )
    tp = family.temporal_patch_size
    extra_wanted = [math.ceil(t / tp) - 1 for t, _, _ in plan]
    extra_left = budget.max_visual_tokens - sum(per_pair)
    final: list[tuple[int, int, int]] = []
    for i, (t, h, w) in enumerate(plan):
        demand = sum(extra_wanted[j] * per_pair[j] for j in range(i, len(plan)))
        share = extra_left * extra_wanted[i] * per_pair[i] / demand if demand else 0
        extra_pairs = min(extra_wanted[i], int(share // per_pair[i]))
        extra_left -= extra_pairs * per_pair[i]
        final.append((min(t, (1 + extra_pairs) * tp), h, w))
    return final


def draw_timestamp(frame: np.ndarray, seconds: float, strip_height: int) -> None:
    """Write "N.NNs" in white, centred in the last ``strip_height`` rows of ``frame`` (in place)."""
    h, w = frame.shape[0] - strip_height, frame.shape[1]
    text = f"{seconds:.2f}s"
    scale = strip_height / 40.0
    thickness = max(1, round(strip_height / 20))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x = max(0, (w - tw) // 2)
    y = h + (strip_height + th) // 2
    cv2.putText(frame, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def draw_timestamp_strip(image: np.ndarray, seconds: float, strip_height: int) -> np.ndarray:
    """Return ``image`` with a black strip of ``strip_height`` rows below it showing "N.NNs" in white."""
    h, w = image.shape[:2]
    out = np.zeros((h + strip_height, w, 3), dtype=np.uint8)
    out[:h] = image
    draw_timestamp(out, seconds, strip_height)
    return out


def resize_frame(pixels: np.ndarray, height: int, width: int, out: np.ndarray | None = None) -> np.ndarray:
    """Resize one H×W×3 uint8 frame, into ``out`` when given (area averaging when shrinking, linear when
    growing).

    Large reductions first halve the frame while it is at least twice the target: area averaging at exactly
    half size takes OpenCV's fast path (a 1080p frame to ~730×420 in 3 ms instead of 7 ms), with the same
    box-filter result in two steps.
    """
    source = pixels
    while source.shape[0] >= 2 * height and source.shape[1] >= 2 * width:
        source = cv2.resize(source, (source.shape[1] // 2, source.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if source.shape[0] == height and source.shape[1] == width:
        if out is None:
            return source
        out[...] = source
        return out
    shrinking = height * width < source.shape[0] * source.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    if out is None:
        return cv2.resize(source, (width, height), interpolation=interpolation)
    cv2.resize(source, (width, height), dst=out, interpolation=interpolation)
    return out


def _clip_fps(stamps: Sequence[float]) -> float:
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return 1.0
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def resized_frame(frame_pixels: np.ndarray, height: int, width: int, key: tuple, cache: FrameCache) -> np.ndarray:
    """``frame_pixels`` resized to height×width, from ``cache`` when this very array was resized under ``key``
    before (the key names camera, stamp, size, family and budget; the array's identity names the frame)."""
    cached = cache.lookup(key, frame_pixels)
    if cached is None:
        resized = resize_frame(frame_pixels, height, width)
        if resized is frame_pixels or not resized.flags.c_contiguous:  # the cache's copy, never the caller's array
            resized = np.ascontiguousarray(resized).copy()
        cached = cache.store(key, frame_pixels, resized)
    return cached


def prepare_clips(clips: Sequence[CameraClip], family: ModelFamily, budget: VideoBudget,
                  cache: FrameCache | None = None) -> list[PreparedClip]:
    """Resize, budget and (for families that expect it) timestamp every camera's frames.

    With ``cache``, a frame already resized for the same size, family and budget is copied from there; the
    timestamp strip depends on this request's t0, so it is drawn per request onto the clip's own array."""
    if not clips:
        raise InvalidRequestError("no camera clips given")
    for clip in clips:
        if not clip.frames:
            raise InvalidRequestError(f"camera {clip.camera!r} has no frames")
    t0 = min(clip.frames[0].stamp for clip in clips)
    shapes = [(len(c.frames), c.frames[-1].pixels.shape[0], c.frames[-1].pixels.shape[1]) for c in clips]
    plan = plan_sizes(shapes, family, budget)
    f = family.pixels_per_token_side
    overlay = budget.timestamp_overlay and family.timestamp_overlay
    prepared = []
    for clip, (keep, h, w) in zip(clips, plan, strict=True):
        frames = [clip.frames[i] for i in _evenly_spaced(len(clip.frames), keep)]
        out_h = h + (f if overlay else 0)
        # One array for the clip: each frame is resized straight into it, the strip rows stay black.
        pixels = np.zeros((len(frames), out_h, w, 3), dtype=np.uint8)
        sources: list[np.ndarray | None] = []
        for i, frame in enumerate(frames):
            if cache is None:
                resize_frame(frame.pixels, h, w, out=pixels[i, :h])
            else:
                key = ("resized", clip.camera, frame.stamp_ns, frame.stamp, h, w, family.name,
                       family.pixels_per_token_side, family.temporal_patch_size, budget)
                resized = resized_frame(frame.pixels, h, w, key, cache)
                sources.append(resized)
                pixels[i, :h] = resized
            if overlay:
                draw_timestamp(pixels[i], frame.stamp - t0, f)
        stamps = [fr.stamp for fr in frames]
        notes = []
        if keep < len(clip.frames):
            notes.append(f"dropped {len(clip.frames) - keep} of {len(clip.frames)} frames to fit the visual-token "
                         "budget")
        prepared.append(
            PreparedClip(
                camera=clip.camera,
                pixels=pixels,
                timestamps=[s - t0 for s in stamps],
                source_stamps=stamps,
                source_stamps_ns=[fr.stamp_ns for fr in frames],
                fps=_clip_fps(stamps),
                visual_tokens=clip_tokens(len(frames), out_h, w, family),
                frame_id=clip.frame_id,
                dropped_frames=len(clip.frames) - keep,
                timestamp_overlay=overlay,
                notes=notes,
                content_height=h,
                source_sizes=[(round(fr.pixels.shape[1] * fr.source_scale), round(fr.pixels.shape[0] * fr.source_scale))
                              for fr in frames],
                frame_sources=sources,
            )
        )
    return prepared
