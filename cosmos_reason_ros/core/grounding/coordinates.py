"""Model coordinates → pixels of the camera's own image, undoing every resize the node made.

Conventions (the same everywhere in the package, README "Coordinates"):

* **Continuous pixel coordinates**, origin at the top-left CORNER of the top-left pixel, x to the right, y
  down. Pixel (u, v) covers [u, u+1) × [v, v+1); its centre is (u + 0.5, v + 0.5). A box (x_min, y_min,
  x_max, y_max) covers [x_min, x_max) × [y_min, y_max): the integer pixels whose centres lie inside it.
* **What the model writes.** Reason2 (Qwen3-VL, ``ModelFamily.grounding_scale`` 1000): each axis
  normalised to 0..1000 over the image the model saw, x = 1000 · x_px / width. Reason1 (Qwen2.5-VL,
  ``grounding_scale`` 0): absolute pixels of the image *as resized for the model* (multiples of 28). Both
  are read as continuous coordinates of that image.
* **The resizes undone**, in order: the timestamp strip (Reason1 draws it *below* the frame, so the origin
  does not move; a coordinate inside the strip is clamped to the frame with a warning), the resize to
  multiples of the family's token side under the visual-token budget (``video.prepare_clips``: a pure
  per-axis scale from the camera image to ``w × content_height``), and a JPEG decode at reduced size
  (``Frame.source_scale``). The processors are called with ``do_resize=False``, so no further resize
  happens in the local backend; a Qwen-VL server's own smart-resize leaves these sizes unchanged too (they
  are already multiples of the token side inside its pixel bounds; test_grounding checks it with the real
  processors). No crop is made anywhere.

``locate`` turns the parser's ``ModelLocation``s into ``ImageLocation``s (camera pixels); out-of-range
values are clamped with a warning, and a box left empty by the clamp is dropped with a warning.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cosmos_reason_ros.core.datatypes import (
    CONFIDENCE_UNKNOWN,
    OBJECT_NOT_LOCATED,
    Mode,
    ModelLocation,
    ParseOutcome,
    Subtask,
)
from cosmos_reason_ros.core.frames.video import PreparedClip
from cosmos_reason_ros.core.models.families import ModelFamily


@dataclass(frozen=True)
class FrameGeometry:
    """How one frame the model saw relates to the camera's image. Sizes in px."""

    model_width: int  # width of the image the model saw
    model_height: int  # its height, timestamp strip included
    content_height: int  # rows of it that hold the frame (above the strip)
    source_width: int  # the camera's own image
    source_height: int

    def model_pixels(self, x: float, y: float, scale: int) -> tuple[float, float]:
        """A model coordinate (normalised 0..``scale``, or pixels when ``scale`` is 0) → model-image px."""
        if scale:
            return x * self.model_width / scale, y * self.model_height / scale
        return x, y

    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """Model-image px (inside the frame rows) → camera-image px."""
        return x * self.source_width / self.model_width, y * self.source_height / self.content_height


def geometry_of(clip: PreparedClip, index: int) -> FrameGeometry:
    """The geometry of frame ``index`` of a prepared clip."""
    frames, model_height, model_width = clip.pixels.shape[:3]
    content = clip.content_height or model_height
    width, height = clip.source_sizes[index] if index < len(clip.source_sizes) else (model_width, content)
    return FrameGeometry(int(model_width), int(model_height), int(content), int(width), int(height))


@dataclass
class ImageLocation:
    """One located object in the camera's own pixels (conventions above), plus its 3D point when known."""

    label: str
    camera: str
    frame_index: int  # index of the frame in the camera's clip (= in the plan's CameraFrames.stamps)
    stamp: float  # s, the frame's stamp
    stamp_ns: int | None
    frame_id: str
    image_width: int
    image_height: int
    box: tuple[float, float, float, float] | None = None  # x_min, y_min, x_max, y_max
    point: tuple[float, float] | None = None  # x, y
    confidence: float = CONFIDENCE_UNKNOWN
    position: tuple[float, float, float] | None = None  # m, in position_frame_id (set by the ROS shell)
    position_frame_id: str = ""
    position_stamp_ns: int = 0
    position_status: str = ""  # why position is None ("" when it is set)

    @property
    def anchor(self) -> tuple[float, float]:
        """The pixel a 3D point is taken at: the located point, else the box centre."""
        if self.point is not None:
            return self.point
        assert self.box is not None
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


def _clip_for(name: str, clips: Sequence[PreparedClip], label: str, warnings: list[str]) -> PreparedClip:
    """The clip the model named; the only one, or else the first, when the name is missing or unknown."""
    if name:
        for wanted in (name, name.strip().strip('"').lower()):
            for clip in clips:
                if clip.camera == wanted or clip.camera.lower() == wanted:
                    return clip
        warnings.append(f"object {label!r:.40}: unknown camera {name!r:.40}; used camera {clips[0].camera!r}")
    elif len(clips) > 1:
        warnings.append(f"object {label!r:.40}: no camera named; used camera {clips[0].camera!r}")
    return clips[0]


def _clamp(value: float, high: float) -> float:
    return min(max(value, 0.0), high)


def _to_source(xy: tuple[float, float], geometry: FrameGeometry, scale: int, what: str,
               warnings: list[str]) -> tuple[float, float]:
    x, y = geometry.model_pixels(xy[0], xy[1], scale)
    cx, cy = _clamp(x, geometry.model_width), _clamp(y, geometry.content_height)
    if (cx, cy) != (x, y):
        limit = (f"0..{scale}" if scale else f"0..{geometry.model_width} x 0..{geometry.content_height} px")
        warnings.append(f"{what}: ({xy[0]:g}, {xy[1]:g}) is outside the image ({limit}); clamped to its edge")
    return geometry.to_source(cx, cy)


def locate(objects: Sequence[ModelLocation], clips: Sequence[PreparedClip], family: ModelFamily,
           warnings: list[str]) -> list[ImageLocation]:
    """The parser's model-space locations, in pixels of each camera's own image (module docstring)."""
    located: list[ImageLocation] = []
    if not clips:
        return located
    scale = family.grounding_scale
    for obj in objects:
        clip = _clip_for(obj.camera, clips, obj.label, warnings)
        index = clip.num_frames - 1
        if obj.frame >= 0:
            if obj.frame < clip.num_frames:
                index = obj.frame
            else:
                warnings.append(f"object {obj.label!r:.40}: frame {obj.frame} is not in the clip of "
                                f"{clip.num_frames}; used the newest")
        geometry = geometry_of(clip, index)
        what = f"object {obj.label!r:.40}"
        box = point = None
        if obj.box is not None:
            x1, y1 = _to_source(obj.box[:2], geometry, scale, f"{what} box corner", warnings)
            x2, y2 = _to_source(obj.box[2:], geometry, scale, f"{what} box corner", warnings)
            if x2 > x1 and y2 > y1:
                box = (x1, y1, x2, y2)
            else:
                warnings.append(f"{what}: the box is empty once clamped to the image; dropped it")
        if obj.point is not None:
            point = _to_source(obj.point, geometry, scale, f"{what} point", warnings)
        if box is None and point is None:
            warnings.append(f"{what}: nothing left inside the image; dropped")
            continue
        stamp_ns = clip.source_stamps_ns[index] if index < len(clip.source_stamps_ns) else None
        located.append(ImageLocation(obj.label, clip.camera, index, clip.source_stamps[index], stamp_ns,
                                     clip.frame_id, geometry.source_width, geometry.source_height, box, point,
                                     obj.confidence))
    return located


def _name(text: str) -> str:
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return " ".join(w for w in words if w not in ("the", "a", "an"))


def link_targets(subtasks: Sequence[Subtask], located: Sequence[ImageLocation], warnings: list[str]) -> None:
    """Fill every subtask's ``object_indices``: per target, the first located object of the same name (case,
    articles and punctuation aside), else OBJECT_NOT_LOCATED (with a warning)."""
    names = [_name(obj.label) for obj in located]
    missing: list[str] = []
    for step in subtasks:
        step.object_indices = [names.index(_name(t)) if _name(t) in names else OBJECT_NOT_LOCATED
                               for t in step.target_objects]
        missing += [t for t, i in zip(step.target_objects, step.object_indices, strict=True) if i == OBJECT_NOT_LOCATED]
    if missing:
        unique = list(dict.fromkeys(missing))
        warnings.append(f"ground_targets: {len(unique)} target(s) not located: {', '.join(unique)[:200]}")


def ground_outcome(outcome: ParseOutcome, clips: Sequence[PreparedClip], family: ModelFamily, mode: Mode,
                   ground_targets: bool) -> list[ImageLocation]:
    """The outcome's located objects in camera pixels, its steps linked to them (ground_targets); mapping
    warnings join the outcome's. A MODE_LOCATE answer whose every object fell outside the image fails."""
    parsed = outcome.parsed
    if mode is not Mode.LOCATE and not ground_targets:
        parsed.objects = []  # located objects only where the goal asked for them
    located = locate(parsed.objects, clips, family, outcome.warnings) if parsed.objects else []
    if ground_targets:
        if not parsed.objects:
            outcome.warnings.append("ground_targets: the answer located no objects")
        link_targets(parsed.subtasks, located, outcome.warnings)
    if mode is Mode.LOCATE and parsed.objects and not located and outcome.ok:
        outcome.ok, outcome.error = False, "every located object fell outside the image (see parse_warnings)"
    return located
