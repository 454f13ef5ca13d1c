"""sensor_msgs/Image and CompressedImage → RGB numpy arrays, and cheap validity checks for ingest.

``check_image`` / ``check_compressed`` run in the subscription callback and only look at header fields
and lengths (microseconds), so a malformed frame is refused before it is stored. ``to_rgb`` decodes and
runs only for the frames a goal selects. Raw data is viewed in place (``np.frombuffer``), not copied,
until a conversion needs new memory. cv_bridge is used where it imports; otherwise an equivalent numpy /
OpenCV conversion handles the encodings below.
"""
from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from ..core.errors import FrameDecodeError

#: Raw encodings understood without cv_bridge: bytes per pixel.
RAW_ENCODINGS: dict[str, int] = {
    "rgb8": 3,
    "bgr8": 3,
    "rgba8": 4,
    "bgra8": 4,
    "mono8": 1,
    "8uc1": 1,
    "8uc3": 3,
    "mono16": 2,
    "16uc1": 2,
    "yuv422": 2,  # UYVY byte order
    "uyvy": 2,
    "yuv422_yuy2": 2,  # YUYV byte order
    "yuyv": 2,
}

_JPEG_MAGIC = b"\xff\xd8"
_PNG_MAGIC = b"\x89PNG"


def _cv_bridge() -> Optional[Any]:
    try:
        from cv_bridge import CvBridge  # type: ignore[import-not-found]
    except ImportError:
        return None
    return CvBridge()


_BRIDGE = _cv_bridge()


def check_image(msg: Any) -> Optional[str]:
    """Why a raw Image cannot be used, or None if it looks decodable. O(1): no pixel access.

    Encodings outside RAW_ENCODINGS pass when cv_bridge is present (it decides at decode time).
    """
    encoding = (msg.encoding or "").lower()
    if msg.width == 0 or msg.height == 0:
        return f"zero size ({msg.width}x{msg.height})"
    bpp = RAW_ENCODINGS.get(encoding)
    if bpp is None:
        if _BRIDGE is not None and encoding:
            return None
        return f"unsupported encoding {msg.encoding!r} (supported: {', '.join(sorted(RAW_ENCODINGS))})"
    if encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") and msg.width % 2:
        return f"odd width {msg.width} for packed YUV 4:2:2"
    if msg.step < msg.width * bpp:
        return f"step {msg.step} is less than width {msg.width} x {bpp} bytes per pixel"
    if len(msg.data) < msg.step * msg.height:
        return f"data holds {len(msg.data)} bytes, expected step {msg.step} x height {msg.height}"
    return None


def check_compressed(msg: Any) -> Optional[str]:
    """Why a CompressedImage cannot be used, or None. Looks at the format string and magic bytes only."""
    data = msg.data
    if len(data) < 4:
        return f"data holds only {len(data)} bytes"
    head = bytes(data[:4])
    if not (head.startswith(_JPEG_MAGIC) or head == _PNG_MAGIC):
        return f"data is neither JPEG nor PNG (format {msg.format!r}, first bytes {head.hex()})"
    return None


def _rows(msg: Any, bytes_per_pixel: int, dtype: type = np.uint8) -> np.ndarray:
    """View the image rows without the row padding (step may exceed width × bpp)."""
    flat = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height)
    rows = flat.reshape(msg.height, msg.step)[:, : msg.width * bytes_per_pixel]
    if dtype is np.uint8:
        return rows
    swapped = ">" if msg.is_bigendian else "<"
    return np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(swapped))


def _raw_to_rgb(msg: Any) -> np.ndarray:
    encoding = msg.encoding.lower()
    bpp = RAW_ENCODINGS[encoding]
    h, w = msg.height, msg.width
    if encoding in ("rgb8", "bgr8", "8uc3", "rgba8", "bgra8"):
        pixels = _rows(msg, bpp).reshape(h, w, bpp)[:, :, :3]
        return np.ascontiguousarray(pixels if encoding.startswith("rgb") else pixels[:, :, ::-1])
    if encoding in ("mono8", "8uc1"):
        return cv2.cvtColor(np.ascontiguousarray(_rows(msg, 1)), cv2.COLOR_GRAY2RGB)
    if encoding in ("mono16", "16uc1"):
        # 16-bit images (often depth) are stretched to the full 8-bit range of this frame.
        values = _rows(msg, 2, np.uint16).reshape(h, w).astype(np.float32)
        low, high = float(values.min()), float(values.max())
        scaled = np.zeros((h, w), np.uint8) if high <= low else ((values - low) * (255.0 / (high - low))).astype(np.uint8)
        return cv2.cvtColor(scaled, cv2.COLOR_GRAY2RGB)
    packed = np.ascontiguousarray(_rows(msg, 2)).reshape(h, w, 2)
    code = cv2.COLOR_YUV2RGB_UYVY if encoding in ("yuv422", "uyvy") else cv2.COLOR_YUV2RGB_YUY2
    return cv2.cvtColor(packed, code)


def image_to_rgb(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/Image to H×W×3 uint8 RGB. Raises FrameDecodeError.

    Known encodings take the zero-copy numpy path; others go through cv_bridge when it is installed.
    """
    reason = check_image(msg)
    if reason is not None:
        raise FrameDecodeError(reason)
    try:
        if msg.encoding.lower() in RAW_ENCODINGS:
            return _raw_to_rgb(msg)
        return np.asarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
    except (ValueError, cv2.error) as e:
        raise FrameDecodeError(f"cannot convert {msg.encoding} image: {e}") from e
    except Exception as e:  # cv_bridge raises its own CvBridgeError
        raise FrameDecodeError(f"cannot convert {msg.encoding} image: {type(e).__name__}: {e}") from e


#: JPEG decoding at 1/scale of the full size (the DCT does the shrinking: several times faster).
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction_for(height: int, width: int, min_pixels: int) -> int:
    """The largest JPEG decode reduction (1, 2, 4 or 8) that keeps at least ``min_pixels`` pixels."""
    scale = 1
    while scale < 8 and (height // (2 * scale)) * (width // (2 * scale)) >= min_pixels:
        scale *= 2
    return scale


def compressed_to_rgb(msg: Any, reduction: int = 1) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG) to H×W×3 uint8 RGB. Raises FrameDecodeError.

    ``reduction`` (1, 2, 4, 8) decodes a JPEG directly at that fraction of its size, for frames the model
    will see smaller anyway; PNG ignores it.
    """
    reason = check_compressed(msg)
    if reason is not None:
        raise FrameDecodeError(reason)
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    is_jpeg = bytes(msg.data[:2]) == _JPEG_MAGIC
    bgr = cv2.imdecode(buffer, _REDUCED.get(reduction, cv2.IMREAD_COLOR) if is_jpeg else cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise FrameDecodeError(f"corrupt {msg.format or 'compressed'} image ({len(buffer)} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_image_fields(pixels: np.ndarray) -> dict[str, Any]:
    """Fields of an rgb8 sensor_msgs/Image holding ``pixels`` (H×W×3 uint8)."""
    h, w = pixels.shape[:2]
    return {"height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0, "step": w * 3,
            "data": np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()}
