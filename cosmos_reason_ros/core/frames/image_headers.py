"""Cheap structural checks of compressed frames: format, dimensions and a complete end, without decoding.

A camera that sends corrupt JPEG or PNG data must not fill the buffer with frames that fail only when a
goal decodes them. These checks read the container's header (a JPEG's markers up to its first SOF, a PNG's
IHDR chunk) and its last bytes (a JPEG's EOI marker, a PNG's IEND chunk), so they cost microseconds per
frame whatever the image size: no pixel is touched. What they catch: data that merely starts with the
magic bytes, truncated frames (the end is missing), a header that names no size or a zero size, a corrupt
IHDR (its CRC), and a format string that disagrees with the data. What they cannot catch: damage inside the
entropy-coded data of an otherwise complete frame; that is found at decode time, and the frame selection
then takes the nearest decodable frame instead (``ros.clip_collection``).

Plain Python (``struct``, ``zlib``): no ROS, no OpenCV.
"""
from __future__ import annotations

import array
import struct
import zlib
from dataclasses import dataclass
from typing import Union

Buffer = Union[bytes, bytearray, memoryview, "array.array[int]"]  # anything with the buffer protocol

JPEG_MAGIC = b"\xff\xd8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The complete IEND chunk every PNG ends with: length 0, type, CRC of the type.
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
#: Bytes after a JPEG's EOI marker that are tolerated (some encoders pad the buffer).
JPEG_TRAILING_SLACK = 32
#: Markers that open a frame (start of frame, baseline to lossless): every SOFn except DHT, JPG and DAC.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Markers without a length field (TEM, RST0..7, SOI, EOI).
_STANDALONE = frozenset([0x01, *range(0xD0, 0xDA)])
_SOS, _EOI = 0xDA, 0xD9
#: Colour type → allowed bit depths (PNG specification, IHDR).
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


class HeaderError(ValueError):
    """Why a compressed frame is unusable; ``kind`` is a short stable key (for counters), ``message`` the detail."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ImageHeader:
    """What the container says about a frame: its codec (``jpeg`` or ``png``) and size in pixels."""

    codec: str
    width: int
    height: int


def codec_of_format(format_string: str) -> str | None:
    """The codec a CompressedImage ``format`` names: ``jpeg``, ``png``, ``""`` when empty, None when another.

    image_transport writes e.g. ``jpeg``, ``png``, ``rgb8; jpeg compressed bgr8``; ``compressedDepth``
    (a depth image behind a private 12-byte header) and other codecs are not decodable here.
    """
    text = format_string.strip().lower()
    if not text:
        return ""
    if "compresseddepth" in text:
        return None
    words = set(text.replace(";", " ").replace(",", " ").split())
    jpeg, png = bool(words & {"jpeg", "jpg"}), "png" in words
    if jpeg != png:
        return "jpeg" if jpeg else "png"
    return None


def parse_header(data: Buffer, format_string: str = "") -> ImageHeader:
    """Check a compressed frame's container; return its codec and size, or raise HeaderError."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    if len(view) < 8:
        raise HeaderError("too_short", f"data holds only {len(view)} bytes")
    named = codec_of_format(format_string)
    if named is None:
        raise HeaderError("format", f"format {format_string!r} names neither jpeg nor png")
    head = bytes(view[:8])
    if head.startswith(JPEG_MAGIC):
        codec = "jpeg"
    elif head == PNG_SIGNATURE:
        codec = "png"
    else:
        raise HeaderError("not_jpeg_or_png", f"data is neither JPEG nor PNG (first bytes {head[:4].hex()})")
    if named and named != codec:
        raise HeaderError("format", f"format {format_string!r} says {named} but the data is {codec}")
    return _jpeg_header(view) if codec == "jpeg" else _png_header(view)


def _jpeg_header(view: memoryview) -> ImageHeader:
    """Walk the marker segments from SOI to the first SOF (then on to SOS); check the EOI at the end."""
    size = len(view)
    pos, dims = 2, None
    while True:
        while pos < size and view[pos] == 0xFF and pos + 1 < size and view[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 2 > size:
            raise HeaderError("corrupt_header", f"JPEG header runs past the end of the data ({size} bytes)")
        if view[pos] != 0xFF:
            raise HeaderError("corrupt_header", f"JPEG header broken at byte {pos} (no marker)")
        marker = view[pos + 1]
        if marker in _STANDALONE:
            if marker == _EOI:
                raise HeaderError("corrupt_header", "JPEG ends before any image data")
            pos += 2
            continue
        if pos + 4 > size:
            raise HeaderError("corrupt_header", f"JPEG header runs past the end of the data ({size} bytes)")
        (length,) = struct.unpack_from(">H", view, pos + 2)
        if length < 2:
            raise HeaderError("corrupt_header", f"JPEG segment 0x{marker:02x} has length {length}")
        if marker in _SOF_MARKERS:
            if length < 8 or pos + 10 > size:
                raise HeaderError("corrupt_header", "JPEG frame header too short")
            precision, height, width, components = struct.unpack_from(">BHHB", view, pos + 4)
            if precision not in (8, 12, 16) or not 1 <= components <= 4:
                raise HeaderError("corrupt_header", f"JPEG frame header gives {precision}-bit samples and "
                                                    f"{components} components")
            dims = (width, height)
        if marker == _SOS:
            break
        pos += 2 + length
    if dims is None:
        raise HeaderError("corrupt_header", "JPEG has no frame header (SOF) before its scan")
    width, height = dims
    if width == 0 or height == 0:
        raise HeaderError("corrupt_header", f"JPEG frame header gives size {width}x{height}")
    tail = bytes(view[max(pos, size - JPEG_TRAILING_SLACK - 2):])
    if b"\xff\xd9" not in tail:
        raise HeaderError("truncated", f"JPEG has no end-of-image marker ({size} bytes): truncated")
    return ImageHeader("jpeg", width, height)


def _png_header(view: memoryview) -> ImageHeader:
    """Check the IHDR chunk (first, 13 bytes, CRC, sane fields) and the IEND chunk at the very end."""
    size = len(view)
    if size < 33 + len(PNG_IEND):
        raise HeaderError("truncated", f"PNG of {size} bytes is too short to hold IHDR and IEND")
    length, chunk = struct.unpack_from(">I4s", view, 8)
    if chunk != b"IHDR" or length != 13:
        raise HeaderError("corrupt_header", f"PNG does not start with a 13-byte IHDR chunk ({chunk!r}, {length})")
    (crc,) = struct.unpack_from(">I", view, 29)
    if zlib.crc32(view[12:29]) != crc:
        raise HeaderError("corrupt_header", "PNG IHDR chunk fails its CRC")
    width, height, depth, colour = struct.unpack_from(">IIBB", view, 16)
    if width == 0 or height == 0 or width > 2**31 - 1 or height > 2**31 - 1:
        raise HeaderError("corrupt_header", f"PNG IHDR gives size {width}x{height}")
    if depth not in _PNG_DEPTHS.get(colour, ()):
        raise HeaderError("corrupt_header", f"PNG IHDR has colour type {colour} with bit depth {depth}")
    if bytes(view[size - len(PNG_IEND):]) != PNG_IEND:
        raise HeaderError("truncated", f"PNG does not end with an IEND chunk ({size} bytes): truncated")
    return ImageHeader("png", width, height)
