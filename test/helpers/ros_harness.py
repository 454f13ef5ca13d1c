"""Test harness: a real ReasonerNode, synthetic cameras and an action client on one MultiThreadedExecutor.

Everything crosses real Fast DDS: the cameras publish sensor_msgs/Image (or CompressedImage) from their
own node, and goals go through rclpy's ActionClient with the package's generated action type.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.ros.node.reasoner_node import ReasonerNode


def synthetic_frame(index: int, width: int, height: int) -> np.ndarray:
    """A textured RGB frame that changes with ``index`` (a moving bar over a gradient)."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    frame = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                            np.full((height, width, 1), (index * 7) % 256, np.float32)], axis=2).astype(np.uint8)
    bar = (index * 8) % max(1, width - 20)
    frame[:, bar:bar + 20] = (255, 255, 255)
    return frame


def image_msg(pixels: np.ndarray, stamp: Any, frame_id: str) -> Image:
    h, w = pixels.shape[:2]
    msg = Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3, data=pixels.tobytes())
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def raw_msg(pixels: np.ndarray, stamp: Any, frame_id: str, encoding: str = "rgb8") -> Image:
    """An Image of the RGB ``pixels`` in ``encoding``: rgb8, bgr8 (channels swapped, as most drivers send)
    or mono8 (the grey a monochrome camera sees)."""
    if encoding == "rgb8":
        return image_msg(pixels, stamp, frame_id)
    if encoding == "bgr8":
        data, channels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), 3
    elif encoding == "mono8":
        data, channels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), 1
    else:
        raise ValueError(f"raw_msg: unsupported encoding {encoding!r}")
    h, w = pixels.shape[:2]
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=w * channels, data=data.tobytes())
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def jpeg_msg(pixels: np.ndarray, stamp: Any, frame_id: str, codec: str = "jpeg") -> CompressedImage:
    """A CompressedImage of the RGB ``pixels``, ``codec`` jpeg or png (image_transport's format strings)."""
    ok, encoded = cv2.imencode(".jpg" if codec == "jpeg" else ".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(format=f"rgb8; {codec} compressed bgr8", data=encoded.tobytes())
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


@dataclass
class Camera:
    """A synthetic camera publishing at ``rate`` Hz; records the stamps it sent."""

    name: str
    topic: str
    rate: float = 30.0
    width: int = 320
    height: int = 240
    compressed: bool = False
    sent: list[int] = field(default_factory=list)  # nanoseconds of every stamp published
    enabled: bool = True
    count: int = 0
    #: What it shows: the RGB image of publish number ``count``; None = ``synthetic_frame``. Assign a new
    #: scene mid-test to change what the camera sees from its next frame on.
    scene: Callable[[int], np.ndarray] | None = None
    encoding: str = "rgb8"  # raw cameras: rgb8, bgr8 or mono8 (``raw_msg``)
    codec: str = "jpeg"  # compressed cameras: jpeg or png


class Harness:
    """Owns the node under test, the camera node and the client node, spun on a background executor.

    A context manager: ``with Harness(...) as h:`` closes it on the way out (without waiting for it to be
    ready; ``Harness.started()`` does both). Tests take ``make_harness`` (conftest) for one built inline."""

    def __init__(self, params: dict[str, Any], cameras: list[Camera], backend: Any = None,
                 node_name: str = "cosmos_reasoner", silent: tuple[str, ...] = ()) -> None:
        """``cameras`` publish; ``silent`` names cameras the node is configured with that never publish.
        Camera names and topics become the node's parameters unless ``params`` sets them."""
        wiring: dict[str, Any] = {"cameras.names": [c.name for c in cameras] + list(silent)}
        wiring.update({f"cameras.{c.name}.topic": c.topic for c in cameras})
        wiring.update({f"cameras.{name}.topic": f"/{node_name}/{name}/image_raw" for name in silent})
        overrides = [Parameter(name, value=value) for name, value in {**wiring, **params}.items()]
        self.node = ReasonerNode(backend=backend, node_name=node_name, parameter_overrides=overrides)
        self.helper = rclpy.create_node(f"test_helper_{node_name}")
        self.cameras = cameras
        self._publishers = {}
        for camera in cameras:
            msg_type = CompressedImage if camera.compressed else Image
            self._publishers[camera.name] = self.helper.create_publisher(msg_type, camera.topic,
                                                                         qos_profile_sensor_data)
            self.helper.create_timer(1.0 / camera.rate, self._publisher_callback(camera))
        self.client = ActionClient(self.helper, ReasonAboutTask, f"/{node_name}/reason")
        self.executor = MultiThreadedExecutor(num_threads=10)
        self.executor.add_node(self.node)
        self.executor.add_node(self.helper)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._closed = False
        self._thread.start()

    def _publisher_callback(self, camera: Camera) -> Callable[[], None]:
        frames = [synthetic_frame(i, camera.width, camera.height) for i in range(8)]

        def publish() -> None:
            if not camera.enabled:
                return
            stamp = self.helper.get_clock().now()
            scene = camera.scene
            pixels = scene(camera.count) if scene is not None else frames[camera.count % len(frames)]
            camera.count += 1
            frame_id = f"{camera.name}_optical_frame"
            msg = (jpeg_msg(pixels, stamp.to_msg(), frame_id, camera.codec) if camera.compressed
                   else raw_msg(pixels, stamp.to_msg(), frame_id, camera.encoding))
            self._publishers[camera.name].publish(msg)
            camera.sent.append(stamp.nanoseconds)

        return publish

    # ------------------------------------------------------------------------------------------ waits
    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
            time.sleep(0.01)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Model loaded, action server up, a second of frames from every publishing camera. A harness that
        does not get there is closed (so its cameras stop publishing) before the error propagates."""
        try:
            self._wait_ready(timeout)
        except Exception:
            self.close()
            raise

    def _wait_ready(self, timeout: float) -> None:
        self.wait_for(lambda: self.node.parts.model.backend.ready, timeout, "the model to load")
        self.wait_for(lambda: self.client.server_is_ready(), 10.0, "the action server")
        for camera in self.cameras:
            if camera.enabled:
                buffer = self.node.parts.ingest.cameras[camera.name].buffer
                self.wait_for(lambda b=buffer: self.buffered_span(b) >= 1.0 or len(b) >= b.limits.max_frames, 15.0,
                              f"a second of frames (or a full buffer) from camera {camera.name}")

    @staticmethod
    def buffered_span(buffer: Any) -> float:
        """Seconds of stamps between the oldest and newest buffered frame (0 when fewer than two)."""
        frames = buffer.snapshot()
        return frames[-1].stamp - frames[0].stamp if len(frames) >= 2 else 0.0

    # ------------------------------------------------------------------------------------------ goals
    def send(self, task: str = "bring me the red cup", mode: int = ReasonAboutTask.Goal.MODE_DECOMPOSE,
             feedback: list | None = None, **fields: Any) -> Any:
        """Send a goal; return its ClientGoalHandle (None if rejected)."""
        goal = ReasonAboutTask.Goal(task=task, mode=mode, **fields)
        future = self.client.send_goal_async(goal, feedback_callback=(lambda fb: feedback.append(fb.feedback))
                                             if feedback is not None else None)
        self.wait_for(future.done, 10.0, "goal acceptance")
        handle = future.result()
        return handle if handle.accepted else None

    def result(self, handle: Any, timeout: float = 60.0) -> tuple[int, Any]:
        """Wait for a goal's result; return (GoalStatus, Result)."""
        future = handle.get_result_async()
        self.wait_for(future.done, timeout, "the goal result")
        response = future.result()
        return response.status, response.result

    def run(self, task: str = "bring me the red cup", wait: float = 60.0, **fields: Any) -> tuple[int, Any, list]:
        """Send a goal and wait up to ``wait`` s for it; return (status, result, feedback messages)."""
        feedback: list = []
        handle = self.send(task, feedback=feedback, **fields)
        assert handle is not None, "goal was rejected"
        status, result = self.result(handle, wait)
        # Feedback (a topic) and the result (a service) travel separately: let the final feedback, which
        # carries the final token count, arrive before the caller inspects the stream.
        tokens = result.plan.stats.generated_tokens
        if tokens:
            self.wait_for(lambda: any(f.tokens_generated == tokens for f in feedback), 5.0, "the final feedback")
        return status, result, feedback

    @classmethod
    @contextlib.contextmanager
    def started(cls, params: dict[str, Any], cameras: list[Camera], *, ready: bool = True,
                **kwargs: Any) -> Iterator[Harness]:
        """``with Harness.started(params, cameras, ...) as h:`` a harness (``kwargs`` go to the constructor),
        ready (``wait_ready()``) unless ``ready=False``, closed when the block ends: normally, by an error, or
        because it never got ready."""
        with cls(params, cameras, **kwargs) as harness:
            if ready:
                harness.wait_ready()
            yield harness

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the node's goals, stop the executor and destroy the nodes; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self.node.parts.goals.cancel_all(wait=5.0)
        self.executor.shutdown(timeout_sec=5.0)
        self.client.destroy()
        self.node.destroy_node()
        self.helper.destroy_node()
        self._thread.join(timeout=5.0)


class Collector:
    """Subscribes on the harness's helper node and keeps every message."""

    def __init__(self, harness: Harness, msg_type: Any, topic: str, qos: Any) -> None:
        self.messages: list = []
        self.subscription = harness.helper.create_subscription(msg_type, topic, self.messages.append, qos)
