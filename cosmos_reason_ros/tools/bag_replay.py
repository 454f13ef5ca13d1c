"""``replay`` of a rosbag2 recording: its image topics played back as cameras.

Both storage formats ``ros2 bag record`` writes (sqlite3 ``.db3`` and MCAP) are read with the ``rosbags``
library (pure Python, no ROS install needed for the bag itself). Every ``sensor_msgs/msg/Image`` and
``sensor_msgs/msg/CompressedImage`` topic of the bag (or those chosen with ``--bag-topic``) is published
on its recorded name (or the name ``--map`` gives it), at the recorded pace (times ``--speed``), with
sensor-data QoS. Header stamps are replaced with now() when each message is published, so the reasoner
sees fresh frames however old the recording is; ``--original-stamps`` keeps the recorded stamps (then the
reasoner needs ``use_sim_time`` with a /clock, or a large ``frames.stale_after``).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cosmos_reason_ros.tools.player import Player, SourceError

IMAGE_TYPES = {"sensor_msgs/msg/Image": "Image", "sensor_msgs/msg/CompressedImage": "CompressedImage"}


def is_bag(path: Path) -> bool:
    """A rosbag2 directory (metadata.yaml), or a .db3/.mcap file (inside one, or a bare MCAP file)."""
    if path.is_dir():
        return (path / "metadata.yaml").is_file()
    return path.suffix in (".db3", ".mcap")


class BagSource:
    """The image topics of a rosbag2 recording; ``messages()`` is one pass in recorded order, restartable."""

    kind = "rosbag2"
    fps = None

    def __init__(self, path: Path, topics: list[str]) -> None:
        try:
            from rosbags.rosbag2 import Reader
        except ImportError as e:
            raise SourceError("playing rosbag2 recordings needs the rosbags package: pip install rosbags") from e
        self.path = path.parent if path.is_file() and (path.parent / "metadata.yaml").is_file() else path
        self._reader_type = Reader
        try:
            with Reader(self.path) as reader:
                found = {c.topic: c.msgtype for c in reader.connections}
                counts = {c.topic: c.msgcount for c in reader.connections}
                self.duration = reader.duration * 1e-9 if reader.message_count else 0.0
        except Exception as e:  # noqa: BLE001 - rosbags raises its own error types per storage
            raise SourceError(f"cannot read rosbag2 recording {self.path}: {type(e).__name__}: {e}") from e
        images = {t: m for t, m in found.items() if m in IMAGE_TYPES}
        wanted = topics or sorted(images)
        missing = [t for t in wanted if t not in images]
        if missing or not wanted:
            listing = ", ".join(f"{t} ({m})" for t, m in sorted(found.items())) or "none"
            what = (f"image topic(s) {', '.join(missing)}" if missing
                    else "image topics (sensor_msgs Image or CompressedImage)")
            raise SourceError(f"no {what} in rosbag2 recording {self.path}; its topics: {listing}")
        self.topics = {t: images[t] for t in wanted}
        self.message_count = sum(counts[t] for t in wanted)

    def messages(self) -> Iterator[tuple[str, str, int, bytes]]:
        """(topic, msgtype, recorded time ns, CDR bytes) of the chosen topics, in recorded order."""
        with self._reader_type(self.path) as reader:
            connections = [c for c in reader.connections if c.topic in self.topics]
            for connection, recorded, raw in reader.messages(connections=connections):
                yield connection.topic, connection.msgtype, recorded, bytes(raw)


class BagPlayer(Player):
    """Publishes a bag's image topics at the recorded pace; restamps headers unless asked not to."""

    def __init__(self, source: BagSource, args: Any, stop: Any) -> None:
        from rclpy.serialization import deserialize_message
        from sensor_msgs import msg as sensor_msgs

        from cosmos_reason_ros.ros.qos import SENSOR_DATA

        super().__init__(args, stop)
        self.source = source
        self._deserialize = deserialize_message
        renames = dict(args.map or [])
        self.types = {topic: getattr(sensor_msgs, IMAGE_TYPES[msgtype]) for topic, msgtype in source.topics.items()}
        self.publishers = {topic: self.node.create_publisher(self.types[topic], renames.get(topic, topic),
                                                             SENSOR_DATA)
                           for topic in source.topics}
        self.topic = ", ".join(f"{t} -> {p.topic_name}" if p.topic_name != t else t for t, p in self.publishers.items())
        self.rate = 0.0

    def run(self) -> None:
        try:
            stamps = "original stamps" if self.args.original_stamps else "stamped now"
            print(f"[replay] rosbag2 {self.source.path}: {self.source.message_count} images on {self.topic}, "
                  f"{self.source.duration:.1f} s at {self.args.speed:g}x, {stamps} "
                  f"({'once' if self.args.once else 'looping'}); waiting for a subscriber", file=sys.stderr)
            self._spin_until(lambda: any(p.get_subscription_count() > 0 for p in self.publishers.values()),
                             float("inf"))
            self._spin_until(lambda: False, 0.5)
            started = time.monotonic()
            if not self.stop.is_set():
                self._play()
                if self.args.once:
                    self._spin_until(lambda: False, 0.5)
            print(f"[replay] {self.published} images in {time.monotonic() - started:.1f} s", file=sys.stderr)
        finally:
            self._close()

    def _play(self) -> None:
        while not self.stop.is_set():
            first_recorded, pass_start, played = None, time.monotonic(), 0
            for topic, _, recorded, raw in self.source.messages():
                if first_recorded is None:
                    first_recorded = recorded
                due = pass_start + (recorded - first_recorded) * 1e-9 / self.args.speed
                self._spin_until(lambda: False, due - time.monotonic())
                if self.stop.is_set():
                    return
                self._publish_raw(topic, raw)
                played += 1
            if self.args.once or played == 0:
                return

    def _publish_raw(self, topic: str, raw: bytes) -> None:
        message = self._deserialize(raw, self.types[topic])
        if not self.args.original_stamps:
            message.header.stamp = self.node.get_clock().now().to_msg()
        if self.args.frame_id is not None:
            message.header.frame_id = self.args.frame_id
        self.publishers[topic].publish(message)
        self.published += 1
