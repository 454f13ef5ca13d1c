"""The reasoner node: cameras in, task goals answered with typed plans out.

ROS Parameters
    All parameters, their defaults, ranges and meaning are in ``cosmos_reason_ros.ros.parameters``
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

Actions
    ``~/reason`` (cosmos_reason_ros/ReasonAboutTask): goals are accepted and validated (INVALID_GOAL
    with a message), run one at a time on the model under ``busy_policy``, stream feedback, honour
    cancel between decoding steps (CANCELED) and end with an error code, never a hang (TIMEOUT).
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ..action import ReasonAboutTask
from ..core.backend_base import BackendState, ModelBackend
from ..core.errors import (BackendUnavailableError, CanceledError, DeadlineExceededError, InvalidRequestError,
                           ModelNotReadyError, NoFramesError, ReasonerError, StaleFramesError)
from ..core.frame_buffer import BufferLimits, select_aligned
from ..core.reasoner import Reasoner, ReasonerLimits, SamplingOverrides, TaskRequest
from ..core.types import CameraClip, ReasoningResult, Stage
from ..core.video import VideoBudget
from ..msg import FeasibilityJudgment, TaskPlan
from . import diagnostics, visualization
from .backend_factory import make_backend
from .busy_policy import GoalSlot, GoalSlots
from .camera_ingest import CameraIngest
from .error_codes import code_name, error_code_for
from .goal_feedback import FeedbackThrottle
from .image_conversion import rgb_to_image_fields
from .messages import plan_msg
from .parameters import Settings, camera_configs, check_choices, declare_parameters

Result = ReasonAboutTask.Result
DIAGNOSTIC_PREFIX = "cosmos_reasoner"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclasses.dataclass
class _GoalRecord:
    """What the node keeps about one accepted goal until its result is sent."""

    slot: GoalSlot
    started: float  # time.monotonic() at acceptance
    settings: Settings  # the parameters as they were at acceptance
    request: Optional[TaskRequest] = None
    error: Optional[ReasonerError] = None  # validation failure, reported by the execute callback
    queued_behind: bool = False  # another goal was running or waiting at acceptance


class ReasonerNode(Node):
    """Action server that reasons about tasks over the recent video of its cameras."""

    def __init__(self, backend: Optional[ModelBackend] = None, node_name: str = "cosmos_reasoner",
                 **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        declare_parameters(self)
        self.settings = Settings.read(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        s = self.settings
        self.backend = backend if backend is not None else make_backend(s)
        self.ingest = CameraIngest(self, camera_configs(self), BufferLimits(
            max_seconds=s.buffer_seconds, max_frames=s.buffer_max_frames,
            max_bytes=int(s.buffer_max_megabytes * 2**20),
            min_interval=1.0 / s.buffer_store_rate if s.buffer_store_rate > 0 else 0.0,
        ), reliable=s.qos_reliability == "reliable", depth=s.qos_depth)
        self.slots = GoalSlots(s.busy_policy, s.max_queue)
        self.goal_stats = diagnostics.GoalStats()
        self._goal_slots: dict[str, _GoalRecord] = {}
        self._goal_slots_lock = threading.Lock()
        self._load_seconds: Optional[float] = None
        self._closing = threading.Event()

        self.plan_pub = self.create_publisher(TaskPlan, "~/plan", LATCHED)
        self.feasibility_pub = self.create_publisher(FeasibilityJudgment, "~/feasibility", LATCHED)
        self.markers_pub = self.create_publisher(MarkerArray, "~/markers", 10)
        self.image_pub = self.create_publisher(Image, "~/annotated_image", 1)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self.action_server = ActionServer(
            self, ReasonAboutTask, "~/reason",
            execute_callback=self._execute, goal_callback=self._on_goal, cancel_callback=self._on_cancel,
            handle_accepted_callback=self._on_accepted,
            callback_group=ReentrantCallbackGroup(),
        )
        self.create_timer(s.diagnostics_period, self._publish_diagnostics,
                          callback_group=MutuallyExclusiveCallbackGroup())
        self._loader = threading.Thread(target=self._load_model, name="model-loader", daemon=True)
        self._loader.start()
        self.get_logger().info(
            f"cosmos_reasoner up: model {self.backend.model_id!r} ({s.backend}) loading in the background; "
            f"cameras {[c.name for c in self.ingest.cameras.values()]}; busy_policy {s.busy_policy}")

    # ------------------------------------------------------------------------------------- lifecycle
    def _load_model(self) -> None:
        """Load on a background thread; a model server that is not up yet is retried every period."""
        started = time.monotonic()
        log = self.get_logger()
        period = self.settings.model_load_retry_period
        while True:
            try:
                self.backend.load(progress=lambda message: log.info(f"model: {message}"))
                break
            except BackendUnavailableError as e:
                if period <= 0:
                    log.error(f"model {self.backend.model_id!r} failed to load: {e.message}")
                    return
                log.warning(f"model {self.backend.model_id!r} not reachable, retrying in {period:.1f} s: {e.message}")
                if self._closing.wait(period):
                    return
            except ReasonerError as e:
                log.error(f"model {self.backend.model_id!r} failed to load: {e.message}")
                return
        self._load_seconds = time.monotonic() - started
        log.info(f"model {self.backend.model_id!r} ready in {self._load_seconds:.1f} s")

    def _on_set_parameters(self, parameters: list) -> Any:
        result = check_choices(parameters)
        if result.successful:
            # rclpy has already checked types, ranges and read-only; goals accepted from now on see the change.
            changes = {p.name.replace(".", "_"): p.value for p in parameters}
            self.settings = dataclasses.replace(
                self.settings, **{k: v for k, v in changes.items() if k in Settings.__dataclass_fields__})
            self.slots.configure(self.settings.busy_policy, self.settings.max_queue)
        return result

    # ---------------------------------------------------------------------------------- goal intake
    def _on_goal(self, goal: Any) -> GoalResponse:
        if not self.slots.admit():
            self.goal_stats.rejected += 1
            self.get_logger().warning(f"goal rejected: busy (busy_policy {self.settings.busy_policy})")
            return GoalResponse.REJECT
        self.goal_stats.accepted += 1
        return GoalResponse.ACCEPT

    def _on_accepted(self, goal_handle: Any) -> None:
        """Validate and take a place in line in acceptance order, then start the execute callback.

        rclpy may start execute callbacks in any order, so the line is formed here. A goal that fails
        validation takes no place (and so preempts nothing); its execute callback reports INVALID_GOAL.
        """
        started = time.monotonic()
        goal_id = bytes(goal_handle.goal_id.uuid).hex()
        record = _GoalRecord(slot=GoalSlot(goal_id), started=started, settings=self.settings)
        try:
            record.request = self._validate(goal_handle.request, record.settings, started)
            record.request.cancel = record.slot.stop  # cancel and preemption reach the decoding loop here
            record.queued_behind = self.slots.busy
            self.slots.enqueue(record.slot)
        except ReasonerError as e:
            record.error = e
        with self._goal_slots_lock:
            self._goal_slots[goal_id] = record
        goal_handle.execute()

    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        with self._goal_slots_lock:
            record = self._goal_slots.get(bytes(goal_handle.goal_id.uuid).hex())
        if record is not None:
            record.slot.cancel()
        return CancelResponse.ACCEPT

    # ------------------------------------------------------------------------------------ execution
    def _execute(self, goal_handle: Any) -> Any:
        goal_id = bytes(goal_handle.goal_id.uuid).hex()
        with self._goal_slots_lock:
            record = self._goal_slots[goal_id]
        slot, started, settings = record.slot, record.started, record.settings
        if goal_handle.is_cancel_requested:
            slot.cancel()
        feedback = FeedbackThrottle(goal_handle, settings.feedback_rate, started, on_text=self._publish_reasoning)
        result = Result()
        acquired = False
        try:
            if record.error is not None:
                raise record.error
            request = record.request
            if record.queued_behind:
                feedback.stage(Stage.QUEUED)
            acquired = self.slots.acquire(slot, request.deadline)
            if not acquired:
                self._raise_stopped(slot, "while queued")
            self._wait_for_model(settings, request.deadline, slot, feedback)
            feedback.stage(Stage.WAITING_FOR_FRAMES)
            request.clips = self._collect_clips(goal_handle.request, settings, request.deadline, slot)
            request.on_progress = feedback.progress
            outcome = self._reasoner(settings).run(request)
            feedback.flush()
            plan = plan_msg(outcome, goal_id, time.monotonic() - started, goal_handle.request.return_reasoning)
            self._publish_outputs(plan, request.clips, settings)
            result.plan = plan
            result.error_code = Result.NONE
            self._record_success(plan)
            goal_handle.succeed()
        except ReasonerError as e:
            feedback.flush()
            self._fail(goal_handle, result, e, slot, goal_id, started)
        except Exception as e:  # a bug, not a model failure: keep serving, report UNKNOWN
            self.get_logger().error(f"goal {goal_id[:8]} failed unexpectedly: {type(e).__name__}: {e}")
            result.error_code, result.error_msg = Result.UNKNOWN, f"{type(e).__name__}: {e}"
            self._count_failure(Result.UNKNOWN, result.error_msg)
            goal_handle.abort()
        finally:
            self.slots.release(slot)
            with self._goal_slots_lock:
                self._goal_slots.pop(goal_id, None)
        return result

    def _reasoner(self, s: Settings) -> Reasoner:
        """A Reasoner with the current dynamic settings (cheap: plain dataclasses)."""
        pick = lambda value: None if value < 0 else value  # noqa: E731  (-1 = family default)
        return Reasoner(
            self.backend,
            VideoBudget(max_visual_tokens=s.video_max_visual_tokens, max_frame_pixels=s.video_max_frame_pixels,
                        min_frame_pixels=min(s.video_min_frame_pixels, s.video_max_frame_pixels),
                        timestamp_overlay=s.video_timestamp_overlay),
            SamplingOverrides(temperature=pick(s.generation_temperature), top_p=pick(s.generation_top_p),
                              top_k=pick(s.generation_top_k), repetition_penalty=pick(s.generation_repetition_penalty),
                              seed=pick(s.generation_seed)),
            ReasonerLimits(max_task_chars=s.max_task_chars),
        )

    def _validate(self, goal: Any, s: Settings, started: float) -> TaskRequest:
        """Check the goal's fields; everything wrong with it becomes INVALID_GOAL with a reason."""
        max_new_tokens = goal.max_new_tokens or s.generation_max_new_tokens
        task, mode = self._reasoner(s).validate(goal.task, goal.mode, max_new_tokens)
        unknown = [c for c in goal.cameras if c not in self.ingest.cameras]
        if unknown:
            raise InvalidRequestError(f"unknown camera(s) {unknown}; configured: {sorted(self.ingest.cameras)}")
        if not 0.0 <= goal.history_seconds <= s.buffer_seconds:
            raise InvalidRequestError(f"history_seconds {goal.history_seconds} is outside 0..{s.buffer_seconds} "
                                      "(buffer.seconds)")
        if goal.max_frames > s.buffer_max_frames:
            raise InvalidRequestError(f"max_frames {goal.max_frames} exceeds buffer.max_frames {s.buffer_max_frames}")
        if not 0.0 <= goal.timeout <= 3600.0:
            raise InvalidRequestError(f"timeout {goal.timeout} s is outside 0..3600")
        timeout = goal.timeout or s.goal_timeout
        return TaskRequest(task=task, mode=mode, clips=[], max_new_tokens=max_new_tokens, deadline=started + timeout,
                           runs=self._reasoner(s).validate_runs(goal.critic_runs, mode))

    def _raise_stopped(self, slot: GoalSlot, where: str) -> None:
        if slot.stop.is_set():
            raise CanceledError(f"{'preempted' if slot.preempted else 'canceled'} {where}")
        raise DeadlineExceededError(f"deadline passed {where}")

    def _wait_for_model(self, s: Settings, deadline: float, slot: GoalSlot, feedback: FeedbackThrottle) -> None:
        if self.backend.ready:
            return
        if self.backend.state is BackendState.FAILED or s.model_wait_timeout <= 0:
            raise ModelNotReadyError(f"model {self.backend.model_id!r} is {self.backend.state.value}"
                                     + (f": {self.backend.load_error}" if self.backend.load_error else ""))
        feedback.stage(Stage.WAITING_FOR_MODEL)
        until = min(time.monotonic() + s.model_wait_timeout, deadline)
        while not self.backend.ready:
            if slot.stop.is_set():
                self._raise_stopped(slot, "while waiting for the model")
            if self.backend.state is BackendState.FAILED or time.monotonic() >= until:
                raise ModelNotReadyError(f"model {self.backend.model_id!r} not ready after waiting "
                                         f"{s.model_wait_timeout:.1f} s ({self.backend.state.value})")
            time.sleep(0.05)

    def _collect_clips(self, goal: Any, s: Settings, deadline: float, slot: GoalSlot) -> list[CameraClip]:
        """Wait (bounded) for fresh frames from every requested camera, select them on one time grid, decode."""
        names = list(goal.cameras) or list(self.ingest.cameras)
        cameras = [self.ingest.cameras[n] for n in names]
        until = min(time.monotonic() + s.frames_wait_timeout, deadline)
        while True:
            now = self.get_clock().now().nanoseconds * 1e-9
            missing = [c.name for c in cameras if c.buffer.latest() is None]
            stale = [] if s.frames_stale_after <= 0 else [
                (c.name, now - c.buffer.latest().stamp) for c in cameras
                if c.name not in missing and now - c.buffer.latest().stamp > s.frames_stale_after]
            if not missing and not stale:
                break
            if slot.stop.is_set():
                self._raise_stopped(slot, "while waiting for frames")
            if time.monotonic() >= until:
                if missing:
                    raise NoFramesError(f"no frames from camera(s) {missing} within {s.frames_wait_timeout:.1f} s")
                detail = ", ".join(f"{n} {age:.1f} s old" for n, age in stale)
                raise StaleFramesError(f"stale camera(s): {detail} (frames.stale_after {s.frames_stale_after} s)")
            time.sleep(0.02)
        history = goal.history_seconds or s.frames_history_seconds
        max_frames = goal.max_frames or s.frames_max_frames
        _, picked = select_aligned({c.name: c.buffer.snapshot() for c in cameras}, history, max_frames, s.frames_fps)
        clips = [self.ingest.decode(c, picked[c.name], s.video_max_frame_pixels) for c in cameras]
        empty = [clip.camera for clip in clips if not clip.frames]
        if empty:
            raise NoFramesError(f"no decodable frames from camera(s) {empty} in the last {history:.1f} s")
        return clips

    # -------------------------------------------------------------------------------------- outcomes
    def _fail(self, goal_handle: Any, result: Any, error: ReasonerError, slot: GoalSlot, goal_id: str,
              started: float) -> None:
        code = Result.PREEMPTED if slot.preempted else error_code_for(error)
        result.error_code, result.error_msg = code, error.message
        if isinstance(error.partial, ReasoningResult):
            result.plan = plan_msg(error.partial, goal_id, time.monotonic() - started,
                                   goal_handle.request.return_reasoning)
        self._count_failure(code, error.message)
        self.get_logger().warning(f"goal {goal_id[:8]} ended {code_name(code)}: {error.message}")
        if code == Result.CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()

    def _count_failure(self, code: int, message: str) -> None:
        name = code_name(code)
        self.goal_stats.failed_by_code[name] = self.goal_stats.failed_by_code.get(name, 0) + 1
        self.goal_stats.last_error = f"{name}: {message}"

    def _record_success(self, plan: TaskPlan) -> None:
        stats = self.goal_stats
        stats.succeeded += 1
        stats.last_total_time = plan.stats.total_time
        stats.last_time_to_first_token = plan.stats.time_to_first_token
        stats.last_tokens_per_second = plan.stats.tokens_per_second

    def _publish_outputs(self, plan: TaskPlan, clips: list[CameraClip], s: Settings) -> None:
        self.plan_pub.publish(plan)
        self.feasibility_pub.publish(plan.feasibility)
        if s.publish_markers:
            self.markers_pub.publish(visualization.plan_markers(plan, s.markers_frame_id))
        if s.publish_annotated_image and clips and clips[0].frames:
            newest = clips[0].frames[-1]
            header = Header(stamp=plan.header.stamp, frame_id=clips[0].frame_id)
            self.image_pub.publish(Image(header=header, **rgb_to_image_fields(visualization.annotate(newest.pixels, plan))))

    def _publish_reasoning(self, text: str) -> None:
        s = self.settings
        if s.publish_markers:
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=s.markers_frame_id or next(
                (c.frame_id for c in self.ingest.cameras.values() if c.frame_id), ""))
            self.markers_pub.publish(visualization.reasoning_marker(text, header))

    def _publish_diagnostics(self) -> None:
        s = self.settings
        now_ros = self.get_clock().now()
        now_seconds, now_mono = now_ros.nanoseconds * 1e-9, time.monotonic()
        status = [diagnostics.model_status(DIAGNOSTIC_PREFIX, self.backend, s.backend, self._load_seconds)]
        status += [diagnostics.camera_status(DIAGNOSTIC_PREFIX, c, now_seconds, now_mono, s.frames_stale_after)
                   for c in self.ingest.cameras.values()]
        status.append(diagnostics.goals_status(DIAGNOSTIC_PREFIX, self.goal_stats, self.slots.running,
                                               self.slots.queued))
        self.diagnostics_pub.publish(DiagnosticArray(header=Header(stamp=now_ros.to_msg()), status=status))

    def cancel_all_goals(self, wait: float = 2.0) -> bool:
        """Stop every running and queued goal; wait up to ``wait`` s for them to end. True if they did."""
        with self._goal_slots_lock:
            for record in self._goal_slots.values():
                record.slot.cancel()
        end = time.monotonic() + wait
        while time.monotonic() < end:
            with self._goal_slots_lock:
                if not self._goal_slots:
                    return True
            time.sleep(0.01)
        return False

    def destroy_node(self) -> None:
        self._closing.set()
        self.cancel_all_goals()
        self.action_server.destroy()
        self.ingest.close()
        super().destroy_node()


def main(args: Optional[list[str]] = None) -> int:
    """Entry point of ``ros2 run cosmos_reason_ros reasoner``."""
    rclpy.init(args=args if args is not None else sys.argv)
    node = ReasonerNode()
    s = node.settings
    executor = MultiThreadedExecutor(num_threads=s.max_queue + 4)
    executor.add_node(node)
    shutdown_error = getattr(rclpy.executors, "ExternalShutdownException", KeyboardInterrupt)
    try:
        executor.spin()
    except (KeyboardInterrupt, shutdown_error):
        pass
    finally:
        node.cancel_all_goals()
        executor.shutdown(timeout_sec=5.0)
        node.destroy_node()
        if hasattr(rclpy, "try_shutdown"):
            rclpy.try_shutdown()
        elif rclpy.ok():
            rclpy.shutdown()
    return 0
