"""Test helper: inputs for the critic batch tool, written by the test (videos, image folders, rosbag2)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def frame(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A BGR frame with a bar that moves with ``index`` (so frames differ)."""
    image = np.full((height, width, 3), 40, np.uint8)
    x = (index * 4) % (width - 12)
    image[:, x:x + 12] = (0, 0, 220)
    return image


def write_video(path: Path, frames: int = 30, fps: float = 10.0, fourcc: str = "mp4v") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (96, 64))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for i in range(frames):
        writer.write(frame(i))
    writer.release()
    return path


def write_images(folder: Path, count: int = 8, corrupt: tuple[int, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        target = folder / f"frame_{i:04d}.png"
        if i in corrupt:
            target.write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG body")
        else:
            cv2.imwrite(str(target), frame(i))
    return folder


def write_bag(path: Path, storage: str, topic: str = "/camera/image_raw", compressed: bool = False,
              count: int = 12, rate: float = 4.0, corrupt: tuple[int, ...] = ()) -> Path:
    """A rosbag2 recording (``storage`` "sqlite3" or "mcap") of ``count`` frames at ``rate`` Hz on ``topic``,
    plus an unrelated string topic; the frames at the ``corrupt`` indices hold bytes that are not an image."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    Time, Header = types["builtin_interfaces/msg/Time"], types["std_msgs/msg/Header"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    start = 1_700_000_000_000_000_000
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        images = writer.add_connection(topic, msgtype, typestore=store)
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=store)
        for i in range(count):
            stamp = start + int(i * 1e9 / rate)
            header = Header(stamp=Time(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000), frame_id="cam")
            bgr = frame(i)
            if compressed:
                data = np.frombuffer(cv2.imencode(".jpg", bgr)[1].tobytes(), np.uint8)
                if i in corrupt:
                    data = np.frombuffer(b"\xff\xd8 not a jpeg at all", np.uint8)
                message = types[msgtype](header=header, format="jpeg", data=data)
            else:
                rgb = np.ascontiguousarray(bgr[:, :, ::-1]).reshape(-1)
                message = types[msgtype](header=header, height=64, width=96, encoding="rgb8", is_bigendian=0,
                                         step=96 * 3, data=rgb if i not in corrupt else rgb[:100])
            writer.write(images, stamp, store.serialize_cdr(message, msgtype))
            writer.write(chatter, stamp + 1, store.serialize_cdr(types["std_msgs/msg/String"](data=f"hi {i}"),
                                                                 "std_msgs/msg/String"))
    return path
