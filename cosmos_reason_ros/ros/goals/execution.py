"""The ``~/reason`` action: goal intake, turn-taking on the model, execution and outcomes.

``GoalExecution`` is mixed into the reasoner nodes (plain and lifecycle, ``reasoner_node``); it reads the
node's ``settings``, ``backend``, ``ingest``, ``slots`` and publishers. Goals are validated on acceptance,
take their turn through ``GoalSlots`` (no executor thread waits while a goal is queued), stream feedback
and always end with a terminal status and a named error code, also when the node shuts down
(``end_all_goals``: SHUTDOWN, the result sent before the action server goes away).
"""
from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Any, Optional

from rclpy.action import CancelResponse, GoalResponse

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.models.backend import BackendState
from cosmos_reason_ros.core.errors import CanceledError, DeadlineExceededError, InvalidRequestError, ModelNotReadyError, NoFramesError, ReasonerError
from cosmos_reason_ros.core.reasoner import Reasoner, ReasonerLimits, SamplingOverrides, TaskRequest
from cosmos_reason_ros.core.datatypes import CameraClip, GenerationStats, Mode, ReasoningResult, Stage
from cosmos_reason_ros.core.frames.video import VideoBudget
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan
from cosmos_reason_ros.ros.cameras import clips as clip_collection, depth
from cosmos_reason_ros.ros.goals.slots import GoalSlot
from cosmos_reason_ros.ros.goals.error_codes import code_name, error_code_for
from cosmos_reason_ros.ros.goals.feedback import FeedbackThrottle
from cosmos_reason_ros.ros.conversions import plan_msg, stats_msg
from cosmos_reason_ros.ros.node.parameters import Settings

Result = ReasonAboutTask.Result


@dataclasses.dataclass
class GoalRecord:
    """What the node keeps about one accepted goal until its result is sent."""

    slot: GoalSlot
    started: float  # time.monotonic() at acceptance
    settings: Settings  # the parameters as they were at acceptance
    goal_uuid: bytes = b""  # the action goal id, to find rclpy's result future
    request: Optional[TaskRequest] = None
    error: Optional[ReasonerError] = None  # validation failure, reported by the execute callback
    feedback: Optional[FeedbackThrottle] = None


def failed_plan(goal: Any, goal_id: str, total_time: float) -> TaskPlan:
    """The plan of a goal that produced nothing: its identity and the documented sentinels, never zeros."""
    plan = TaskPlan(goal_id=goal_id, task=goal.task, mode=int(goal.mode),
                    feasibility=FeasibilityJudgment(task=goal.task, confidence=FeasibilityJudgment.CONFIDENCE_UNKNOWN))
    plan.stats = stats_msg(GenerationStats(), total_time)
    return plan


class GoalExecution:
    """Action callbacks of the reasoner (a mixin of the node classes)."""

    # ---------------------------------------------------------------------------------- goal intake
    def _on_goal(self, goal: Any) -> GoalResponse:
        if not self._accepting:
            self.goal_stats.rejected += 1
            self.get_logger().warning("goal rejected: the node is not active (shutting down, or inactive)")
            return GoalResponse.REJECT
        if not self.slots.admit():
            self.goal_stats.rejected += 1
            self.get_logger().warning(f"goal rejected: busy (busy_policy {self.settings.busy_policy})")
            return GoalResponse.REJECT
        self.goal_stats.accepted += 1
        return GoalResponse.ACCEPT

    def _on_accepted(self, goal_handle: Any) -> None:
        """Validate and take a place in line in acceptance order; the slots start the execute callback.

        rclpy may start execute callbacks in any order, so the line is formed here. A goal that fails
        validation takes no place (and so preempts nothing); its execute callback reports INVALID_GOAL.
        """
        started = time.monotonic()
        goal_id = bytes(goal_handle.goal_id.uuid).hex()
        record = GoalRecord(slot=GoalSlot(goal_id), started=started, settings=self.settings,
                            goal_uuid=bytes(goal_handle.goal_id.uuid))
        record.feedback = FeedbackThrottle(goal_handle, record.settings.feedback_rate, started,
                                           on_text=self._publish_reasoning)
        try:
            record.request = self._validate(goal_handle.request, record.settings, started)
            record.request.cancel = record.slot.stop  # cancel and preemption reach the decoding loop here
        except ReasonerError as e:
            record.error = e
        with self._goal_slots_lock:
            self._goal_slots[goal_id] = record
        if record.error is not None:
            goal_handle.execute()
            return
        record.slot.deadline = record.request.deadline
        record.slot.start = goal_handle.execute
        if self.slots.busy:
            record.feedback.stage(Stage.QUEUED)
        self.slots.enqueue(record.slot)
        if not self._accepting:  # shutdown began between the goal callback and now
            self.slots.stop(record.slot, "shutdown")

    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        with self._goal_slots_lock:
            record = self._goal_slots.get(bytes(goal_handle.goal_id.uuid).hex())
        if record is not None:
            # A running goal stops at its next decoding step; a queued one is started (to end CANCELED) by
            # the next ``_expire_queued`` tick, after rclpy has marked it CANCELING.
            record.slot.client_canceled = True
            record.slot.cancel()
        return CancelResponse.ACCEPT

    def _expire_queued(self) -> None:
        """Timer: queued goals that were canceled, or whose deadline passed, end now rather than when their
        turn comes."""
        self.slots.expire()

    # ------------------------------------------------------------------------------------ execution
    def _execute(self, goal_handle: Any) -> Any:
        goal_id = bytes(goal_handle.goal_id.uuid).hex()
        with self._goal_slots_lock:
            record = self._goal_slots[goal_id]
        slot, started, settings = record.slot, record.started, record.settings
        feedback = record.feedback
        result = Result()
        try:
            if record.error is not None:
                raise record.error
            request = record.request
            if goal_handle.is_cancel_requested:
                slot.cancel()
            if not self.slots.holds_turn(slot):
                self._raise_stopped(slot, "while queued")
            self._take_model_from_watches(slot.stop)  # a running watch check lets go of the model first
            self._wait_for_model(settings, request.deadline, slot, feedback)
            feedback.stage(Stage.WAITING_FOR_FRAMES)
            request.clips = self._collect_clips(goal_handle.request, settings, request.deadline, slot)
            request.on_progress = feedback.progress
            outcome = self._reasoner(settings).run(request)
            depth.add_positions(outcome.objects, self.ingest.depth, settings, self.get_logger().warning)
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
            self.get_logger().error(f"goal {goal_id[:8]} failed unexpectedly: {type(e).__name__}: {e}\n"
                                    f"{traceback.format_exc().rstrip()}")
            result.error_code, result.error_msg = Result.UNKNOWN, f"{type(e).__name__}: {e}"
            result.plan = failed_plan(goal_handle.request, goal_id, time.monotonic() - started)
            self._count_failure(Result.UNKNOWN, result.error_msg)
            self._end(goal_handle, cancel=False)
        finally:
            self.slots.release(slot)
            with self._goal_slots_lock:
                self._goal_slots.pop(goal_id, None)
            self._trim_due = True
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
            accept_partial=s.accept_partial_answers,
        )

    # ------------------------------------------------------ validation and frames (moved as one block)
    def _validate(self, goal: Any, s: Settings, started: float) -> TaskRequest:
        """Check the goal's fields; everything wrong with it becomes INVALID_GOAL with a reason."""
        max_new_tokens = goal.max_new_tokens or s.generation_max_new_tokens
        task, mode = self._reasoner(s).validate(goal.task, goal.mode, max_new_tokens)
        if mode is Mode.WATCH:
            raise InvalidRequestError("MODE_WATCH is for standing watches (the ~/add_watch service), not goals")
        clip_collection.frame_request(goal, s, list(self.ingest.cameras))  # cameras, history, frame count
        if not 0.0 <= goal.timeout <= 3600.0:
            raise InvalidRequestError(f"timeout {goal.timeout} s is outside 0..3600")
        timeout = goal.timeout or s.goal_timeout
        return TaskRequest(task=task, mode=mode, clips=[], max_new_tokens=max_new_tokens, deadline=started + timeout,
                           runs=self._reasoner(s).validate_runs(goal.critic_runs, mode),
                           ground_targets=self._reasoner(s).validate_ground_targets(goal.ground_targets, mode))

    def _raise_stopped(self, slot: GoalSlot, where: str) -> None:
        if slot.stop.is_set():
            reason = "preempted" if slot.preempted else "stopped by shutdown" if slot.shutdown else "canceled"
            raise CanceledError(f"{reason} {where}")
        raise DeadlineExceededError(f"deadline passed {where}")

    def _wait_for_model(self, s: Settings, deadline: float, slot: GoalSlot, feedback: FeedbackThrottle) -> None:
        if self.backend.ready:
            return
        if self.backend.state is BackendState.FAILED or s.model_wait_timeout <= 0:
            raise ModelNotReadyError(self.backend.not_ready_message())
        feedback.stage(Stage.WAITING_FOR_MODEL)
        until = min(time.monotonic() + s.model_wait_timeout, deadline)
        while not self.backend.ready:
            if slot.stop.wait(0.05):
                self._raise_stopped(slot, "while waiting for the model")
            if self.backend.state is BackendState.FAILED or time.monotonic() >= until:
                raise ModelNotReadyError(f"model {self.backend.model_id!r} not ready after waiting "
                                         f"{s.model_wait_timeout:.1f} s ({self.backend.state.value})")

    def _collect_clips(self, goal: Any, s: Settings, deadline: float, slot: GoalSlot) -> list[CameraClip]:
        """Wait (bounded) for fresh frames from every requested camera, choose and decode them (clip_collection)."""
        request = clip_collection.frame_request(goal, s, list(self.ingest.cameras))
        return clip_collection.collect_clips(
            self.ingest.cameras, request, s, deadline, slot.stop, lambda where: self._raise_stopped(slot, where),
            lambda: self.get_clock().now().nanoseconds * 1e-9, self.get_logger().warning)

    # -------------------------------------------------------------------------------------- outcomes
    def _fail(self, goal_handle: Any, result: Any, error: ReasonerError, slot: GoalSlot, goal_id: str,
              started: float) -> None:
        if slot.preempted:
            code = Result.PREEMPTED
        elif slot.shutdown and isinstance(error, (CanceledError, ModelNotReadyError, NoFramesError)):
            code = Result.SHUTDOWN
        else:
            code = error_code_for(error)
        message = error.message if code != Result.SHUTDOWN else f"the node is shutting down ({error.message})"
        result.error_code, result.error_msg = code, message
        if isinstance(error.partial, ReasoningResult):
            result.plan = plan_msg(error.partial, goal_id, time.monotonic() - started,
                                   goal_handle.request.return_reasoning)
        else:
            result.plan = failed_plan(goal_handle.request, goal_id, time.monotonic() - started)
        self._count_failure(code, message)
        self.get_logger().warning(f"goal {goal_id[:8]} ended {code_name(code)}: {message}")
        self._end(goal_handle, cancel=code == Result.CANCELED and slot.client_canceled)

    @staticmethod
    def _end(goal_handle: Any, cancel: bool) -> None:
        """Set the terminal status: CANCELED when the client asked for it, else ABORTED.

        rclpy marks a goal CANCELING only after the cancel callback returned, so a goal that stopped at
        once may get here first: give that state change a moment (bounded) before choosing."""
        if cancel:
            end = time.monotonic() + 0.5
            while not goal_handle.is_cancel_requested and time.monotonic() < end:
                time.sleep(0.005)
        if cancel and goal_handle.is_cancel_requested:
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

    # -------------------------------------------------------------------------------------- shutdown
    def end_all_goals(self, wait: float = 2.0, reason: str = "shutdown") -> bool:
        """Stop accepting goals; end every running and queued one (SHUTDOWN, or CANCELED for ``reason``
        "cancel"); wait up to ``wait`` s until each result has been handed to rclpy (and so sent to a
        client that asked for it). True if all did."""
        self._accepting = False
        with self._goal_slots_lock:
            records = list(self._goal_slots.values())
        for record in records:
            self.slots.stop(record.slot, reason)
        futures = getattr(self.action_server, "_result_futures", {}) if self.action_server is not None else {}
        end = time.monotonic() + wait
        while time.monotonic() < end:
            with self._goal_slots_lock:
                pending = bool(self._goal_slots)
            if not pending and all(futures[r.goal_uuid].done() for r in records if r.goal_uuid in futures):
                return True
            time.sleep(0.01)
        return False

    def cancel_all_goals(self, wait: float = 2.0) -> bool:
        """Cancel every running and queued goal (CANCELED) and wait for them; goals stay accepted after."""
        accepting = self._accepting
        try:
            return self.end_all_goals(wait, reason="cancel")
        finally:
            self._accepting = accepting

