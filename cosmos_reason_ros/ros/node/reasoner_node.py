"""The reasoner node: cameras in, task goals answered with typed plans out.

ROS Parameters
    All parameters, their defaults, ranges and meaning are in ``cosmos_reason_ros.ros.node.parameters``
    (``PARAMETERS``) and ``config/reasoner.yaml``. Read-only ones (model, backend, cameras, QoS, buffers)
    need a restart; the rest apply from the next goal. Highlights: ``model``, ``backend``,
    ``cameras.names`` with ``cameras.<name>.topic``, ``frames.history_seconds``, ``frames.max_frames``,
    ``video.max_visual_tokens``, ``generation.max_new_tokens``, ``busy_policy``, ``goal_timeout``.

Subscriptions
    ``cameras.<name>.topic`` (sensor_msgs/Image, or sensor_msgs/CompressedImage for ``.../compressed``):
    sensor-data QoS by default; the callback only stores the message in a bounded ring buffer. Topics
    resolve against this node (its namespace and remappings apply); the subscriptions themselves live on a
    companion node ``<name>_cameras`` with an executor thread of its own, so goals and services never
    delay a frame (see ``camera_ingest``).

Publishers
    ``~/plan`` (cosmos_reason_ros/TaskPlan): every successful plan; reliable, transient local, depth 1.
    ``~/feasibility`` (cosmos_reason_ros/FeasibilityJudgment): the verdict of every plan; same QoS.
    ``~/markers`` (visualization_msgs/MarkerArray): verdict, steps and live reasoning as text, for rviz.
    ``~/annotated_image`` (sensor_msgs/Image): the newest frame used, with verdict and steps drawn.
    ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): model state, camera rates/ages/drops, goal stats.
    ``~/detections`` (vision_msgs/Detection2DArray, only where vision_msgs is installed): the boxes of
    every plan's located objects (plan.objects, MODE_LOCATE or goal ground_targets); same QoS as ~/plan.
    Depth: ``cameras.<name>.depth_topic`` and ``camera_info_topic`` give located objects 3D points
    (``depth``, docs/grounding.md).

Actions
    ``~/reason`` (cosmos_reason_ros/ReasonAboutTask): goals are accepted and validated (INVALID_GOAL
    with a message), run one at a time on the model under ``busy_policy``, stream feedback, honour
    cancel between decoding steps (CANCELED) and end with an error code, never a hang (TIMEOUT).
    Goal execution is in ``goal_execution``; queued goals hold no executor thread (``busy_policy``).

Standing watches
    Services ``~/add_watch``, ``~/remove_watch``, ``~/set_watch_enabled``, ``~/list_watches``; topics
    ``~/alerts`` and ``~/watch_states`` (latched); checks on a thread of their own, goals first
    (``watch_service``, ``watch_runner``; parameters ``watches.*`` in ``watch_parameters``).

Shutdown
    SIGINT / SIGTERM (``shutdown``), ``destroy_node`` and the lifecycle's deactivate/shutdown end every
    running and queued goal with SHUTDOWN, the result sent before the action server goes away; then the
    cameras, the model (a backend the node built is closed, the loader joined) and rclpy are torn down.
    The managed variant is ``lifecycle_node.ReasonerLifecycleNode`` (executable ``reasoner_lifecycle``).
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from typing import Any, Optional

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.models.backend import ModelBackend
from cosmos_reason_ros.core.errors import BackendUnavailableError, ReasonerError
from cosmos_reason_ros.core.datatypes import CameraClip
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan
from cosmos_reason_ros.ros.cameras import clips as clip_collection, depth
from cosmos_reason_ros.ros.node import diagnostics, log_bridge, process_memory
from cosmos_reason_ros.ros import conversions as grounding_msgs
from cosmos_reason_ros.ros.outputs import markers as visualization
from cosmos_reason_ros.ros.node.model import make_backend
from cosmos_reason_ros.ros.goals.slots import GoalSlots
from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
from cosmos_reason_ros.ros.goals.execution import GoalExecution, GoalRecord
from cosmos_reason_ros.ros.cameras.image_conversion import rgb_to_image_fields
from cosmos_reason_ros.ros.node.parameters import Settings, camera_configs, check_choices, declare_parameters
from cosmos_reason_ros.ros.watches.service import WatchService

Result = ReasonAboutTask.Result
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: s a finished goal's result stays with the action server for clients that ask late. rclpy's default is
#: 900 s on Humble and 10 s later; every kept result holds its plan (reasoning text included).
RESULT_TIMEOUT = 60
#: The action's goal, cancel and result services keep this many requests: rclpy's default (10, the services
#: default) silently dropped the rest of a burst of goals sent at once, and their clients waited forever.
#: 100 is max_queue's upper bound.
ACTION_SERVICE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)
#: s between looks at queued goals that were canceled or passed their deadline.
QUEUE_CHECK_PERIOD = 0.1
#: s to wait for a loading model on teardown (a load in progress cannot be interrupted; the loader closes
#: the backend itself when it finishes later).
LOADER_JOIN_TIMEOUT = 2.0


class ReasonerParts(GoalExecution, WatchService):
    """The reasoner's parts, built and torn down in lifecycle phases (a mixin of the node classes).

    ``_configure``: settings, backend built, cameras subscribed, publishers, action server, timers.
    ``_activate``: model loading started, goals accepted. ``_deactivate``: goals ended (SHUTDOWN),
    model unloaded. ``_cleanup``: everything ``_configure`` made, destroyed. The plain node runs the
    first two in its constructor and the last two in ``destroy_node``.
    """

    def _init_parts(self) -> None:
        declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.backend: Optional[ModelBackend] = None
        self.action_server: Optional[ActionServer] = None
        self.ingest: Optional[CameraIngest] = None
        self._accepting = False
        self._configured = False
        self._owns_backend = False
        self._loader: Optional[threading.Thread] = None
        self._load_seconds: Optional[float] = None
        self._closing = threading.Event()
        self._trim_due = False  # a goal ended since the last malloc_trim
        self._goal_slots: dict[str, GoalRecord] = {}
        self._goal_slots_lock = threading.Lock()
        self.goal_stats = diagnostics.GoalStats()
        self.settings = Settings.read(self)
        self.slots = GoalSlots(self.settings.busy_policy, self.settings.max_queue)
        self.diagnostic_prefix = self.get_fully_qualified_name()
        log_bridge.install(self.get_logger())
        self._init_watches()  # standing watches: declared here, built in _configure

    # ------------------------------------------------------------------------------------- phases
    def _configure(self, backend: Optional[ModelBackend] = None) -> None:
        self.settings = s = Settings.read(self)
        self.slots.configure(s.busy_policy, s.max_queue)
        self._owns_backend = backend is None
        self.backend = backend if backend is not None else make_backend(s)
        for problem in clip_collection.check_limits(s):
            self.get_logger().warning(problem)
        self.ingest = CameraIngest(self, camera_configs(self), clip_collection.buffer_limits(s),
                                   reliable=s.qos_reliability == "reliable", depth=s.qos_depth)
        self.camera_topics = {name: self.resolve_topic_name(camera.config.topic)
                              for name, camera in self.ingest.cameras.items()}

        self.plan_pub = self.create_publisher(TaskPlan, "~/plan", LATCHED)
        self.feasibility_pub = self.create_publisher(FeasibilityJudgment, "~/feasibility", LATCHED)
        self.markers_pub = self.create_publisher(MarkerArray, "~/markers", visualization.VISUAL_QOS)
        self.image_pub = self.create_publisher(Image, "~/annotated_image", visualization.VISUAL_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # ~/detections (vision_msgs/Detection2DArray) only where vision_msgs is installed: not a dependency.
        detection_type = grounding_msgs.detection_type()
        self.detections_pub = (self.create_publisher(detection_type, "~/detections", LATCHED)
                               if detection_type is not None else None)

        self.action_server = ActionServer(
            self, ReasonAboutTask, "~/reason",
            execute_callback=self._execute, goal_callback=self._on_goal, cancel_callback=self._on_cancel,
            handle_accepted_callback=self._on_accepted, result_timeout=RESULT_TIMEOUT,
            goal_service_qos_profile=ACTION_SERVICE_QOS, cancel_service_qos_profile=ACTION_SERVICE_QOS,
            result_service_qos_profile=ACTION_SERVICE_QOS, callback_group=ReentrantCallbackGroup(),
        )
        self._part_timers = [
            self.create_timer(s.diagnostics_period, self._publish_diagnostics,
                              callback_group=MutuallyExclusiveCallbackGroup()),
            self.create_timer(QUEUE_CHECK_PERIOD, self._expire_queued, callback_group=MutuallyExclusiveCallbackGroup()),
        ]
        self._configure_watches()
        self._configured = True

    def _activate(self) -> None:
        self._closing.clear()
        self._loader = threading.Thread(target=self._load_model, name="model-loader", daemon=True)
        self._loader.start()
        self._accepting = True
        self._start_watches()
        s = self.settings
        self.get_logger().info(
            f"{self.get_name()} up: model {self.backend.model_id!r} ({s.backend}) loading in the background; "
            f"cameras {[c.name for c in self.ingest.cameras.values()]}; busy_policy {s.busy_policy}")

    def _deactivate(self, wait: float = 2.0) -> bool:
        """End every goal (SHUTDOWN) with its result sent, then unload the model. True if all goals ended."""
        ended = self.end_all_goals(wait)
        self._stop_watches()
        self._unload()
        return ended

    def _unload(self) -> None:
        """Stop the loader (joined, bounded) and close the backend if this node built it."""
        self._closing.set()
        if self._loader is not None and self._loader is not threading.current_thread():
            self._loader.join(timeout=LOADER_JOIN_TIMEOUT)
        if self._owns_backend and self.backend is not None:
            self.backend.close()
        self._load_seconds = None

    def _cleanup(self) -> None:
        """Destroy what ``_configure`` created (after ``_deactivate``)."""
        if not self._configured:
            return
        self._configured = False
        for timer in self._part_timers:
            self.destroy_timer(timer)
        if self.action_server is not None:
            self.action_server.destroy()
        self._cleanup_watches()
        self.ingest.close()
        for publisher in (self.plan_pub, self.feasibility_pub, self.markers_pub, self.image_pub, self.diagnostics_pub):
            self.destroy_publisher(publisher)
        if self.detections_pub is not None:
            self.destroy_publisher(self.detections_pub)
        if self._owns_backend:
            self.backend = None

    # ----------------------------------------------------------------------------------- model
    def _load_model(self) -> None:
        """Load on a background thread; a model server that is not up yet is retried every period."""
        started = time.monotonic()
        log = self.get_logger()
        backend = self.backend
        period = self.settings.model_load_retry_period
        while not self._closing.is_set():
            try:
                backend.load(progress=lambda message: log.info(f"model: {message}"))
                break
            except BackendUnavailableError as e:
                if period <= 0:
                    log.error(f"model {backend.model_id!r} failed to load: {e.message}")
                    return
                log.warning(f"model {backend.model_id!r} not reachable, retrying in {period:.1f} s: {e.message}")
                if self._closing.wait(period):
                    return
            except ReasonerError as e:
                log.error(f"model {backend.model_id!r} failed to load: {e.message}")
                return
            except Exception as e:  # a bug: say so with the traceback; the node keeps serving (MODEL_NOT_READY)
                log.error(f"model {backend.model_id!r} failed to load unexpectedly: {type(e).__name__}: {e}\n"
                          f"{traceback.format_exc().rstrip()}")
                return
        if self._closing.is_set():  # torn down while loading: release what the load just took
            if self._owns_backend:
                backend.close()
            return
        self._load_seconds = time.monotonic() - started
        log.info(f"model {backend.model_id!r} ready in {self._load_seconds:.1f} s")

    def _on_set_parameters(self, parameters: list) -> Any:
        result = check_choices(parameters)
        if result.successful:
            # rclpy has already checked types, ranges and read-only; goals accepted from now on see the change.
            changes = {p.name.replace(".", "_"): p.value for p in parameters}
            self.settings = dataclasses.replace(
                self.settings, **{k: v for k, v in changes.items() if k in Settings.__dataclass_fields__})
            self.slots.configure(self.settings.busy_policy, self.settings.max_queue)
        return result

    # --------------------------------------------------------------------------------- outputs
    def _publish_outputs(self, plan: TaskPlan, clips: list[CameraClip], s: Settings) -> None:
        self.plan_pub.publish(plan)
        self.feasibility_pub.publish(plan.feasibility)
        if self.detections_pub is not None and plan.objects:
            self.detections_pub.publish(grounding_msgs.detections(plan))
        if s.publish_markers:
            self.markers_pub.publish(self._with_watch_markers(visualization.plan_markers(plan, s.markers_frame_id)))
        views = [(clip.camera, clip.frames[-1].pixels) for clip in clips if clip.frames]
        if s.publish_annotated_image and views:
            header = Header(stamp=plan.header.stamp, frame_id=clips[0].frame_id)
            pixels = self._with_watch_banner(visualization.annotate(plan, views))  # raised watches on top
            self.image_pub.publish(Image(header=header, **rgb_to_image_fields(pixels)))

    def _publish_reasoning(self, text: str) -> None:
        s = self.settings
        if s.publish_markers:
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=s.markers_frame_id or next(
                (c.frame_id for c in self.ingest.cameras.values() if c.frame_id), ""))
            self.markers_pub.publish(self._with_watch_markers(visualization.reasoning_marker(text, header)))

    def _publish_diagnostics(self) -> None:
        if self._trim_due:  # off the goal's path: give the memory the last goals freed back to the system
            self._trim_due = False
            process_memory.trim()
        s = self.settings
        prefix = self.diagnostic_prefix
        now_ros = self.get_clock().now()
        now_seconds, now_mono = now_ros.nanoseconds * 1e-9, time.monotonic()
        status = [diagnostics.model_status(prefix, self.backend, s.backend, self._load_seconds)]
        status += [diagnostics.camera_status(prefix, c, now_seconds, now_mono, s.frames_stale_after,
                                             topic=self.camera_topics[c.name])
                   for c in self.ingest.cameras.values()]
        status += [depth.depth_status(prefix, c, now_ros.nanoseconds, s.frames_stale_after)
                   for c in self.ingest.depth.cameras.values()]  # aligned depth cameras (located objects in 3D)
        status.append(diagnostics.goals_status(prefix, self.goal_stats, self.slots.running, self.slots.queued))
        status += self._watch_diagnostics(prefix)
        self.diagnostics_pub.publish(DiagnosticArray(header=Header(stamp=now_ros.to_msg()), status=status))

    def _teardown(self, wait: float = 2.0) -> None:
        """Everything ``destroy_node`` owes: goals ended with their results sent, model unloaded, parts gone."""
        if self._configured:
            self._deactivate(wait)
            self._cleanup()
        log_bridge.uninstall(self.get_logger())


class ReasonerNode(ReasonerParts, Node):
    """Action server that reasons about tasks over the recent video of its cameras."""

    def __init__(self, backend: Optional[ModelBackend] = None, node_name: str = "cosmos_reasoner",
                 **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self._init_parts()
        self._configure(backend)
        self._activate()

    def shutdown(self, wait: float = 2.0) -> bool:
        """Stop accepting goals and end every goal (SHUTDOWN), results sent; idempotent. True if all ended."""
        return self.end_all_goals(wait)

    def destroy_node(self) -> None:
        self._teardown()
        super().destroy_node()


def main(args: Optional[list[str]] = None) -> int:
    """Entry point of ``ros2 run cosmos_reason_ros reasoner``: spin until SIGINT/SIGTERM, then shut down
    in order (see ``shutdown``); exit status 0."""
    from cosmos_reason_ros.ros.node.shutdown import run_node

    return run_node(lambda: ReasonerNode(), args, exit_process=True)
