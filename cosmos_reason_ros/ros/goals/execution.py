"""How a goal runs: the ``~/reason`` action server, goal intake, turn-taking on the model, execution, outcomes.

``GoalServer`` is the goals part of the reasoner nodes (plain and lifecycle): constructed with what it uses
(the node, the settings source, the model part, the cameras, the outputs, the model turn it shares with
standing watches), and driven through ``configure`` / ``activate`` / ``deactivate`` / ``cleanup``. Goals
are validated on acceptance, take their turn through ``GoalSlots`` (no executor thread waits while a goal
is queued), stream feedback and always end with a terminal status and a named error code, also when the
node shuts down (``end_all``: SHUTDOWN, the result sent before the action server goes away).
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.datatypes import CameraClip, GenerationStats, Mode, ReasoningResult, Stage
from cosmos_reason_ros.core.errors import (
    CanceledError,
    DeadlineExceededError,
    InvalidRequestError,
    ModelNotReadyError,
    NoFramesError,
    ReasonerError,
)
from cosmos_reason_ros.core.models.backend import BackendState
from cosmos_reason_ros.core.modes.skills import PLANNING_MODES
from cosmos_reason_ros.core.modes.watches import ModelTurn
from cosmos_reason_ros.core.reasoner import TaskRequest
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan
from cosmos_reason_ros.ros import qos
from cosmos_reason_ros.ros.cameras import clips as clip_collection
from cosmos_reason_ros.ros.cameras import depth
from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
from cosmos_reason_ros.ros.conversions import now_seconds, plan_msg, stats_msg
from cosmos_reason_ros.ros.goals.error_codes import code_name, error_code_for
from cosmos_reason_ros.ros.goals.feedback import FeedbackSender, FeedbackThrottle
from cosmos_reason_ros.ros.goals.skills import declare_skill_parameters, plan_context
from cosmos_reason_ros.ros.goals.slots import GoalSlot, GoalSlots
from cosmos_reason_ros.ros.node import process_memory
from cosmos_reason_ros.ros.node.diagnostics import GoalStats, goals_status
from cosmos_reason_ros.ros.node.model import ModelPart
from cosmos_reason_ros.ros.node.parameters import Settings, SettingsSource
from cosmos_reason_ros.ros.outputs.publishers import OutputsPart

Result = ReasonAboutTask.Result


@dataclasses.dataclass
class GoalRecord:
    """What the node keeps about one accepted goal until its result is sent."""

    slot: GoalSlot
    started: float  # time.monotonic() at acceptance
    settings: Settings  # the parameters as they were at acceptance
    goal_uuid: bytes = b""  # the action goal id, to find rclpy's result future
    request: TaskRequest | None = None
    error: ReasonerError | None = None  # validation failure, reported by the execute callback
    feedback: FeedbackThrottle | None = None


def failed_plan(goal: Any, goal_id: str, total_time: float) -> TaskPlan:
    """The plan of a goal that produced nothing: its identity and the documented sentinels, never zeros."""
    plan = TaskPlan(goal_id=goal_id, task=goal.task, mode=int(goal.mode),
                    feasibility=FeasibilityJudgment(task=goal.task, confidence=FeasibilityJudgment.CONFIDENCE_UNKNOWN))
    plan.stats = stats_msg(GenerationStats(), total_time)
    return plan


#: s a finished goal's result stays with the action server for clients that ask late. rclpy's default is
#: 900 s on Humble and 10 s later; every kept result holds its plan (reasoning text included).
RESULT_TIMEOUT = 60
#: s between looks at queued goals that were canceled or passed their deadline.
QUEUE_CHECK_PERIOD = 0.1
#: s a goal waits at most for a running watch check to let go of the model.
WATCH_RELEASE_TIMEOUT = 30.0


class GoalServer:
    """The goals part: the ``~/reason`` action server and everything a goal goes through."""

    def __init__(self, node: Any, settings: SettingsSource, model: ModelPart, cameras: Callable[[], CameraIngest],
                 outputs: OutputsPart, slots: GoalSlots, turn: ModelTurn) -> None:
        """``cameras``: the camera ingest of the current configuration; ``turn``: the model turn shared with
        standing watches (a goal takes the model from a running check)."""
        self._node = node
        self._log = node.get_logger()
        self._settings = settings
        self._model = model
        self._cameras = cameras
        self._outputs = outputs
        self.slots = slots
        self._turn = turn
        self.stats = GoalStats()
        self._accepting = False
        self._records: dict[str, GoalRecord] = {}
        self._records_lock = threading.Lock()
        self._trim_due = False  # a goal ended since the last malloc_trim
        self._server: ActionServer | None = None
        self._timers: list[Any] = []
        #: Publishes every goal's feedback off the generation thread while the part is active.
        self._feedback_sender = FeedbackSender(self._log.error)
        #: The robot's skills (read-only parameters skills.*), fixed at start-up; a goal may extend them.
        self.skills = declare_skill_parameters(node)

    @property
    def accepting(self) -> bool:
        """Whether goals are accepted now (active, and not shutting down)."""
        return self._accepting

    # --------------------------------------------------------------------------------------- phases
    def configure(self) -> None:
        s = self._settings()
        self.slots.configure(s.busy_policy, s.max_queue)
        self._server = ActionServer(
            self._node, ReasonAboutTask, "~/reason",
            execute_callback=self._execute, goal_callback=self._on_goal, cancel_callback=self._on_cancel,
            handle_accepted_callback=self._on_accepted, result_timeout=RESULT_TIMEOUT,
            goal_service_qos_profile=qos.ACTION_SERVICES, cancel_service_qos_profile=qos.ACTION_SERVICES,
            result_service_qos_profile=qos.ACTION_SERVICES, callback_group=ReentrantCallbackGroup(),
        )
        # One at a time, kept as made: a configure that fails half-way has its timers cleaned up too.
        for period, callback in ((QUEUE_CHECK_PERIOD, self._expire_queued), (s.diagnostics_period, self._trim_memory)):
            self._timers.append(self._node.create_timer(period, callback,
                                                        callback_group=MutuallyExclusiveCallbackGroup()))

    def activate(self) -> None:
        self._feedback_sender.start()
        self._accepting = True

    def deactivate(self, wait: float = 2.0) -> bool:
        """End every goal (SHUTDOWN) with its result sent; True if all did within ``wait`` s."""
        ended = self.end_all(wait)
        self._feedback_sender.stop()
        return ended

    def cleanup(self) -> None:
        self._feedback_sender.stop()  # stopped on deactivate already; a node torn down without it stops here
        for timer in self._timers:
            self._node.destroy_timer(timer)
        if self._server is not None:
            self._server.destroy()
        self._timers, self._server = [], None

    def status(self, prefix: str, now_ns: int) -> list:
        """The goals' diagnostics entry."""
        return [goals_status(prefix, self.stats, self.slots.running, self.slots.queued)]

    def _expire_queued(self) -> None:
        """Timer: queued goals that were canceled, or whose deadline passed, end now rather than when their
        turn comes."""
        self.slots.expire()

    def _trim_memory(self) -> None:
        """Timer (every ``diagnostics_period``): the memory the last goals freed goes back to the system, off
        the goals' own path, also while goals keep coming."""
        if self._trim_due:
            self._trim_due = False
            process_memory.trim()

    # ---------------------------------------------------------------------------------- goal intake
    def _on_goal(self, goal: Any) -> GoalResponse:
        if not self._accepting:
            self.stats.rejected += 1
            self._log.warning("goal rejected: the node is not active (shutting down, or inactive)")
            return GoalResponse.REJECT
        if not self.slots.admit():
            self.stats.rejected += 1
            self._log.warning(f"goal rejected: busy (busy_policy {self._settings().busy_policy})")
            return GoalResponse.REJECT
        self.stats.accepted += 1
        return GoalResponse.ACCEPT

    def _on_accepted(self, goal_handle: Any) -> None:
        """Validate and take a place in line in acceptance order; the slots start the execute callback.

        rclpy may start execute callbacks in any order, so the line is formed here. A goal that fails
        validation takes no place (and so preempts nothing); its execute callback reports INVALID_GOAL.
        """
        started = time.monotonic()
        goal_id = bytes(goal_handle.goal_id.uuid).hex()
        record = GoalRecord(slot=GoalSlot(goal_id), started=started, settings=self._settings(),
                            goal_uuid=bytes(goal_handle.goal_id.uuid))
        record.feedback = FeedbackThrottle(goal_handle, record.settings.feedback_rate, started,
                                           on_text=self._outputs.publish_reasoning, sender=self._feedback_sender)
        try:
            record.request = self._validate(goal_handle.request, record.settings, started)
            record.request.cancel = record.slot.stop  # cancel and preemption reach the decoding loop here
        except ReasonerError as e:
            record.error = e
        with self._records_lock:
            self._records[goal_id] = record
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
        with self._records_lock:
            record = self._records.get(bytes(goal_handle.goal_id.uuid).hex())
        if record is not None:
            # A running goal stops at its next decoding step; a queued one is started (to end CANCELED) by
            # the next ``_expire_queued``, after rclpy has marked it CANCELING.
            record.slot.client_canceled = True
            record.slot.cancel()
        return CancelResponse.ACCEPT

    # ------------------------------------------------------------------------------------ execution
    def _execute(self, goal_handle: Any) -> Any:
        goal_id = bytes(goal_handle.goal_id.uuid).hex()
        with self._records_lock:
            record = self._records[goal_id]
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
            self._take_model_from_watches(slot.stop)
            self._wait_for_model(settings, request.deadline, slot, feedback)
            feedback.stage(Stage.WAITING_FOR_FRAMES)
            request.clips = self._collect_clips(goal_handle.request, settings, request.deadline, slot)
            request.on_progress = feedback.progress
            outcome = self._model.reasoner(settings).run(request)
            depth.add_positions(outcome.objects, self._cameras().depth, settings, self._log.warning)
            feedback.flush()
            plan = plan_msg(outcome, goal_id, time.monotonic() - started, goal_handle.request.return_reasoning)
            self._outputs.publish_plan(plan, request.clips, settings)
            result.plan = plan
            result.error_code = Result.NONE
            self._record_success(plan)
            goal_handle.succeed()
        except ReasonerError as e:
            feedback.flush()
            self._fail(goal_handle, result, e, slot, goal_id, started)
        except Exception as e:  # a bug, not a model failure: keep serving, report UNKNOWN
            self._log.error(f"goal {goal_id[:8]} failed unexpectedly: {type(e).__name__}: {e}\n"
                            f"{traceback.format_exc().rstrip()}")
            result.error_code, result.error_msg = Result.UNKNOWN, f"{type(e).__name__}: {e}"
            result.plan = failed_plan(goal_handle.request, goal_id, time.monotonic() - started)
            self._count_failure(Result.UNKNOWN, result.error_msg)
            self._end(goal_handle, cancel=False)
        finally:
            self.slots.release(slot)
            with self._records_lock:
                self._records.pop(goal_id, None)
            self._trim_due = True
        return result

    def _take_model_from_watches(self, stop: threading.Event) -> None:
        """A running watch check lets go of the model before the goal uses it."""
        if not self._turn.take_for_goal(stop, WATCH_RELEASE_TIMEOUT) and not stop.is_set():
            self._log.warning(f"a watch check did not let go of the model within {WATCH_RELEASE_TIMEOUT:.0f} s")

    def _validate(self, goal: Any, s: Settings, started: float) -> TaskRequest:
        """Check the goal's fields; everything wrong with it becomes INVALID_GOAL with a reason."""
        max_new_tokens = goal.max_new_tokens or s.generation_max_new_tokens
        reasoner = self._model.reasoner(s)
        task, mode = reasoner.validate(goal.task, goal.mode, max_new_tokens)
        if mode is Mode.WATCH:
            raise InvalidRequestError("MODE_WATCH is for standing watches (the ~/add_watch service), not goals")
        clip_collection.frame_request(goal, s, list(self._cameras().cameras))  # cameras, history, frame count
        if not 0.0 <= goal.timeout <= 3600.0:
            raise InvalidRequestError(f"timeout {goal.timeout} s is outside 0..3600")
        timeout = goal.timeout or s.goal_timeout
        if goal.skills and mode not in PLANNING_MODES:
            raise InvalidRequestError(f"skills are for MODE_DECOMPOSE and MODE_NEXT_ACTION (mode {mode.name})")
        context = reasoner.validate_context(plan_context(goal, self.skills), mode)
        return TaskRequest(task=task, mode=mode, clips=[], max_new_tokens=max_new_tokens, deadline=started + timeout,
                           runs=reasoner.validate_runs(goal.critic_runs, mode),
                           ground_targets=reasoner.validate_ground_targets(goal.ground_targets, mode),
                           context=context)

    @staticmethod
    def _raise_stopped(slot: GoalSlot, where: str) -> None:
        if slot.stop.is_set():
            reason = "preempted" if slot.preempted else "stopped by shutdown" if slot.shutdown else "canceled"
            raise CanceledError(f"{reason} {where}")
        raise DeadlineExceededError(f"deadline passed {where}")

    def _wait_for_model(self, s: Settings, deadline: float, slot: GoalSlot, feedback: FeedbackThrottle) -> None:
        backend = self._model.backend
        if backend.ready:
            return
        if backend.state is BackendState.FAILED or s.model_wait_timeout <= 0:
            raise ModelNotReadyError(backend.not_ready_message())
        feedback.stage(Stage.WAITING_FOR_MODEL)
        until = min(time.monotonic() + s.model_wait_timeout, deadline)
        while not backend.ready:
            if slot.stop.wait(0.05):
                self._raise_stopped(slot, "while waiting for the model")
            if backend.state is BackendState.FAILED or time.monotonic() >= until:
                raise ModelNotReadyError(f"model {backend.model_id!r} not ready after waiting "
                                         f"{s.model_wait_timeout:.1f} s ({backend.state.value})")

    def _collect_clips(self, goal: Any, s: Settings, deadline: float, slot: GoalSlot) -> list[CameraClip]:
        """Wait (bounded) for fresh frames from every requested camera, choose and decode them (``clips``)."""
        cameras = self._cameras().cameras
        request = clip_collection.frame_request(goal, s, list(cameras))
        return clip_collection.collect_clips(
            cameras, request, s, deadline, slot.stop, lambda where: self._raise_stopped(slot, where),
            lambda: now_seconds(self._node), self._log.warning)

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
        self._log.warning(f"goal {goal_id[:8]} ended {code_name(code)}: {message}")
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
        self.stats.failed_by_code[name] = self.stats.failed_by_code.get(name, 0) + 1
        self.stats.last_error = f"{name}: {message}"

    def _record_success(self, plan: TaskPlan) -> None:
        stats = self.stats
        stats.succeeded += 1
        stats.last_total_time = plan.stats.total_time
        stats.last_time_to_first_token = plan.stats.time_to_first_token
        stats.last_tokens_per_second = plan.stats.tokens_per_second

    # -------------------------------------------------------------------------------------- shutdown
    def end_all(self, wait: float = 2.0, reason: str = "shutdown") -> bool:
        """Stop accepting goals; end every running and queued one (SHUTDOWN, or CANCELED for ``reason``
        "cancel"); wait up to ``wait`` s until each result has been handed to rclpy (and so sent to a
        client that asked for it). True if all did."""
        self._accepting = False
        with self._records_lock:
            records = list(self._records.values())
        for record in records:
            self.slots.stop(record.slot, reason)
        uuids = [r.goal_uuid for r in records]
        end = time.monotonic() + wait
        while time.monotonic() < end:
            with self._records_lock:
                pending = bool(self._records)
            if not pending and self._results_sent(uuids):
                return True
            time.sleep(0.01)
        return False

    def _results_sent(self, uuids: list[bytes]) -> bool:
        """Whether rclpy holds a finished result for every goal in ``uuids``. rclpy has no public way to ask:
        its ``_result_futures`` map is read where it exists (Humble to Kilted); elsewhere the execute
        callback's return is taken as the hand-over."""
        futures = getattr(self._server, "_result_futures", {}) if self._server is not None else {}
        return all(futures[u].done() for u in uuids if u in futures)

    def cancel_all(self, wait: float = 2.0) -> bool:
        """Cancel every running and queued goal (CANCELED) and wait for them; goals stay accepted after."""
        accepting = self._accepting
        try:
            return self.end_all(wait, reason="cancel")
        finally:
            self._accepting = accepting
