"""sensor_msgs/Image and CompressedImage (real generated message classes) → RGB, for every supported
encoding, plus the cheap ingest checks that refuse malformed images."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from cosmos_reason_ros.core.errors import FrameDecodeError
from cosmos_reason_ros.ros.cameras.image_conversion import (
    check_compressed,
    check_image,
    check_stamp,
    compressed_to_rgb,
    image_to_rgb,
    reduction_for,
)

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 255, (6, 8, 3), dtype=np.uint8)


def raw(encoding: str, data: np.ndarray, width: int = 8, height: int = 6, pad: int = 0,
        bigendian: bool = False) -> Image:
    rows = data.reshape(height, -1)
    if pad:
        rows = np.concatenate([rows, np.full((height, pad), 77, np.uint8)], axis=1)
    return Image(height=height, width=width, encoding=encoding, is_bigendian=int(bigendian),
                 step=rows.shape[1], data=rows.tobytes())


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize("encoding, make", [
    ("rgb8", lambda: RGB),
    ("bgr8", lambda: RGB[:, :, ::-1]),
    ("8UC3", lambda: RGB[:, :, ::-1]),
    ("rgba8", lambda: np.dstack([RGB, np.full((6, 8), 9, np.uint8)])),
    ("bgra8", lambda: np.dstack([RGB[:, :, ::-1], np.full((6, 8), 9, np.uint8)])),
])
def test_colour_encodings_decode_to_the_same_rgb(encoding, make, pad):
    msg = raw(encoding, np.ascontiguousarray(make()).view(np.uint8), pad=pad)
    assert check_image(msg) is None
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_mono8_becomes_grey_rgb():
    grey = RGB[:, :, 0].copy()
    out = image_to_rgb(raw("mono8", grey))
    assert out.shape == (6, 8, 3) and (out[:, :, 0] == grey).all() and (out[:, :, 1] == grey).all()


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_is_stretched_to_full_range(bigendian):
    depth = np.linspace(500, 4500, 48, dtype=np.uint16).reshape(6, 8)
    data = depth.astype(">u2" if bigendian else "<u2").view(np.uint8)
    out = image_to_rgb(raw("mono16", data, bigendian=bigendian))
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255 and out[3, 3, 0] == out[3, 3, 2]


@pytest.mark.parametrize("encoding", ["yuv422", "yuv422_yuy2"])
def test_packed_yuv422_decodes_close_to_the_source(encoding):
    """A flat colour (chroma subsampling loses nothing) packed as BT.601 video-range UYVY / YUYV by hand."""
    r, g, b = 200.0, 80.0, 40.0
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    pair = [u, y, v, y] if encoding == "yuv422" else [y, u, y, v]
    data = np.tile(np.array(pair).round().astype(np.uint8), 6 * 4)
    out = image_to_rgb(raw(encoding, data))
    assert out.shape == (6, 8, 3)
    assert np.abs(out.astype(int) - np.array([200, 80, 40])).max() <= 4


@pytest.mark.parametrize("msg, kind, reason", [
    (Image(height=0, width=4, encoding="rgb8", step=12, data=b""), "zero_size", "zero size"),
    (Image(height=2, width=0, encoding="rgb8", step=0, data=b""), "zero_size", "zero size"),
    (Image(height=2, width=2, encoding="bayer_rggb8", step=2, data=bytes(4)), "unsupported_encoding", "unsupported"),
    (Image(height=2, width=2, encoding="", step=6, data=bytes(12)), "unsupported_encoding", "unsupported"),
    (Image(height=2, width=4, encoding="rgb8", step=8, data=bytes(16)), "short_step", "step 8"),
    (Image(height=2, width=4, encoding="rgb8", step=12, data=bytes(20)), "short_data", "data holds 20 bytes"),
    (Image(height=2, width=4, encoding="rgb8", step=12, data=bytes(25)), "long_data", "data holds 25 bytes"),
    (Image(height=2, width=4, encoding="rgb8", step=16, data=bytes(24)), "short_data", "step 16 x height 2"),
    (Image(height=2, width=3, encoding="yuv422", step=6, data=bytes(12)), "odd_width", "odd width"),
    (Image(height=2, width=4, encoding="mono16", is_bigendian=2, step=8, data=bytes(16)), "bad_endianness",
     "is_bigendian"),
])
def test_malformed_images_are_refused_with_the_kind_and_reason(msg, kind, reason):
    rejection = check_image(msg)
    assert rejection is not None and rejection.kind == kind and reason in rejection.message
    with pytest.raises(FrameDecodeError, match=reason):
        image_to_rgb(msg)


def test_raw_size_rule_accepts_padded_rows_with_exact_data():
    """Row padding (step > width x bpp) is standard; the data must then be exactly step x height."""
    assert check_image(raw("rgb8", RGB, pad=5)) is None
    padded = raw("rgb8", RGB, pad=5)
    padded.data = bytes(padded.data) + b"\x00"
    assert check_image(padded).kind == "long_data"


def test_zero_stamp_is_refused_and_a_set_stamp_passes():
    msg = raw("rgb8", RGB)
    assert check_stamp(msg).kind == "no_stamp"
    msg.header.stamp.nanosec = 1
    assert check_stamp(msg) is None


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_compressed_images_decode(extension):
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    msg = CompressedImage(format=extension[1:], data=encoded.tobytes())
    assert check_compressed(msg) is None
    out = compressed_to_rgb(msg)
    assert out.shape == (6, 8, 3)
    if extension == ".png":
        np.testing.assert_array_equal(out, RGB)


def _encoded(extension: str) -> bytes:
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("format_string, data, kind", [
    ("jpeg", b"", "too_short"),
    ("jpeg", b"GIF89a......", "not_jpeg_or_png"),
    ("jpeg", b"\xff\xd8\xff\xe0garbage-after-header" * 4, "corrupt_header"),
    ("jpeg", _encoded(".jpg")[:-40], "truncated"),
    ("png", _encoded(".png")[:-20], "truncated"),
    ("png", _encoded(".jpg"), "format"),
    ("tiff", _encoded(".jpg"), "format"),
    ("16UC1; compressedDepth png", _encoded(".png"), "format"),
])
def test_bad_compressed_data_is_refused_with_its_kind(format_string, data, kind):
    msg = CompressedImage(format=format_string, data=data)
    rejection = check_compressed(msg)
    assert rejection is not None and rejection.kind == kind, rejection
    with pytest.raises(FrameDecodeError):
        compressed_to_rgb(msg)


def test_raw_decoding_views_message_memory_until_conversion():
    """rgb8 without row padding needs no copy of the message data before the final contiguous array."""
    msg = raw("rgb8", RGB)
    out = image_to_rgb(msg)
    assert out.flags["C_CONTIGUOUS"]
    assert not out.flags["OWNDATA"]  # a view of the message's own buffer, not a copy
    assert not out.flags["WRITEABLE"] or out.base is not None
    np.testing.assert_array_equal(out, RGB)


def test_jpeg_decodes_at_a_reduced_scale_when_asked():
    """Frames the model sees smaller anyway decode straight at 1/2, 1/4 (the JPEG DCT does the shrinking)."""
    big = cv2.resize(RGB, (1920, 1080), interpolation=cv2.INTER_NEAREST)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    msg = CompressedImage(format="jpeg", data=encoded.tobytes())
    assert compressed_to_rgb(msg).shape == (1080, 1920, 3)
    assert compressed_to_rgb(msg, 2).shape == (540, 960, 3)
    assert compressed_to_rgb(msg, 4).shape == (270, 480, 3)
    ok, png = cv2.imencode(".png", cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    assert compressed_to_rgb(CompressedImage(format="png", data=png.tobytes()), 4).shape == (1080, 1920, 3)


@pytest.mark.parametrize("height, width, min_pixels, expected", [
    (1080, 1920, 640 * 480, 2),   # 960x540 still holds 307200 px; 480x270 would not
    (2160, 3840, 640 * 480, 4),
    (480, 640, 640 * 480, 1),     # already at the size the model sees
    (4320, 7680, 100, 8),         # never beyond 1/8
])
def test_reduction_keeps_at_least_the_pixels_the_model_sees(height, width, min_pixels, expected):
    scale = reduction_for(height, width, min_pixels)
    assert scale == expected
    assert (height // scale) * (width // scale) >= min_pixels
