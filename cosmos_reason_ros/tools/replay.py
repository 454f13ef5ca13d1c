"""``replay``: publish a video file, a folder of images, one image or a rosbag2 recording as a camera.

A stand-in camera for trying the reasoner on recorded footage: frames go out as sensor_msgs/Image (bgr8)
or, with ``--compressed``, as JPEG sensor_msgs/CompressedImage, with sensor-data QoS (what the reasoner
subscribes with) and stamped with the node clock's now() when published (simulated time with
``--use-sim-time`` once /clock runs), so the reasoner sees fresh frames however old the recording is.
Playback starts when the first subscriber matches, so ``--once`` never plays to nobody. A rosbag2
recording (sqlite3 or MCAP) plays its image topics as cameras (``bag_replay``).
"""
from __future__ import annotations

import argparse
import array
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cosmos_reason_ros.tools import bag_replay
from cosmos_reason_ros.tools.player import Player, SourceError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
DEFAULT_RATE = 10.0  # Hz when the source has no frame rate of its own
DELIVERY_MARGIN = 0.5  # s after the first subscriber matches, and after the last frame with --once
EXIT_OK, EXIT_BAD_SOURCE = 0, 1

EPILOG = """\
SOURCE is a video file (anything OpenCV reads: mp4, avi, mkv, ...), a folder of images (played in name
order), a single image (published repeatedly, a still camera) or a rosbag2 recording (its folder, with
metadata.yaml; sqlite3 or MCAP). Playback starts when the first subscriber matches, and frames are stamped
with the time they are published.

A recording plays every Image and CompressedImage topic it holds (or those named with --bag-topic) on its
recorded topic name (or the one --map gives), at the recorded pace (--speed to change it); --original-stamps
keeps the recorded header stamps instead of now(). --topic, --rate, --compressed and --resize apply to the
other sources only.

exit codes: 0 after --once or on Ctrl-C, 1 when SOURCE cannot be read, 2 on a bad command line.

examples:
  replay scene.mp4                                  # loop the video as camera "front" at its own fps
  replay frames/ --topic wrist/image_raw --rate 5 --compressed --resize 640x480
  replay table.png --once --frame-id front_optical_frame
  replay my_bag/ --map /camera/color/image_raw=front/image_raw --speed 0.5
  replay my_bag/ --bag-topic /wrist/image_raw/compressed --original-stamps --once
"""


class FrameSource:
    """BGR frames of a video, an image folder or an image; ``frames()`` is one pass, restartable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fps: float | None = None
        self._unreadable: set[Path] = set()
        if path.is_dir():
            self.kind = "folder"
            self.images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.images:
                raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {path}")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            self.still = cv2.imread(str(path))  # decoded once: it is published over and over
            if self.still is None:
                raise SourceError(f"cannot read image {path}")
        else:
            self.kind = "video"
            capture = self._open_video()
            fps = capture.get(cv2.CAP_PROP_FPS)
            capture.release()
            self.fps = fps if 0 < fps <= 1000 else None

    def _open_video(self) -> Any:
        if not self.path.is_file():
            raise SourceError(f"no such file or folder: {self.path}")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise SourceError(f"OpenCV cannot open {self.path} as a video")
        return capture

    def frames(self) -> Iterator[np.ndarray]:
        if self.kind == "image":
            return iter([self.still])
        return self._video_frames() if self.kind == "video" else self._folder_frames()

    def _video_frames(self) -> Iterator[np.ndarray]:
        capture = self._open_video()
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame
        finally:
            capture.release()

    def _folder_frames(self) -> Iterator[np.ndarray]:
        for image_path in self.images:
            frame = cv2.imread(str(image_path))
            if frame is not None:
                yield frame
            elif image_path not in self._unreadable:  # say it once, then skip it on every pass
                self._unreadable.add(image_path)
                print(f"[replay] skipping unreadable image {image_path}", file=sys.stderr)


def uint8_array(pixels: np.ndarray) -> array.array:
    """The bytes of ``pixels`` as ``array.array('B')``, one copy: the type a generated ``uint8[]`` setter
    (``Image.data``, ``CompressedImage.data``) keeps without looking at its items, on Humble, Jazzy and Kilted.

    Given ``bytes``, Humble's setter (and Jazzy's and Kilted's with ``ROS_PYTHON_CHECK_FIELDS=1``) walks every
    item twice in Python: 6.2 M items and about 0.35 s per 1080p bgr8 frame here, so replay fell far behind
    its rate. An ``array.array('B')`` has only its type code checked (docs/benchmarks.md, "Replay").
    """
    data = array.array("B")
    data.frombytes(memoryview(np.ascontiguousarray(pixels, dtype=np.uint8)).cast("B"))
    return data


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` → (640, 480)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT (e.g. 640x480), not {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return width, height


def parse_mapping(text: str) -> tuple[str, str]:
    """``"/cam/image_raw=front/image_raw"`` → ("/cam/image_raw", "front/image_raw")."""
    recorded, sep, topic = text.partition("=")
    if not sep or not recorded or not topic:
        raise argparse.ArgumentTypeError(f"expected RECORDED=TOPIC, not {text!r}")
    return recorded, topic


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replay", description="Publish a video, image folder or image as a camera.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="video file, image folder, image or rosbag2 folder")
    parser.add_argument("--topic", default="front/image_raw", help="image topic (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=0.0, metavar="HZ",
                        help=f"frames per second (default: the video's fps, else {DEFAULT_RATE:g})")
    once = parser.add_mutually_exclusive_group()
    once.add_argument("--loop", dest="once", action="store_false", help="start over at the end (default)")
    once.add_argument("--once", dest="once", action="store_true", help="play once, then exit")
    parser.set_defaults(once=False)
    parser.add_argument("--compressed", action="store_true",
                        help="publish JPEG sensor_msgs/CompressedImage on <topic>/compressed")
    parser.add_argument("--frame-id", default=None,
                        help="header.frame_id (default: camera; a recording keeps its own)")
    parser.add_argument("--resize", type=parse_size, metavar="WxH", help="scale every frame to this size")
    parser.add_argument("--use-sim-time", action="store_true", help="stamp with /clock time (use_sim_time)")
    bag = parser.add_argument_group("rosbag2 recordings")
    bag.add_argument("--bag-topic", action="append", metavar="TOPIC",
                     help="play this image topic of the recording (repeatable; default: all of them)")
    bag.add_argument("--map", action="append", type=parse_mapping, metavar="RECORDED=TOPIC",
                     help="publish a recorded topic under another name (repeatable)")
    bag.add_argument("--speed", type=float, default=1.0, help="playback speed factor (default: %(default)s)")
    bag.add_argument("--original-stamps", action="store_true",
                     help="keep the recorded header stamps (default: stamp with now() when published)")
    parser.add_argument("--report", type=float, default=5.0, metavar="S",
                        help="seconds between summary lines (default: %(default)s; 0: none)")
    return parser


def compressed_topic(topic: str) -> str:
    """image_transport's naming: the compressed stream of ``x/image_raw`` is ``x/image_raw/compressed``."""
    return topic if topic.rstrip("/").endswith("/compressed") else f"{topic.rstrip('/')}/compressed"


def main(argv: Sequence[str] | None = None) -> int:
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    from rclpy.utilities import remove_ros_args

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(remove_ros_args(argv))
    if args.rate < 0:
        parser.error("--rate must be positive (or 0: the video's own rate)")
    if args.speed <= 0:
        parser.error("--speed must be positive")
    try:
        if bag_replay.is_bag(args.source):
            source: Any = bag_replay.BagSource(args.source, args.bag_topic or [])
            player: Callable[..., Any] = bag_replay.BagPlayer
        else:
            if args.bag_topic or args.map or args.original_stamps:
                parser.error("--bag-topic, --map and --original-stamps need a rosbag2 recording as SOURCE")
            source, player = FrameSource(args.source), FramePlayer
            args.frame_id = args.frame_id or "camera"
    except SourceError as e:
        print(f"[replay] {e}", file=sys.stderr)
        return EXIT_BAD_SOURCE
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=["replay", *argv], signal_handler_options=SignalHandlerOptions.NO)
    try:
        player(source, args, stop).run()
    finally:
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


class FramePlayer(Player):
    """Publishes a video's, folder's or image's frames on one topic at a steady rate."""

    def __init__(self, source: FrameSource, args: argparse.Namespace, stop: threading.Event) -> None:
        from sensor_msgs.msg import CompressedImage, Image

        from cosmos_reason_ros.ros.qos import SENSOR_DATA

        super().__init__(args, stop)
        self.source = source
        self.rate = args.rate or source.fps or DEFAULT_RATE
        self.message_type = CompressedImage if args.compressed else Image
        self.topic = compressed_topic(args.topic) if args.compressed else args.topic
        self.publisher = self.node.create_publisher(self.message_type, self.topic, SENSOR_DATA)
        self.topic = self.publisher.topic_name  # fully resolved, for the messages below

    def run(self) -> None:
        try:
            print(f"[replay] {self.source.kind} {self.source.path} -> {self.topic} at {self.rate:g} Hz "
                  f"({'once' if self.args.once else 'looping'}); waiting for a subscriber", file=sys.stderr)
            self._spin_until(lambda: self.publisher.get_subscription_count() > 0, float("inf"))
            # Discovery is two-sided: the subscriber may accept our samples a moment after we see it.
            self._spin_until(lambda: False, DELIVERY_MARGIN)
            started = time.monotonic()
            if not self.stop.is_set():
                self._play()
                if self.args.once:  # best-effort delivery is asynchronous: let the last frames arrive
                    self._spin_until(lambda: False, DELIVERY_MARGIN)
            print(f"[replay] {self.published} frames on {self.topic} in {time.monotonic() - started:.1f} s",
                  file=sys.stderr)
        finally:
            self._close()

    def _play(self) -> None:
        period = 1.0 / self.rate
        due = time.monotonic()
        window_start, window_count = due, 0  # for the summary line
        frames, in_pass = self.source.frames(), 0
        while not self.stop.is_set():
            frame = next(frames, None)
            if frame is None:
                if self.args.once or in_pass == 0:  # played once, or nothing in the source is readable
                    return
                frames, in_pass = self.source.frames(), 0
                continue
            in_pass += 1
            self._spin_until(lambda: False, due - time.monotonic())  # spinning serves /clock meanwhile
            if self.stop.is_set():
                return
            self.publish_frame(frame)
            now = time.monotonic()
            due = max(due + period, now - period)  # keep the rate; never burst to catch up
            if self.args.report > 0 and now - window_start >= self.args.report:
                rate = (self.published - window_count) / (now - window_start)
                print(f"[replay] {self.topic}: {self.published} frames, {rate:.1f} Hz, {self.size}", file=sys.stderr)
                window_start, window_count = now, self.published

    #: The pixels as the message's data: ``uint8_array`` (the setter's fast path; ``benchmarks/replay_rate.py``
    #: puts the ``bytes`` of the path before it here to time both).
    image_data = staticmethod(uint8_array)

    def publish_frame(self, frame: np.ndarray) -> None:
        """Publish one BGR frame (resized, stamped now, encoded when compressed); a method of its own so that
        ``benchmarks/replay_rate.py`` can time it."""
        if self.args.resize is not None:
            frame = cv2.resize(frame, self.args.resize, interpolation=cv2.INTER_AREA)
        self.size = f"{frame.shape[1]}x{frame.shape[0]}"
        message = self.message_type()
        message.header.stamp = self.node.get_clock().now().to_msg()
        message.header.frame_id = self.args.frame_id
        if self.args.compressed:
            ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            message.format = "bgr8; jpeg compressed bgr8"
            message.data = self.image_data(encoded)
        else:
            height, width = frame.shape[:2]
            message.height, message.width, message.encoding = height, width, "bgr8"
            message.is_bigendian, message.step = 0, width * 3
            message.data = self.image_data(frame)
        self.publisher.publish(message)
        self.published += 1
