"""Camera subscriptions feeding per-camera ring buffers, and decoding of the frames a goal selects.

The subscription callback does three cheap things: check the header fields (and a compressed frame's
container header and end, ``core.image_headers``), note the stamp, append the message to the camera's
buffer. Decoding, resizing and everything else happen later, on the goal's thread, for the handful of
frames chosen. Malformed images are counted per kind and logged once per camera and kind, then skipped,
before they can take a store-rate slot; the node keeps serving.

The subscriptions live on a small companion node, ``<node>_cameras`` in the same namespace (it answers
parameter services, so graph-wide ``ros2 param`` calls never wait on it), spun by a SingleThreadedExecutor
on a thread of its own, not on the node's MultiThreadedExecutor. rclpy's MultiThreadedExecutor rebuilds its
wait set over every entity of the node (parameter services, the action server, timers) several times per
message and, in Kilted's rclpy, yields a task again and again while it waits in the thread pool's queue
(ros2/rclpy#1452): measured, that cost about 4× the CPU per 1080p frame and lost frames at 2 cameras
(docs/benchmarks.md). Topic names are resolved by the node itself, so its remappings (node-specific ones
included) and ``~`` still apply; the companion node takes no command-line arguments of its own. It follows
the node's life: it is destroyed when the node is.
"""
from __future__ import annotations

import atexit
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from sensor_msgs.msg import CompressedImage, Image

from cosmos_reason_ros.core.datatypes import CameraClip, Frame
from cosmos_reason_ros.core.errors import FrameDecodeError
from cosmos_reason_ros.core.frames.buffer import BufferedFrame, BufferLimits, FrameBuffer
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.ros.cameras.depth import DepthIngest
from cosmos_reason_ros.ros.cameras.image_conversion import (
    Rejection,
    check_compressed,
    check_image,
    check_stamp,
    compressed_to_rgb,
    image_to_rgb,
    reduction_for,
)
from cosmos_reason_ros.ros.conversions import seconds, stamp_ns
from cosmos_reason_ros.ros.node.parameters import CameraConfig
from cosmos_reason_ros.ros.qos import camera_subscription

#: Companions whose executor thread is still running.
_COMPANIONS: set[_Companion] = set()


@atexit.register
def _stop_companions() -> None:
    """Stop and join the companion threads before the interpreter exits: a thread still inside rcl while
    the process tears down its middleware aborts it ("terminate called without an active exception")."""
    for companion in list(_COMPANIONS):
        companion.stop_thread(timeout=2.0)


@dataclass
class Camera:
    """One camera's subscription state."""

    config: CameraConfig
    buffer: FrameBuffer
    frame_id: str = ""
    warned: set[str] = field(default_factory=set)  # kinds already logged (each is logged once per camera)
    last_reject_reason: str = ""
    malformed_by_kind: dict[str, int] = field(default_factory=dict)  # refused at ingest, per Rejection.kind
    decode_failures: int = 0  # stored frames that failed to decode when a goal chose them (then discarded)
    #: Decoded frames shared by goals and watch checks (the cameras part's cache); None = decode every time.
    frame_cache: FrameCache | None = None
    #: What decoding this camera's JPEGs last learned: (max_frame_pixels, reduction, full width in px), so a later
    #: request finds a frame decoded at a reduction in the cache without decoding its first frame whole again.
    decode_hint: tuple[int, int, int] = (0, 1, 0)

    def warn_once(self, kind: str, message: str, warn: Callable[[str], Any]) -> None:
        """Log ``message`` the first time ``kind`` happens on this camera."""
        if kind not in self.warned:
            self.warned.add(kind)
            warn(message)

    @property
    def name(self) -> str:
        return self.config.name


class _Companion:
    """The camera subscriber node, its executor and the thread spinning it."""

    def __init__(self, node: Node, executor: SingleThreadedExecutor) -> None:
        self.node = node
        self.executor = executor
        self.stop: Future = Future()  # done when closed, when the owner is gone, or at interpreter exit
        self.orphaned = False  # the owner was destroyed without close()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._spinning = False
        self._destroyed = False

    def start(self, name: str) -> None:
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        _COMPANIONS.add(self)
        self._spinning = True
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin_until_future_complete(self.stop)
        except ExternalShutdownException:  # the context was shut down under the spin
            pass
        finally:
            _COMPANIONS.discard(self)
            with self._lock:
                self._spinning = False
                orphaned = self.orphaned
            if orphaned:
                self._destroy()

    def stop_thread(self, timeout: float) -> None:
        """End the executor thread and wait for it (up to ``timeout`` s)."""
        if not self.stop.done():
            self.stop.set_result(True)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)

    def close(self, timeout: float) -> None:
        self.stop_thread(timeout)
        with self._lock:
            if self._spinning:  # still inside a callback: the thread destroys the node when it ends
                self.orphaned = True
                return
        self._destroy()

    def _destroy(self) -> None:
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


class CameraIngest:
    """Subscribes to every configured camera (on a companion node, see above) and keeps its recent frames."""

    #: s between checks that the owning node still exists.
    OWNER_CHECK_PERIOD = 0.5

    def __init__(self, node: Node, cameras: list[CameraConfig], limits: BufferLimits, reliable: bool,
                 depth: int, frame_cache: FrameCache | None = None) -> None:
        self._log = node.get_logger()
        self.frame_cache = frame_cache
        self._companion: _Companion | None = None  # set by subscriber_node
        self.cameras: dict[str, Camera] = {}
        qos = camera_subscription(reliable, depth)
        subscriber = self.subscriber_node(node)
        try:
            self._subscribe(node, subscriber, cameras, limits, qos)
        except Exception:  # a camera that cannot be subscribed (a bad topic name): no companion left running
            self.close()
            raise

    def _subscribe(self, node: Node, subscriber: Node, cameras: list[CameraConfig], limits: BufferLimits,
                   qos: Any) -> None:
        for config in cameras:
            # A compressed camera's thinned frames are small: one after each stored frame is kept aside as a
            # stand-in in case the stored one fails to decode (its container looked fine, its data is not).
            camera = Camera(config, FrameBuffer(dataclasses.replace(limits, keep_alternates=config.compressed)),
                            frame_cache=self.frame_cache)
            self.cameras[config.name] = camera
            msg_type = CompressedImage if config.compressed else Image
            check = check_compressed if config.compressed else check_image
            subscription = subscriber.create_subscription(
                msg_type, node.resolve_topic_name(config.topic), self.camera_callback(camera, check), qos,
                callback_group=MutuallyExclusiveCallbackGroup())
            topic = getattr(subscription, "topic_name", config.topic)
            self._log.info(f"camera {config.name}: {topic} ({msg_type.__name__})")
        # Aligned depth images and their CameraInfo, for the 3D points of located objects (ros.depth).
        self.depth = DepthIngest(node, subscriber, cameras, qos, limits.max_seconds)

    def subscriber_node(self, owner: Node) -> Node:
        """Create the companion node and start its executor thread (it ends when ``owner`` is destroyed).

        The node the camera subscriptions go on; a method of its own so that ``benchmarks/ingest.py`` can
        put them on ``owner`` instead, to measure what the companion buys."""
        # No global arguments: a `__node:=` / `__ns:=` remapping meant for the node must not rename this one
        # too, and topic remappings already applied when the node resolved the camera topics. Nothing but the
        # subscriptions and the parameter services (so `ros2 param list` gets an answer from every node) is
        # announced (no type description or rosout endpoints) to keep discovery short.
        subscriber = rclpy.create_node(
            f"{owner.get_name()}_cameras", namespace=owner.get_namespace(), context=owner.context,
            use_global_arguments=False, start_parameter_services=True, enable_rosout=False,  # ros2 param answered
            parameter_overrides=[Parameter("start_type_description_service", value=False)])
        companion = _Companion(subscriber, SingleThreadedExecutor(context=owner.context))
        companion.executor.add_node(subscriber)

        def check_owner() -> None:
            try:
                with owner.handle:
                    return
            except InvalidHandle:  # destroyed without close(): the companion thread cleans up after itself
                companion.orphaned = True
                if not companion.stop.done():
                    companion.stop.set_result(True)

        subscriber.create_timer(self.OWNER_CHECK_PERIOD, check_owner)
        companion.start(f"{owner.get_name()}-camera-ingest")
        self._companion = companion
        return subscriber

    def close(self, timeout: float = 2.0) -> None:
        """Stop taking frames: end the companion executor thread, then destroy its node on this thread
        (idempotent). Destruction happens here, not on the companion thread, so that it never runs
        concurrently with the owner's own teardown (nodes of one context share one DDS participant)."""
        if self._companion is not None:
            self._companion.close(timeout)

    def camera_callback(self, camera: Camera, check: Callable[[Any], Rejection | None]) -> Callable[[Any], None]:
        """The subscription callback of one camera; a method of its own so that ``benchmarks/ingest.py`` can
        wrap it to time it."""
        def on_image(msg: Any) -> None:
            self._ingest(camera, check, msg)
            # Hand the GIL over between frames: a camera that floods the topic must not starve the node's
            # other threads (goals, action server, diagnostics) while this thread takes frame after frame.
            time.sleep(0)

        return on_image

    def _ingest(self, camera: Camera, check: Callable[[Any], Rejection | None], msg: Any) -> None:
        received = time.monotonic()
        rejection = check_stamp(msg) or check(msg)
        if rejection is not None:
            camera.buffer.note_rejected(received)
            camera.last_reject_reason = rejection.message
            camera.malformed_by_kind[rejection.kind] = camera.malformed_by_kind.get(rejection.kind, 0) + 1
            camera.warn_once(rejection.kind, f"camera {camera.name}: skipping malformed image ({rejection.kind}): "
                             f"{rejection.message} (logged once per kind)", self._log.warning)
            return
        camera.frame_id = msg.header.frame_id
        camera.buffer.offer(seconds(msg.header.stamp), msg, len(msg.data), received)

    def decode(self, camera: Camera, frames: list[BufferedFrame], max_frame_pixels: int = 0) -> CameraClip:
        """Decode the chosen frames of one camera (see ``decode_clip``), warning once about bad frames."""
        return decode_clip(camera, frames, max_frame_pixels, self._log.warning)


class FrameDecoder:
    """Decodes the chosen frames of one camera for one request; a frame that fails is counted, warned
    about once, discarded from the buffer (no later goal tries it again) and reported as None.

    JPEG frames larger than the model will see (``max_frame_pixels``) are decoded at a reduced scale
    once the first frame has told the camera's size: the frame is resized later anyway.

    With the camera's frame cache, a frame decoded by an earlier request (same message object, stamp,
    reduction and pixel cap) is taken from there: consecutive goals and checks share most of their frames.
    """

    def __init__(self, camera: Camera, max_frame_pixels: int, warn: Callable[[str], Any]) -> None:
        self.camera = camera
        self.max_frame_pixels = max_frame_pixels
        self.warn = warn
        self.reduction = 1
        self.failures = 0
        self.full_width = 0  # px, the camera image's own width (from the first frame, decoded whole)

    def _key(self, frame: BufferedFrame, reduction: int) -> tuple:
        return ("decoded", self.camera.name, frame.stamp, reduction, self.max_frame_pixels)

    def _cached(self, frame: BufferedFrame, cache: FrameCache) -> Frame | None:
        """This frame as an earlier request decoded it, at the reduction this camera's frames get."""
        cap, reduction, full_width = self.camera.decode_hint
        keys = [self._key(frame, self.reduction)]
        if self.reduction == 1 and self.camera.config.compressed and cap == self.max_frame_pixels and reduction > 1:
            keys.insert(0, self._key(frame, reduction))  # the reduction this camera's frames were decoded at
        key, found = cache.lookup_any(tuple(keys), frame.payload)
        if found is not None and key != keys[-1]:  # the size the first frame would have told: adopt it
            self.reduction, self.full_width = reduction, full_width
        return found

    def cached(self, frame: BufferedFrame) -> bool:
        """Whether an earlier request left this frame decoded in the cache (a frame worth choosing again)."""
        cache = self.camera.frame_cache
        if cache is None:
            return False
        cap, reduction, _ = self.camera.decode_hint
        reductions = {self.reduction, reduction if cap == self.max_frame_pixels else self.reduction}
        return any(cache.holds(self._key(frame, r), frame.payload) for r in reductions)

    def __call__(self, frame: BufferedFrame) -> Frame | None:
        camera = self.camera
        cache = camera.frame_cache
        if cache is not None:
            found = self._cached(frame, cache)
            if found is not None:
                return found
        reduction = self.reduction
        try:
            if camera.config.compressed:
                pixels = compressed_to_rgb(frame.payload, self.reduction)
                if self.reduction == 1:
                    self.full_width = pixels.shape[1]
                if self.reduction == 1 and self.max_frame_pixels:
                    self.reduction = reduction_for(pixels.shape[0], pixels.shape[1], self.max_frame_pixels)
            else:
                pixels = image_to_rgb(frame.payload)
        except FrameDecodeError as e:
            self.failures += 1
            camera.decode_failures += 1
            camera.last_reject_reason = e.message
            camera.buffer.discard(frame)
            camera.warn_once("decode", f"camera {camera.name}: cannot decode a frame, skipping it: {e.message} "
                             "(logged once)", self.warn)
            return None
        stamp = frame.payload.header.stamp
        # A JPEG decoded at 1/r of its size (r = 2, 4, 8): pixel i covers source pixels [r·i, r·i + r).
        scale = float(self.reduction) if self.full_width and pixels.shape[1] != self.full_width else 1.0
        decoded = Frame(pixels=pixels, stamp=frame.stamp, stamp_ns=stamp_ns(stamp), source_scale=scale)
        if cache is not None:
            pixels.flags.writeable = False  # shared with later requests
            cache.store(self._key(frame, reduction), frame.payload, decoded, pixels.nbytes)
            if camera.config.compressed and self.full_width:
                camera.decode_hint = (self.max_frame_pixels, self.reduction, self.full_width)
        return decoded


def decode_clip(camera: Camera, frames: list[BufferedFrame], max_frame_pixels: int,
                warn: Callable[[str], Any]) -> CameraClip:
    """Decode the given frames of one camera (``FrameDecoder``); frames that fail are skipped."""
    decoder = FrameDecoder(camera, max_frame_pixels, warn)
    decoded = [f for f in (decoder(frame) for frame in frames) if f is not None]
    return CameraClip(camera=camera.name, frames=decoded, frame_id=camera.frame_id)
