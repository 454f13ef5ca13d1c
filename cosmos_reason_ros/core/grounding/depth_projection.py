"""A located pixel → a 3D point in the depth camera's optical frame, from an aligned depth image and its K.

Plain numpy, no ROS: ``ros.depth`` hands in the depth image as an array (already in metres) and the
CameraInfo's K. Conventions:

* **Depth values.** 16UC1 is millimetres, 32FC1 metres (REP 118); the ROS shell converts both to metres.
  0, NaN and ±inf are invalid (no return), and so is anything outside ``DepthSettings.min_m``..``max_m``.
* **Which pixels.** The colour image's coordinates (continuous px, origin at the top-left corner, see
  ``core.grounding``) are scaled to the depth image when its size differs (an aligned depth image
  normally has the colour image's size). A point takes the median of the valid depth pixels in a
  (2·window+1)² square around the pixel holding it; a box, the median of the valid depth pixels whose
  centres lie in the box's central part (``box_fraction`` of its width and height around its centre), so
  the background around a thin object does not win.
* **Back-projection** with the pinhole K = [fx 0 cx; 0 fy cy; 0 0 1] of CameraInfo. K's principal point
  is in OpenCV/ROS pixel coordinates, whose pixel centres are integers; a continuous coordinate x is at
  x − 0.5 there: X = (x − 0.5 − cx)·Z/fx, Y = (y − 0.5 − cy)·Z/fy, Z = depth (optical frame: x right,
  y down, z forward). Distortion (D) is not applied: an aligned depth image is published rectified (or
  registered to a rectified colour image); a non-zero D is reported in the status, not corrected.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DepthSettings:
    """How depth is sampled. Distances in m, window in depth pixels."""

    window: int = 2  # a point samples a (2·window+1)² square
    box_fraction: float = 0.5  # a box samples its central part: this fraction of its width and height
    min_m: float = 0.05  # nearer readings are invalid
    max_m: float = 20.0  # farther readings are invalid


@dataclass(frozen=True)
class Intrinsics:
    """The pinhole part of a CameraInfo (K) and the image size it belongs to."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_k(cls, k: Sequence[float], width: int, height: int) -> Intrinsics:
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]), int(width), int(height))

    def valid(self) -> bool:
        return all(math.isfinite(v) for v in (self.fx, self.fy, self.cx, self.cy)) and self.fx > 0 and self.fy > 0


def _valid(values: np.ndarray, settings: DepthSettings) -> np.ndarray:
    values = values[np.isfinite(values)]
    return values[(values >= settings.min_m) & (values <= settings.max_m)]


def sample_depth(depth_m: np.ndarray, anchor: tuple[float, float], box: tuple[float, float, float, float] | None,
                 use_box: bool, colour_size: tuple[int, int], settings: DepthSettings) -> tuple[float | None, str]:
    """(median depth in m, "") or (None, why). ``anchor`` and ``box`` in colour-image px; ``colour_size`` is
    (width, height) of the colour image."""
    height, width = depth_m.shape[:2]
    sx, sy = width / colour_size[0], height / colour_size[1]
    if use_box and box is not None:
        cx, cy = (box[0] + box[2]) / 2 * sx, (box[1] + box[3]) / 2 * sy
        half_w = (box[2] - box[0]) * sx * settings.box_fraction / 2
        half_h = (box[3] - box[1]) * sy * settings.box_fraction / 2
        # Pixels whose centres (u + 0.5) lie in [cx - half_w, cx + half_w); at least the one holding the centre.
        u0, u1 = math.ceil(cx - half_w - 0.5), math.ceil(cx + half_w - 0.5)
        v0, v1 = math.ceil(cy - half_h - 0.5), math.ceil(cy + half_h - 0.5)
        if u1 <= u0:
            u0, u1 = math.floor(cx), math.floor(cx) + 1
        if v1 <= v0:
            v0, v1 = math.floor(cy), math.floor(cy) + 1
        where = "in the box"
    else:
        u, v = math.floor(anchor[0] * sx), math.floor(anchor[1] * sy)
        u0, u1, v0, v1 = u - settings.window, u + settings.window + 1, v - settings.window, v + settings.window + 1
        where = "around the point"
    u0, u1, v0, v1 = max(u0, 0), min(u1, width), max(v0, 0), min(v1, height)
    if u1 <= u0 or v1 <= v0:
        return None, f"the location is outside the depth image ({width}x{height})"
    values = _valid(np.asarray(depth_m[v0:v1, u0:u1], dtype=np.float64).ravel(), settings)
    if values.size == 0:
        return None, f"no valid depth {where} (0, NaN, inf or outside {settings.min_m:g}..{settings.max_m:g} m)"
    return float(np.median(values)), ""


def back_project(x: float, y: float, z: float, k: Intrinsics) -> tuple[float, float, float]:
    """Continuous depth-image px (x, y) at depth z (m) → (X, Y, Z) in the optical frame (m)."""
    return (x - 0.5 - k.cx) * z / k.fx, (y - 0.5 - k.cy) * z / k.fy, z


def project_location(depth_m: np.ndarray, k: Intrinsics, anchor: tuple[float, float],
                     box: tuple[float, float, float, float] | None, use_box: bool, colour_size: tuple[int, int],
                     settings: DepthSettings = DepthSettings()) -> tuple[tuple[float, float, float] | None, str]:
    """The 3D point of a located object (anchor: its point, or its box centre), or (None, why)."""
    if not k.valid():
        return None, "the CameraInfo has no usable K (fx, fy must be > 0)"
    height, width = depth_m.shape[:2]
    if (k.width, k.height) != (width, height) and k.width and k.height:
        return None, f"the CameraInfo is for {k.width}x{k.height} images but the depth image is {width}x{height}"
    z, why = sample_depth(depth_m, anchor, box, use_box, colour_size, settings)
    if z is None:
        return None, why
    return back_project(anchor[0] * width / colour_size[0], anchor[1] * height / colour_size[1], z, k), ""
