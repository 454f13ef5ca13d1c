"""The cheap container checks of compressed frames (``core.image_headers``): real JPEG and PNG files made by
OpenCV, and the ways a camera breaks them (garbage after the magic bytes, truncation, a broken header, a
format string that disagrees with the data)."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from cosmos_reason_ros.core.frames.image_headers import HeaderError, codec_of_format, parse_header

RNG = np.random.default_rng(5)
PIXELS = RNG.integers(0, 255, (48, 64, 3), dtype=np.uint8)


def encode(extension: str, pixels: np.ndarray = PIXELS, params: tuple = ()) -> bytes:
    ok, data = cv2.imencode(extension, pixels, list(params))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("extension, params", [(".jpg", ()), (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
                                               (".png", ()), (".png", (cv2.IMWRITE_PNG_COMPRESSION, 9))])
def test_valid_frames_give_codec_and_size(extension, params):
    header = parse_header(encode(extension, params=params), "")
    assert (header.codec, header.width, header.height) == (extension[1:].replace("jpg", "jpeg"), 64, 48)


def test_grey_and_16_bit_png_and_padded_jpeg_pass():
    assert parse_header(encode(".png", PIXELS[:, :, 0]), "png").codec == "png"
    assert parse_header(encode(".png", PIXELS.astype(np.uint16) * 200), "png").width == 64
    assert parse_header(encode(".jpg") + b"\x00" * 16, "jpeg").height == 48  # padding after EOI is tolerated


def test_buffer_types_from_ros_messages_work():
    """sensor_msgs uint8[] arrives as array.array('B'); memoryviews and bytearrays work the same."""
    import array

    data = encode(".jpg")
    for buffer in (array.array("B", data), bytearray(data), memoryview(data)):
        assert parse_header(buffer, "jpeg").width == 64


def test_jpeg_with_exif_before_the_frame_header_is_walked_over():
    data = encode(".jpg")
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 1000) + bytes(1000)  # a big APP1 segment after SOI
    header = parse_header(data[:2] + app1 + data[2:], "jpeg")
    assert (header.width, header.height) == (64, 48)


@pytest.mark.parametrize("make, kind", [
    (lambda: b"\xff\xd8\xff", "too_short"),
    (lambda: b"\xff\xd8\xff\xe0" + bytes(RNG.integers(0, 255, 500, dtype=np.uint8)), "corrupt_header"),
    (lambda: b"\xff\xd8" + b"\xff\xe0\x00\x10" + bytes(14) + b"\xff\xda\x00\x08" + bytes(100) + b"\xff\xd9",
     "corrupt_header"),  # a scan without any frame header
    (lambda: encode(".jpg")[: len(encode(".jpg")) // 2], "truncated"),
    (lambda: encode(".jpg")[:-2], "truncated"),
    (lambda: encode(".jpg")[:300], "corrupt_header"),  # cut inside the header: a segment runs past the end
    (lambda: encode(".png")[:-1], "truncated"),
    (lambda: encode(".png")[: len(encode(".png")) // 2], "truncated"),
    (lambda: b"\x89PNG\r\n\x1a\n" + bytes(RNG.integers(0, 255, 300, dtype=np.uint8)), "corrupt_header"),
    (lambda: b"GIF89a" + bytes(100), "not_jpeg_or_png"),
    (lambda: b"\x00\x00\x00\x00" + encode(".jpg"), "not_jpeg_or_png"),
])
def test_broken_frames_are_refused_by_kind(make, kind):
    with pytest.raises(HeaderError) as caught:
        parse_header(make(), "")
    assert caught.value.kind == kind, caught.value.message


def test_png_ihdr_crc_and_fields_are_checked():
    data = bytearray(encode(".png"))
    data[17] ^= 0x01  # width changed, CRC not
    with pytest.raises(HeaderError, match="CRC"):
        parse_header(bytes(data), "png")
    zero = bytearray(encode(".png"))
    zero[16:20] = bytes(4)  # width 0 with a matching CRC
    zero[29:33] = struct.pack(">I", zlib.crc32(bytes(zero[12:29])))
    with pytest.raises(HeaderError, match="size 0x48"):
        parse_header(bytes(zero), "png")


def test_zero_height_jpeg_is_refused():
    data = bytearray(encode(".jpg"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 7] = b"\x00\x00"
    with pytest.raises(HeaderError, match="size 64x0"):
        parse_header(bytes(data), "jpeg")


@pytest.mark.parametrize("format_string, codec", [
    ("jpeg", "jpeg"), ("JPEG", "jpeg"), ("jpg", "jpeg"), ("rgb8; jpeg compressed bgr8", "jpeg"), ("png", "png"),
    ("bgr8; png compressed bgr8", "png"), ("", ""), ("tiff", None), ("h264", None),
    ("16UC1; compressedDepth png", None), ("jpeg png", None),
])
def test_format_strings(format_string, codec):
    assert codec_of_format(format_string) == codec


@pytest.mark.parametrize("format_string, extension", [("png", ".jpg"), ("jpeg", ".png"), ("bmp", ".jpg")])
def test_format_string_that_disagrees_with_the_data_is_refused(format_string, extension):
    with pytest.raises(HeaderError) as caught:
        parse_header(encode(extension), format_string)
    assert caught.value.kind == "format"


def test_impossible_sample_precision_or_component_count_is_refused():
    for offset, value in ((4, 99), (9, 0), (9, 7)):  # precision; number of components
        data = bytearray(encode(".jpg"))
        data[data.index(b"\xff\xc0") + offset] = value
        with pytest.raises(HeaderError, match="components"):
            parse_header(bytes(data), "jpeg")
