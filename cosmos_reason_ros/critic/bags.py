"""rosbag2 recordings (sqlite3 and MCAP) without ROS: an image topic's span and the frames of a window.

Read with the ``rosbags`` library; frames are decoded by the package's own ROS-free converters
(``image_conversion``: the encodings the node accepts, JPEG/PNG CompressedImage). Times are bag receive
times, in s from the recording's first message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cosmos_reason_ros.core.datatypes import Frame
from cosmos_reason_ros.core.errors import FrameDecodeError
from cosmos_reason_ros.critic.errors import CORRUPT_FRAME, NO_FRAMES_IN_WINDOW, NO_TOPIC, UNREADABLE_INPUT, InputError

#: The message types a recording's camera topic may have.
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def _reader(path: Path) -> Any:
    try:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore
    except ImportError as e:
        raise InputError(UNREADABLE_INPUT, "reading rosbag2 recordings needs the rosbags package: "
                                           "pip install rosbags") from e
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
    except Exception as e:  # rosbags raises its own errors (and OSError/KeyError on damaged files)
        raise InputError(UNREADABLE_INPUT, f"{path.name}: not a readable rosbag2 recording "
                                           f"({type(e).__name__}: {e})") from e
    return reader


def _connections(reader: Any, path: Path, topic: str) -> list:
    images = sorted({c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES})
    if not topic:
        raise InputError(NO_TOPIC, f"{path.name}: give --topic for recordings (image topics here: "
                                   f"{', '.join(images) or 'none'})")
    found = [c for c in reader.connections if c.topic == topic]
    if not found:
        raise InputError(NO_TOPIC, f"{path.name} has no topic {topic} (image topics: {', '.join(images) or 'none'})")
    if found[0].msgtype not in IMAGE_TYPES:
        raise InputError(NO_TOPIC, f"{path.name}: {topic} is {found[0].msgtype}, not Image or CompressedImage")
    return found


def bag_span(path: Path, topic: str) -> float:
    """s from the recording's first message to the last message on ``topic``."""
    reader = _reader(path)
    try:
        connections = _connections(reader, path, topic)
        if not sum(c.msgcount for c in connections):
            raise InputError(NO_FRAMES_IN_WINDOW, f"{path.name}: {topic} has no message")
        last = max(t for _, t, _ in reader.messages(connections=connections))
        return (last - reader.start_time) / 1e9 + 1e-6
    finally:
        reader.close()


def decode_bag(path: Path, topic: str, start: float, end: float, times: list[float]) -> list[Frame]:
    """The frames nearest to ``times`` (s) among the topic's messages in ``start..end``."""
    from cosmos_reason_ros.ros.cameras.image_conversion import (  # ROS-free: numpy and OpenCV only
        compressed_to_rgb,
        image_to_rgb,
    )

    reader = _reader(path)
    try:
        connections = _connections(reader, path, topic)
        origin = reader.start_time
        stamps, raws = [], []
        for connection, stamp, raw in reader.messages(connections=connections, start=origin + int(start * 1e9),
                                                      stop=origin + int(end * 1e9) + 1):
            stamps.append(stamp)
            raws.append((connection, raw))
        if not stamps:
            raise InputError(NO_FRAMES_IN_WINDOW, f"{path.name}: no {topic} message in {start:.2f}..{end:.2f} s")
        chosen = sorted({min(range(len(stamps)), key=lambda i: abs((stamps[i] - origin) / 1e9 - t)) for t in times})
        frames = []
        for index in chosen:
            connection, raw = raws[index]
            try:
                message = reader.deserialize(raw, connection.msgtype)
                pixels = (compressed_to_rgb(message) if connection.msgtype.endswith("CompressedImage")
                          else image_to_rgb(message))
            except FrameDecodeError as e:
                raise InputError(CORRUPT_FRAME, f"{path.name}: {topic} frame at "
                                                f"{(stamps[index] - origin) / 1e9:.3f} s: {e}") from e
            except Exception as e:  # a message that does not deserialise
                raise InputError(CORRUPT_FRAME, f"{path.name}: {topic} message at "
                                                f"{(stamps[index] - origin) / 1e9:.3f} s cannot be read "
                                                f"({type(e).__name__}: {e})") from e
            frames.append(Frame(pixels, (stamps[index] - origin) / 1e9))
        return frames
    finally:
        reader.close()
