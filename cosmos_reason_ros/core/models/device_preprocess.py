"""Normalise and patch frames on the model's device, instead of in the transformers processor on the CPU.

The frames reaching the backend are already resized to multiples of the family's token side
(``video.prepare_clips``), so of the processor's work only rescale + normalise + temporal pad + patch layout
is left, and that is what this module does with torch where the model runs (CUDA when present):

* rescale and normalise with the processor's own constants, in the same order as the processor's fused
  path (``(x - mean/scale) / (std/scale)`` in float32), so the result is equal, not just close;
* the temporal pad and patch layout by the processor's own ``patchify`` (a pure view/permute/reshape, so it
  runs on any device), so every family's layout, Qwen's channel-first and Cosmos3-Edge's channel-last, is
  the family's by construction.

The text side stays the processor's: ``processor_with_outputs`` gives a shallow copy of the real processor
whose video (and image) processor returns these precomputed tensors, so the chat template, the token
expansion and the frame times in the prompt are the processor's own. ``PREPROCESS_BACKENDS`` is the choice
of the ``local.preprocess`` parameter: ``device`` (this module) or ``processor`` (the processor's CPU path,
the fallback and the benchmark's "before").

Frames of a clip that came out of the frame cache (``PreparedClip.frame_sources``) are normalised and patched
once: the patches of each temporal group (``temporal_patch_size`` frames) are kept in a ``FrameCache`` keyed by
that group's resized frames, on the device and in the model's dtype, so a later request over the same frames
only concatenates; the timestamp strip (Reason1), which depends on the request's t0, is patched per request.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.core.frames.video import PreparedClip

#: ``local.preprocess`` choices: normalise + patch on the model's device, or the processor's own CPU path.
PREPROCESS_BACKENDS = ("device", "processor")


@dataclass(frozen=True)
class VisionLayout:
    """What one vision processor does to resized frames: its constants and its ``patchify``."""

    processor: Any  # the real video or image processor (its patchify is called)
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]
    video: bool  # a video processor (patchify takes B×T×C×H×W) or an image processor (B×C×H×W)

    @property
    def key(self) -> tuple:
        """What the normalised pixels depend on (for the cache key)."""
        return (self.do_rescale, self.rescale_factor, self.do_normalize, self.image_mean, self.image_std)


def vision_layout(processor: Any, video: bool) -> VisionLayout | None:
    """The layout of a video (or image) processor, or None when it cannot be reproduced on the device (no
    ``patchify`` in this transformers version, or options this module does not implement)."""
    if processor is None or not callable(getattr(processor, "patchify", None)):
        return None
    if getattr(processor, "do_center_crop", False) or getattr(processor, "do_pad", False):
        return None
    try:
        return VisionLayout(
            processor=processor,
            patch_size=int(processor.patch_size),
            merge_size=int(processor.merge_size),
            temporal_patch_size=int(getattr(processor, "temporal_patch_size", None) or 1),
            do_rescale=bool(processor.do_rescale),
            rescale_factor=float(processor.rescale_factor),
            do_normalize=bool(processor.do_normalize),
            image_mean=tuple(float(v) for v in np.atleast_1d(processor.image_mean)),
            image_std=tuple(float(v) for v in np.atleast_1d(processor.image_std)),
            video=video,
        )
    except (AttributeError, TypeError, ValueError):
        return None


class DevicePreprocessor:
    """Normalise and patch prepared clips on ``device`` the way ``video_layout`` / ``image_layout`` do, giving
    ``dtype`` (the model's) tensors."""

    def __init__(self, video_layout: VisionLayout, image_layout: VisionLayout | None, device: Any,
                 cache: FrameCache | None = None, dtype: Any = None) -> None:
        self.video_layout = video_layout
        self.image_layout = image_layout
        self.device = device
        self.dtype = dtype  # None: float32, as the processor returns
        self.cache = cache
        self._constants: dict[tuple, tuple[Any, Any, bool]] = {}

    # ------------------------------------------------------------------------------------- normalise
    def _fused(self, layout: VisionLayout) -> tuple[Any, Any, bool]:
        """Mean and std as the processor's fused rescale+normalise builds them (same float32 values)."""
        found = self._constants.get(layout.key)
        if found is None:
            import torch

            mean, std, rescale = layout.image_mean, layout.image_std, layout.do_rescale
            if layout.do_rescale and layout.do_normalize:
                mean_t = torch.tensor(mean, device=self.device) * (1.0 / layout.rescale_factor)
                std_t = torch.tensor(std, device=self.device) * (1.0 / layout.rescale_factor)
                rescale = False
            else:
                mean_t = torch.tensor(mean, device=self.device)
                std_t = torch.tensor(std, device=self.device)
            found = (mean_t.view(-1, 1, 1), std_t.view(-1, 1, 1), rescale)
            self._constants[layout.key] = found
        return found

    def normalise(self, frames: np.ndarray, layout: VisionLayout) -> Any:
        """N×H×W×3 uint8 → N×3×H×W float32 on the device, as the processor's ``rescale_and_normalize``."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device, non_blocking=True)
        # Channels first while still uint8 (a quarter of the bytes), as the processor does: the float work and the
        # patch layout then run over contiguous memory.
        tensor = tensor.permute(0, 3, 1, 2).contiguous().to(torch.float32)
        mean, std, rescale = self._fused(layout)
        if layout.do_normalize:
            return tensor.sub_(mean).div_(std)
        if rescale:
            return tensor * layout.rescale_factor
        return tensor

    # ---------------------------------------------------------------------------------------- patch
    def _patchify(self, frames: Any, layout: VisionLayout) -> Any:
        """Normalised T×3×H×W frames → their patches (sequence × features), by the processor's own patchify."""
        if layout.video:
            flat = layout.processor.patchify(frames.unsqueeze(0), patch_size=layout.patch_size,
                                             merge_size=layout.merge_size,
                                             temporal_patch_size=layout.temporal_patch_size)[0]
        else:
            flat = layout.processor.patchify(frames, patch_size=layout.patch_size, merge_size=layout.merge_size,
                                             temporal_patch_size=layout.temporal_patch_size)[0]
        flat = flat.reshape(-1, flat.shape[-1])
        return flat if self.dtype is None else flat.to(self.dtype)

    def clip_patches(self, clip: PreparedClip, layout: VisionLayout) -> tuple[Any, list[int]]:
        """One clip's patches and its grid (t, h, w).

        The patch sequence runs temporal group by temporal group (``temporal_patch_size`` frames, the last
        frame repeated to fill the last group), and within a group token row by token row; the timestamp strip
        (Reason1) is the last token row of each group. So each group's content patches depend only on its
        frames and are cached by them (``frame_sources``), while the strip, drawn for this request's t0, is
        patched per request and put after each group's content.
        """
        import torch

        frames, height, width = clip.num_frames, clip.pixels.shape[1], clip.pixels.shape[2]
        tp = layout.temporal_patch_size if layout.video else 1
        groups = -(-frames // tp)
        grid = [groups, height // layout.patch_size, width // layout.patch_size]
        sources = clip.frame_sources
        if self.cache is None or len(sources) != frames or any(s is None for s in sources):
            return self._patchify(self.normalise(clip.pixels, layout), layout), grid
        content = clip.content_height or height
        pieces = []
        strips = None
        if content < height:  # the strip of every frame, patched at once, then cut per group
            strips = self._patchify(self.normalise(clip.pixels[:, content:], layout), layout).chunk(groups)
        for g in range(groups):
            picks = [min(g * tp + k, frames - 1) for k in range(tp)]
            group_sources = tuple(sources[i] for i in picks)
            key = ("patches", tuple(id(s) for s in group_sources), layout.video, layout.key, layout.patch_size,
                   layout.merge_size, tp, str(self.device), str(self.dtype), content, width)
            patches = self.cache.lookup(key, group_sources)
            if patches is None:
                chosen = clip.pixels[g * tp: g * tp + tp, :content]
                if chosen.shape[0] < tp:  # the processor repeats the last frame to fill the group
                    chosen = np.concatenate([chosen, np.repeat(chosen[-1:], tp - chosen.shape[0], axis=0)])
                if layout.video:
                    patches = self._patchify(self.normalise(chosen, layout), layout)
                else:
                    patches = self._patchify(self.normalise(chosen[:1], layout), layout)
                self.cache.store(key, group_sources, patches, patches.element_size() * patches.nelement())
            pieces.append(patches)
            if strips is not None:
                pieces.append(strips[g])
        return torch.cat(pieces, dim=0), grid

    def videos(self, clips: Sequence[PreparedClip]) -> dict[str, Any]:
        """``pixel_values_videos`` and ``video_grid_thw`` of the clips, as the video processor returns them."""
        import torch

        patches, grids = [], []
        for clip in clips:
            flat, grid = self.clip_patches(clip, self.video_layout)
            patches.append(flat)
            grids.append(grid)
        return {"pixel_values_videos": torch.cat(patches, dim=0) if len(patches) > 1 else patches[0],
                "video_grid_thw": torch.tensor(grids)}

    def images(self, clips: Sequence[PreparedClip]) -> dict[str, Any]:
        """``pixel_values`` and ``image_grid_thw`` of one-frame clips, as the image processor returns them."""
        import torch

        assert self.image_layout is not None
        patches, grids = [], []
        for clip in clips:
            flat, grid = self.clip_patches(clip, self.image_layout)
            patches.append(flat)
            grids.append([1, grid[1], grid[2]])
        return {"pixel_values": torch.cat(patches, dim=0) if len(patches) > 1 else patches[0],
                "image_grid_thw": torch.tensor(grids, dtype=torch.long)}


class PrecomputedVision:
    """Stands in for a processor's video or image processor: returns tensors computed beforehand (and, for
    videos, the metadata the real one returns), and forwards every attribute (merge_size, temporal_patch_size
    ...) to the real one, so the processor's text expansion reads the real values."""

    def __init__(self, real: Any, outputs: dict[str, Any], video: bool) -> None:
        self._real = real
        self._outputs = outputs
        self._video = video

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __call__(self, inputs: Any = None, **kwargs: Any) -> Any:
        from transformers.feature_extraction_utils import BatchFeature

        data = dict(self._outputs)
        if self._video and kwargs.get("return_metadata", getattr(self._real, "return_metadata", False)):
            from transformers.video_utils import make_batched_metadata, make_batched_videos

            videos: Any = make_batched_videos(inputs)
            metadata: Any = kwargs.get("video_metadata")
            data["video_metadata"] = make_batched_metadata(videos, video_metadata=metadata)
        return BatchFeature(data=data)


def processor_with_outputs(processor: Any, videos: dict[str, Any] | None, images: dict[str, Any] | None) -> Any:
    """A shallow copy of ``processor`` whose video / image processors return ``videos`` / ``images``."""
    stand_in = copy.copy(processor)
    if videos is not None:
        stand_in.video_processor = PrecomputedVision(processor.video_processor, videos, video=True)
    if images is not None:
        stand_in.image_processor = PrecomputedVision(processor.image_processor, images, video=False)
    return stand_in
