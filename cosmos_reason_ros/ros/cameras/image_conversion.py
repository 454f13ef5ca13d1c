"""sensor_msgs/Image and CompressedImage → RGB numpy arrays, and cheap validity checks for ingest.

``check_image`` / ``check_compressed`` run in the subscription callback and only look at header fields,
lengths and, for compressed frames, the container's header and end (microseconds), so a malformed frame
is refused before it is stored or takes a store-rate slot. ``to_rgb`` decodes and
runs only for the frames a goal selects. Raw data is viewed in place (``np.frombuffer``), not copied,
until a conversion needs new memory. cv_bridge is used where it imports; otherwise an equivalent numpy /
OpenCV conversion handles the encodings below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from cosmos_reason_ros.core.errors import FrameDecodeError
from cosmos_reason_ros.core.frames.image_headers import JPEG_MAGIC, HeaderError, parse_header

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

_PACKED_YUV = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")


def _cv_bridge() -> Any | None:
    try:
        from cv_bridge import CvBridge  # type: ignore[import-not-found]
    except ImportError:
        return None
    return CvBridge()


_BRIDGE = _cv_bridge()


@dataclass(frozen=True)
class Rejection:
    """Why a frame is refused: ``kind`` is a stable key (counted per kind in /diagnostics), ``message`` says more."""

    kind: str
    message: str


def check_stamp(msg: Any) -> Rejection | None:
    """An all-zero header stamp is a driver that never set it: such frames would look like a time jump."""
    if msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0:
        return Rejection("no_stamp", "header stamp is zero (never set)")
    return None


def check_image(msg: Any) -> Rejection | None:
    """Why a raw Image cannot be used, or None if it is decodable. O(1): no pixel access.

    Accepted: ``step`` at least ``width`` × bytes per pixel (rows may be padded, as sensor_msgs/Image
    allows) and ``data`` exactly ``step`` × ``height`` bytes; ``is_bigendian`` 0 or 1. Encodings outside
    RAW_ENCODINGS pass when cv_bridge is present (it decides at decode time), with the same length rule.
    """
    encoding = (msg.encoding or "").lower()
    if msg.width == 0 or msg.height == 0:
        return Rejection("zero_size", f"zero size ({msg.width}x{msg.height})")
    if msg.is_bigendian not in (0, 1):
        return Rejection("bad_endianness", f"is_bigendian is {msg.is_bigendian}, not 0 or 1")
    bpp = RAW_ENCODINGS.get(encoding)
    if bpp is None and (_BRIDGE is None or not encoding):
        return Rejection("unsupported_encoding", f"unsupported encoding {msg.encoding!r} "
                                                 f"(supported: {', '.join(sorted(RAW_ENCODINGS))})")
    if encoding in _PACKED_YUV and msg.width % 2:
        return Rejection("odd_width", f"odd width {msg.width} for packed YUV 4:2:2")
    if bpp is not None and msg.step < msg.width * bpp:
        return Rejection("short_step", f"step {msg.step} is less than width {msg.width} x {bpp} bytes per pixel")
    expected = msg.step * msg.height
    if len(msg.data) < expected:
        return Rejection("short_data", f"data holds {len(msg.data)} bytes, expected step {msg.step} x height "
                                       f"{msg.height} = {expected}")
    if len(msg.data) > expected:
        return Rejection("long_data", f"data holds {len(msg.data)} bytes, more than step {msg.step} x height "
                                      f"{msg.height} = {expected}")
    return None


def check_compressed(msg: Any) -> Rejection | None:
    """Why a CompressedImage cannot be used, or None: format string, magic bytes, header and end of the
    container (``core.image_headers``, microseconds; nothing is decoded)."""
    try:
        parse_header(msg.data, msg.format)
    except HeaderError as e:
        return Rejection(e.kind, e.message)
    return None


def image_rows(msg: Any, bytes_per_pixel: int, dtype: type = np.uint8) -> np.ndarray:
    """View the image rows without the row padding (step may exceed width × bpp), as ``dtype`` in the
    message's byte order (colour frames here, depth images in ``depth``)."""
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
        pixels = image_rows(msg, bpp).reshape(h, w, bpp)[:, :, :3]
        return np.ascontiguousarray(pixels if encoding.startswith("rgb") else pixels[:, :, ::-1])
    if encoding in ("mono8", "8uc1"):
        return cv2.cvtColor(np.ascontiguousarray(image_rows(msg, 1)), cv2.COLOR_GRAY2RGB)
    if encoding in ("mono16", "16uc1"):
        # 16-bit images (often depth) are stretched to the full 8-bit range of this frame.
        values = image_rows(msg, 2, np.uint16).reshape(h, w).astype(np.float32)
        low, high = float(values.min()), float(values.max())
        scaled = (np.zeros((h, w), np.uint8) if high <= low
                  else ((values - low) * (255.0 / (high - low))).astype(np.uint8))
        return cv2.cvtColor(scaled, cv2.COLOR_GRAY2RGB)
    packed = np.ascontiguousarray(image_rows(msg, 2)).reshape(h, w, 2)
    code = cv2.COLOR_YUV2RGB_UYVY if encoding in ("yuv422", "uyvy") else cv2.COLOR_YUV2RGB_YUY2
    return cv2.cvtColor(packed, code)


def image_to_rgb(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/Image to H×W×3 uint8 RGB. Raises FrameDecodeError.

    Known encodings take the zero-copy numpy path; others go through cv_bridge when it is installed.
    """
    rejection = check_image(msg)
    if rejection is not None:
        raise FrameDecodeError(rejection.message)
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
    rejection = check_compressed(msg)
    if rejection is not None:
        raise FrameDecodeError(rejection.message)
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    is_jpeg = bytes(msg.data[:2]) == JPEG_MAGIC
    bgr = cv2.imdecode(buffer, _REDUCED.get(reduction, cv2.IMREAD_COLOR) if is_jpeg else cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise FrameDecodeError(f"corrupt {msg.format or 'compressed'} image ({len(buffer)} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_image_fields(pixels: np.ndarray) -> dict[str, Any]:
    """Fields of an rgb8 sensor_msgs/Image holding ``pixels`` (H×W×3 uint8)."""
    h, w = pixels.shape[:2]
    return {"height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0, "step": w * 3,
            "data": np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()}
