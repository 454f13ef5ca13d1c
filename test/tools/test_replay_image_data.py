"""replay's image data fast path: the generated setters keep an array.array('B') as it is, with or without
field checks, and it holds exactly the frame's bytes."""
from __future__ import annotations

import array

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from cosmos_reason_ros.tools.replay import uint8_array


@pytest.mark.parametrize("message_type", [Image, CompressedImage])
def test_the_checking_setter_keeps_the_array_without_walking_its_items(message_type):
    """With checks on (Humble always; Jazzy and Kilted with ROS_PYTHON_CHECK_FIELDS=1) the setter stores an
    array.array('B') as given, the path without the per-item loops that bytes take."""
    data = uint8_array(np.arange(60, dtype=np.uint8).reshape(4, 5, 3))
    message = message_type(check_fields=True)
    message.data = data
    assert message.data is data and data.typecode == "B"
    unchecked = message_type(check_fields=False)
    unchecked.data = data
    assert unchecked.data == data


def test_it_holds_the_frame_bytes_also_for_a_strided_view():
    frame = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    view = frame[::2, 1::2]  # not contiguous: copied in row-major order
    assert isinstance(uint8_array(view), array.array)
    assert uint8_array(view).tobytes() == np.ascontiguousarray(view).tobytes()
    assert uint8_array(frame).tobytes() == frame.tobytes()
