"""Camera subscriptions feeding per-camera ring buffers, and decoding of the frames a goal selects.

The subscription callback does three cheap things: check the header fields, note the stamp, append the
message to the camera's buffer. Decoding, resizing and everything else happen later, on the goal's
thread, for the handful of frames chosen. Malformed images are counted and logged once per camera and
reason, then skipped; the node keeps serving.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from ..core.errors import FrameDecodeError
from ..core.frame_buffer import BufferedFrame, BufferLimits, FrameBuffer
from ..core.types import CameraClip, Frame
from .image_conversion import check_compressed, check_image, compressed_to_rgb, image_to_rgb, reduction_for
from .parameters import CameraConfig


def stamp_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time → float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


@dataclass
class Camera:
    """One camera's subscription state."""

    config: CameraConfig
    buffer: FrameBuffer
    frame_id: str = ""
    warned: set[str] = field(default_factory=set)
    last_reject_reason: str = ""
    decode_failures: int = 0

    @property
    def name(self) -> str:
        return self.config.name


class CameraIngest:
    """Subscribes to every configured camera and keeps its recent frames."""

    def __init__(self, node: Node, cameras: list[CameraConfig], limits: BufferLimits, reliable: bool,
                 depth: int) -> None:
        self._node = node
        self._log = node.get_logger()
        self.cameras: dict[str, Camera] = {}
        if reliable:
            qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        else:
            qos = QoSProfile(depth=depth, reliability=qos_profile_sensor_data.reliability,
                             durability=qos_profile_sensor_data.durability, history=HistoryPolicy.KEEP_LAST)
        for config in cameras:
            camera = Camera(config, FrameBuffer(limits))
            self.cameras[config.name] = camera
            msg_type = CompressedImage if config.compressed else Image
            check = check_compressed if config.compressed else check_image
            subscription = node.create_subscription(msg_type, config.topic, self._callback(camera, check), qos,
                                                    callback_group=MutuallyExclusiveCallbackGroup())
            self._log.info("camera %s: %s (%s)" % (config.name, getattr(subscription, "topic_name", config.topic),
                                                    msg_type.__name__))

    def _callback(self, camera: Camera, check: Callable[[Any], Optional[str]]) -> Callable[[Any], None]:
        def on_image(msg: Any) -> None:
            received = time.monotonic()
            reason = check(msg)
            if reason is not None:
                camera.buffer.note_rejected(received)
                camera.last_reject_reason = reason
                kind = reason.split(" ")[0]
                if kind not in camera.warned:
                    camera.warned.add(kind)
                    self._log.warning("camera %s: skipping malformed image: %s (logged once per kind)"
                                      % (camera.name, reason))
                return
            camera.frame_id = msg.header.frame_id
            camera.buffer.offer(stamp_seconds(msg.header.stamp), msg, len(msg.data), received)

        return on_image

    def decode(self, camera: Camera, frames: list[BufferedFrame], max_frame_pixels: int = 0) -> CameraClip:
        """Decode the chosen frames of one camera (see ``decode_clip``), warning once about bad frames."""
        return decode_clip(camera, frames, max_frame_pixels, self._log.warning)


def decode_clip(camera: Camera, frames: list[BufferedFrame], max_frame_pixels: int,
                warn: Callable[[str], Any]) -> CameraClip:
    """Decode the chosen frames of one camera; frames that fail are counted, warned about once, skipped.

    JPEG frames larger than the model will see (``max_frame_pixels``) are decoded at a reduced scale
    once the first frame has told the camera's size: the frame is resized later anyway.
    """
    decoded = []
    reduction = 1
    for frame in frames:
        try:
            if camera.config.compressed:
                pixels = compressed_to_rgb(frame.payload, reduction)
                if reduction == 1 and max_frame_pixels:
                    reduction = reduction_for(pixels.shape[0], pixels.shape[1], max_frame_pixels)
            else:
                pixels = image_to_rgb(frame.payload)
            stamp = frame.payload.header.stamp
            decoded.append(Frame(pixels=pixels, stamp=frame.stamp, stamp_ns=stamp.sec * 1_000_000_000 + stamp.nanosec))
        except FrameDecodeError as e:
            camera.decode_failures += 1
            camera.last_reject_reason = e.message
            if "decode" not in camera.warned:
                camera.warned.add("decode")
                warn("camera %s: cannot decode a frame: %s (logged once)" % (camera.name, e.message))
    return CameraClip(camera=camera.name, frames=decoded, frame_id=camera.frame_id)
