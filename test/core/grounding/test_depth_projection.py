"""3D points of located objects against synthetic depth images and CameraInfo with hand-computed answers.

Both encodings (16UC1 in mm, 32FC1 in m, little- and big-endian), odd sizes, padded rows, invalid pixels
(0, NaN, inf), a depth image smaller than the colour image, and every way depth can be missing (no
CameraInfo, no depth image near the frame's stamp). The depth images are real sensor_msgs/Image messages
decoded by the node's own code (``ros.depth``).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image

from cosmos_reason_ros.core.grounding.coordinates import ImageLocation
from cosmos_reason_ros.core.grounding.depth_projection import DepthSettings, Intrinsics, project_location
from cosmos_reason_ros.ros.cameras.depth import DepthCamera, add_positions, depth_to_metres

W, H = 637, 479  # odd on purpose
K = Intrinsics(fx=500.0, fy=510.0, cx=318.0, cy=240.0, width=W, height=H)


def depth_msg(values: np.ndarray, encoding: str, big_endian: bool = False, pad: int = 0, stamp_ns: int = 0) -> Image:
    h, w = values.shape
    dtype = np.dtype(np.uint16 if encoding == "16UC1" else np.float32).newbyteorder(">" if big_endian else "<")
    rows = values.astype(dtype).view(np.uint8).reshape(h, -1)
    rows = np.concatenate([rows, np.zeros((h, pad), np.uint8)], axis=1)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(big_endian), step=rows.shape[1],
                data=rows.tobytes())
    msg.header.stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    msg.header.frame_id = "front_depth_optical_frame"
    return msg


@pytest.mark.parametrize("encoding, big_endian, pad", [("16UC1", False, 0), ("16UC1", True, 3), ("32FC1", False, 0),
                                                       ("32FC1", True, 8)])
def test_a_point_back_projects_to_the_hand_computed_3d_point(encoding: str, big_endian: bool, pad: int) -> None:
    metres = np.full((H, W), 4.0)
    metres[95:106, 395:406] = 1.234  # the object around pixel (400, 100)
    values = metres * 1000 if encoding == "16UC1" else metres
    depth = depth_to_metres(depth_msg(values, encoding, big_endian, pad))
    # Pixel (400, 100)'s centre is (400.5, 100.5) in continuous coordinates, (400, 100) in K's.
    point, why = project_location(depth, K, (400.5, 100.5), None, False, (W, H))
    assert why == ""
    # X = (400 - 318) * 1.234 / 500 = 82 * 1.234 / 500; Y = (100 - 240) * 1.234 / 510; Z = 1.234
    assert point == pytest.approx((0.202376, -0.3387451, 1.234), abs=1e-6)


def test_a_box_takes_the_median_of_its_central_valid_pixels() -> None:
    metres = np.full((H, W), 5.0, np.float32)
    metres[200:260, 300:340] = 2.0  # the object fills the box (300, 200)-(340, 260)
    metres[225:235, 315:325] = 0.0  # a hole of invalid pixels in the middle
    metres[220, 310:330] = np.nan
    metres[240, 310:330] = np.inf
    metres[200:260, 300:304] = 5.0  # background creeping in at the box's left edge: outside its central half
    depth = depth_to_metres(depth_msg(metres, "32FC1"))
    point, why = project_location(depth, K, (320.0, 230.0), (300.0, 200.0, 340.0, 260.0), True, (W, H))
    # Centre (320, 230) continuous = (319.5, 229.5) in K's coordinates; Z = 2.0
    assert why == "" and point == pytest.approx(((319.5 - 318) * 2 / 500, (229.5 - 240) * 2 / 510, 2.0))


def test_a_depth_image_at_half_resolution_uses_its_own_k() -> None:
    metres = np.full((240, 319), 3.0)  # colour 637x479, depth 319x240, registered
    k = Intrinsics(fx=250.0, fy=255.0, cx=159.0, cy=120.0, width=319, height=240)
    point, why = project_location(depth_to_metres(depth_msg(metres * 1000, "16UC1")), k, (400.5, 100.5), None, False,
                                  (W, H))
    x, y = 400.5 * 319 / W, 100.5 * 240 / H
    assert why == "" and point == pytest.approx(((x - 0.5 - 159) * 3 / 250, (y - 0.5 - 120) * 3 / 255, 3.0))


def test_invalid_depth_gives_the_reason() -> None:
    metres = np.zeros((H, W))
    metres[0, 0] = 25.0  # beyond max range
    depth = depth_to_metres(depth_msg(metres, "32FC1"))
    assert project_location(depth, K, (0.5, 0.5), None, False, (W, H))[1].startswith("no valid depth around the point")
    assert "no usable K" in project_location(depth, Intrinsics(0.0, 1.0, 0, 0, W, H), (1, 1), None, False, (W, H))[1]
    assert "CameraInfo is for" in project_location(depth, Intrinsics(1.0, 1.0, 0, 0, 640, 480), (1, 1), None, False,
                                                   (W, H))[1]
    with pytest.raises(ValueError, match="not supported"):
        depth_to_metres(Image(height=1, width=1, encoding="rgb8", step=3, data=b"\0\0\0"))
    with pytest.raises(ValueError, match="holds"):
        depth_to_metres(Image(height=2, width=2, encoding="16UC1", step=4, data=b"\0" * 6))


def _info() -> CameraInfo:
    return CameraInfo(width=W, height=H, k=[K.fx, 0.0, K.cx, 0.0, K.fy, K.cy, 0.0, 0.0, 1.0], d=[0.0] * 5)


def _object(stamp_ns: int) -> ImageLocation:
    return ImageLocation("cup", "front", 0, stamp_ns * 1e-9, stamp_ns, "front_optical_frame", W, H,
                         point=(400.5, 100.5))


def test_the_nearest_depth_frame_within_the_tolerance_is_used() -> None:
    settings = SimpleNamespace(depth_window=2, depth_box_fraction=0.5, depth_max_range=20.0, depth_max_offset=0.1)
    camera = DepthCamera("front", "/front/depth", "/front/camera_info", keep_seconds=10.0)
    ingest = SimpleNamespace(cameras={"front": camera})
    warnings: list[str] = []
    obj = _object(5_000_000_000)
    add_positions([obj], ingest, settings, warnings.append)
    assert obj.position is None and obj.position_status == "no CameraInfo received on /front/camera_info"
    camera.on_info(_info())
    add_positions([obj], ingest, settings, warnings.append)
    assert obj.position_status == "no depth image received on /front/depth"
    for i, depth_mm in enumerate((1000, 1234, 2000)):  # at 4.90, 4.97 and 5.04 s: the middle one is nearest
        camera.on_depth(depth_msg(np.full((H, W), depth_mm), "16UC1", stamp_ns=4_900_000_000 + 70_000_000 * i))
    add_positions([obj], ingest, settings, warnings.append)
    assert obj.position_status == "" and obj.position == pytest.approx((0.202376, -0.3387451, 1.234), abs=1e-6)
    assert (obj.position_frame_id, obj.position_stamp_ns) == ("front_depth_optical_frame", 4_970_000_000)
    late = _object(5_500_000_000)
    add_positions([late], ingest, settings, warnings.append)
    assert late.position is None and late.position_status.startswith("no depth image within 0.10 s")
    other = ImageLocation("tray", "wrist", 0, 5.0, None, "", W, H, box=(1, 1, 5, 5))
    add_positions([other], ingest, settings, warnings.append)
    assert other.position_status.startswith("no depth camera configured for camera wrist")
    assert warnings == []
    camera.on_info(CameraInfo(width=W, height=H, k=_info().k, d=[0.1, 0.0, 0.0, 0.0, 0.0]))
    add_positions([_object(5_000_000_000)], ingest, settings, warnings.append)
    assert len(warnings) == 1 and "distortion" in warnings[0]


def test_back_projection_conventions_on_the_principal_point() -> None:
    """The pixel whose centre is K's principal point projects onto the optical axis."""
    depth = np.full((H, W), 1.0)
    point, _ = project_location(depth, K, (318.5, 240.5), None, False, (W, H), DepthSettings(window=0))
    assert point == pytest.approx((0.0, 0.0, 1.0)) and not math.isnan(point[0])


def test_depth_frames_stay_sorted_and_time_going_back_starts_over() -> None:
    camera = DepthCamera("front", "/d", "/i", keep_seconds=1.0)
    for ns in (1_000_000_000, 1_500_000_000, 1_500_000_000, 2_600_000_000):  # a repeat; 2.6 s pushes out 1.0 and 1.5
        camera.on_depth(depth_msg(np.zeros((2, 2)), "16UC1", stamp_ns=ns))
    assert [s for s, _ in camera.frames] == [2_600_000_000]
    camera.on_depth(depth_msg(np.zeros((2, 2)), "16UC1", stamp_ns=100_000_000))  # a bag replayed from the start
    assert [s for s, _ in camera.frames] == [100_000_000]
    assert camera.nearest(0)[1] == pytest.approx(0.1)
