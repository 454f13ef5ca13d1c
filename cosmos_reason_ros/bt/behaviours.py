"""py_trees behaviours for the reasoner's ``ReasonAboutTask`` action, without py_trees_ros.

``ReasonAboutTask`` sends one goal per run of the behaviour and never blocks a tick: the caller's rclpy
executor spins the node that ``setup(node=...)`` received (in another thread, or by ticking from a timer of
that node), and ``update()`` only polls futures. ``IterateSubtasks`` walks the resulting plan step by step.
Constructing either needs no ROS at all (no rclpy.init, no node); ROS imports happen in ``setup``.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import py_trees
from py_trees.common import Access, Status

from cosmos_reason_ros.core.datatypes import Verdict
from cosmos_reason_ros.core.names import mode_value, stage_name, verdict_name

_log = logging.getLogger(__name__)

#: s from sending a goal to the node's answer (accepted or rejected), default of ``accept_timeout``. The node
#: answers in milliseconds; a reply that never comes (Humble's rclpy before 3.3.18 could drop it: the request
#: went out before the client registered its future) must not leave the behaviour RUNNING forever.
ACCEPT_TIMEOUT = 10.0
#: s from acceptance to the result when the goal sets no ``goal_timeout`` (the node then applies its own
#: ``goal_timeout`` parameter, 120 s by default), default of ``result_timeout``.
RESULT_TIMEOUT = 300.0
#: s a result may take to arrive after the goal's own ``goal_timeout`` (the node ends it TIMEOUT by then).
RESULT_GRACE = 10.0

#: ``succeed_on`` choices → the verdicts that count as SUCCESS (None: any plan the node returned).
SUCCEED_ON: dict[str, frozenset[int] | None] = {
    "any_plan": None,
    "feasible": frozenset({int(Verdict.FEASIBLE)}),
    "infeasible": frozenset({int(Verdict.INFEASIBLE)}),
}


class ReasonAboutTask(py_trees.behaviour.Behaviour):
    """Ask the reasoner about a task; RUNNING while it thinks, then SUCCESS or FAILURE by ``succeed_on``.

    ``succeed_on``:
      * ``"any_plan"``: SUCCESS whenever the node returned a plan (error code NONE), whatever the verdict.
        Use it with modes whose answer is not a verdict (next, verify, question), or when a later node
        inspects the verdict on the blackboard.
      * ``"feasible"``: SUCCESS only for a plan whose verdict is FEASIBLE; INFEASIBLE, UNCERTAIN and UNKNOWN
        (modes that give no verdict) are FAILURE. The guard before acting on a plan.
      * ``"infeasible"``: SUCCESS only for verdict INFEASIBLE: the condition of a recovery branch
        ("if the task is blocked, ask for help").
    Any error code (NO_FRAMES, TIMEOUT, ...) is FAILURE, with the code's name in ``feedback_message``.

    Timeouts, each FAILURE with a ``feedback_message`` that says which: ``server_timeout`` (no action server),
    ``accept_timeout`` (the goal was sent but the node never answered it; canceled by its id, in case only
    the reply was lost, and again if the reply comes later)
    and ``result_timeout`` (accepted, but no result; the goal is canceled on the node). ``result_timeout``
    None: ``goal_timeout`` + ``RESULT_GRACE`` when the goal sets one, else ``RESULT_TIMEOUT``.

    Blackboard: on every plan the node returns (whatever ``succeed_on`` decides) the TaskPlan is written to
    ``plan_key`` and its FeasibilityJudgment to ``feasibility_key``; both are cleared when a new goal is
    sent, so no later node acts on the plan of an earlier goal. With ``task_key`` the task text is read from
    the blackboard each time the behaviour starts; a missing or empty text is FAILURE without a goal.

    Interrupted by the tree (``stop(INVALID)``, e.g. a higher-priority branch took over) while a goal
    runs, the goal is canceled on the node; a goal still waiting for acceptance is canceled on acceptance.
    """

    def __init__(self, name: str, task: str | None = None, *, task_key: str | None = None,
                 mode: str | int = "decompose", cameras: Sequence[str] = (),
                 action_name: str = "/cosmos_reasoner/reason", succeed_on: str = "any_plan",
                 server_timeout: float = 5.0, plan_key: str = "/cosmos/plan",
                 feasibility_key: str = "/cosmos/feasibility", history_seconds: float = 0.0,
                 max_frames: int = 0, max_new_tokens: int = 0, goal_timeout: float = 0.0,
                 return_reasoning: bool = True, accept_timeout: float = ACCEPT_TIMEOUT,
                 result_timeout: float | None = None) -> None:
        super().__init__(name)
        if (task is None) == (task_key is None):
            raise ValueError("give exactly one of task (the text) and task_key (a blackboard key holding it)")
        if succeed_on not in SUCCEED_ON:
            raise ValueError(f"succeed_on must be one of {sorted(SUCCEED_ON)}, not {succeed_on!r}")
        for label, value in (("server_timeout", server_timeout), ("accept_timeout", accept_timeout),
                             ("result_timeout", result_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{label} must be positive seconds, not {value!r}")
        self.task, self.task_key = task, task_key
        self.mode = mode_value(mode)
        self.cameras = list(cameras)
        self.action_name = action_name
        self.succeed_on = succeed_on
        self.server_timeout = server_timeout
        self.accept_timeout = accept_timeout
        if result_timeout is None:
            result_timeout = goal_timeout + RESULT_GRACE if goal_timeout > 0 else RESULT_TIMEOUT
        self.result_timeout = result_timeout
        self.plan_key, self.feasibility_key = plan_key, feasibility_key
        self.goal_fields = {"history_seconds": float(history_seconds), "max_frames": int(max_frames),
                            "max_new_tokens": int(max_new_tokens), "timeout": float(goal_timeout),
                            "return_reasoning": bool(return_reasoning)}
        self.blackboard = self.attach_blackboard_client(name=name)
        self.blackboard.register_key(plan_key, access=Access.WRITE)
        self.blackboard.register_key(feasibility_key, access=Access.WRITE)
        if task_key is not None:
            self.blackboard.register_key(task_key, access=Access.READ)
        self.last_feedback: Any = None  # the newest ReasonAboutTask.Feedback of the running goal
        self.result: Any = None  # the ReasonAboutTask.Result of the last goal that ended
        self._client: Any = None
        self._action: Any = None
        self._goal_handle_type: Any = None
        self._uuid_type: Any = None
        self._reset_goal()

    # ------------------------------------------------------------------------------------ lifecycle
    def setup(self, **kwargs: Any) -> None:
        """Create the action client on ``node`` (a keyword argument, as py_trees_ros passes it)."""
        node = kwargs.get("node")
        if node is None:
            raise KeyError(f"{self.name}: setup() needs node=<rclpy Node> (tree.setup(node=node))")
        from rclpy.action.client import ClientGoalHandle
        from unique_identifier_msgs.msg import UUID

        from cosmos_reason_ros.action import ReasonAboutTask as Action
        from cosmos_reason_ros.ros.action_client import SpinSafeActionClient  # the node may be spinning already

        self._action, self._goal_handle_type, self._uuid_type = Action, ClientGoalHandle, UUID
        self._client = SpinSafeActionClient(node, Action, self.action_name)

    def initialise(self) -> None:
        """Start a new goal: clear the previous plan and send the goal if the server is there."""
        if self._client is None:
            raise RuntimeError(f"{self.name}: call setup(node=...) before ticking")
        self._reset_goal()
        self.blackboard.unset(self.plan_key)
        self.blackboard.unset(self.feasibility_key)
        self.feedback_message = "waiting for the action server"
        if self._client.server_is_ready():
            self._send_goal()

    def update(self) -> Status:
        if self._goal_future is None and self._failure is None:
            if not self._client.server_is_ready():
                if time.monotonic() - self._started < self.server_timeout:
                    return Status.RUNNING
                self._failure = (f"action server {self.action_name} not available after "
                                 f"{self.server_timeout:.1f} s (is the reasoner running?)")
            else:
                self._send_goal()
        if self._failure is not None:
            self.feedback_message = self._failure
            return Status.FAILURE
        now = time.monotonic()
        if not self._goal_future.done():
            if now - self._sent_at < self.accept_timeout:
                self.feedback_message = "sending goal"
                return Status.RUNNING
            self._cancel_unanswered()
            self._failure = (f"goal sent to {self.action_name} but neither accepted nor rejected within "
                             f"{self.accept_timeout:.1f} s (the reply was lost?); goal canceled")
            self.feedback_message = self._failure
            return Status.FAILURE
        handle = self._goal_future.result()
        if not handle.accepted:
            self.feedback_message = f"goal rejected by {self.action_name} (busy_policy reject?)"
            return Status.FAILURE
        if self._result_future is None:
            self._result_future = handle.get_result_async()
            self._accepted_at = now
        if not self._result_future.done():
            if now - self._accepted_at < self.result_timeout:
                self.feedback_message = self._progress()
                return Status.RUNNING
            self._cancel_goal()
            self._failure = (f"no result from {self.action_name} within {self.result_timeout:.1f} s of "
                             "acceptance; goal canceled")
            self.feedback_message = self._failure
            return Status.FAILURE
        return self._conclude(self._result_future.result().result)

    def terminate(self, new_status: Status) -> None:
        """Cancel the goal when the tree interrupts this behaviour (INVALID) before the goal ended."""
        if new_status == Status.INVALID:
            self._cancel_goal()

    def shutdown(self) -> None:
        """Cancel a goal still running and release the action client (``tree.shutdown()``)."""
        self._cancel_goal()
        if self._client is not None:
            self._client.destroy()
            self._client = None

    # ---------------------------------------------------------------------------------------- goals
    def _reset_goal(self) -> None:
        self._goal_future: Any = None
        self._result_future: Any = None
        self._goal_id: Any = None  # the goal's unique_identifier_msgs/UUID (chosen by _send_goal)
        self._failure: str | None = None
        self._started = time.monotonic()
        self._sent_at = self._accepted_at = self._started  # set when the goal is sent, and when accepted
        self.last_feedback = None

    def _send_goal(self) -> None:
        task = self.task
        if self.task_key is not None:
            task = self.blackboard.get(self.task_key) if self.blackboard.exists(self.task_key) else None
            if not isinstance(task, str) or not task.strip():
                self._failure = f"no task text on the blackboard at {self.task_key!r} (got {task!r})"
                return
        goal = self._action.Goal(task=task, mode=self.mode, cameras=self.cameras, **self.goal_fields)
        self._goal_id = self._uuid_type(uuid=list(uuid.uuid4().bytes))  # ours: cancellable without the reply
        self._sent_at = time.monotonic()
        self._goal_future = self._client.send_goal_async(goal, feedback_callback=self._on_feedback,
                                                         goal_uuid=self._goal_id)
        _log.debug("%s: sent goal %r (mode %d) to %s", self.name, task, self.mode, self.action_name)

    def _on_feedback(self, message: Any) -> None:
        self.last_feedback = message.feedback  # executor thread; read by update() in the tick thread

    def _progress(self) -> str:
        feedback = self.last_feedback
        if feedback is None:
            return "goal accepted"
        return f"{stage_name(feedback.stage)}: {feedback.tokens_generated} tokens, {feedback.elapsed:.1f} s"

    def _conclude(self, result: Any) -> Status:
        from cosmos_reason_ros.ros.goals.error_codes import code_name

        self.result = result
        if result.error_code != self._action.Result.NONE:
            self.feedback_message = f"{code_name(result.error_code)}: {result.error_msg}"
            return Status.FAILURE
        plan = result.plan
        self.blackboard.set(self.plan_key, plan)
        self.blackboard.set(self.feasibility_key, plan.feasibility)
        verdict = plan.feasibility.verdict
        wanted = SUCCEED_ON[self.succeed_on]
        ok = wanted is None or verdict in wanted
        self.feedback_message = (f"verdict {verdict_name(verdict)}, {len(plan.subtasks)} step(s)"
                                 + ("" if ok else f" (succeed_on {self.succeed_on!r})"))
        return Status.SUCCESS if ok else Status.FAILURE

    def _cancel_goal(self) -> None:
        """Cancel the in-flight goal, if any; one still being accepted is canceled once it is."""
        future, self._goal_future = self._goal_future, None
        done = self._result_future is not None and self._result_future.done()
        self._result_future = None
        if future is None or done:
            return
        if future.done():
            self._cancel_handle(future)
        else:
            future.add_done_callback(self._cancel_handle)
        _log.debug("%s: canceling its goal", self.name)

    def _cancel_unanswered(self) -> None:
        """Cancel a goal whose reply never came: the node may have accepted it and lost only the reply, so
        cancel it by its id now, and once more should the reply arrive after all."""
        if self._goal_id is not None:
            accepted = self._action.Impl.SendGoalService.Response(accepted=True)
            self._goal_handle_type(self._client, self._goal_id, accepted).cancel_goal_async()
        self._cancel_goal()

    @staticmethod
    def _cancel_handle(goal_future: Any) -> None:
        handle = goal_future.result()
        if handle is not None and handle.accepted:
            handle.cancel_goal_async()


class IterateSubtasks(py_trees.decorators.Decorator):
    """Run ``child`` once per subtask of the plan on the blackboard, in order.

    When it starts, the decorator reads the TaskPlan at ``plan_key`` and writes its first Subtask to
    ``subtask_key``; the child reads the step from there and acts on it. Each time the child succeeds the
    next step is written and the child runs again from the next tick; after the last step succeeds the
    decorator succeeds. The child failing fails the decorator (``feedback_message`` names the step), so a
    retry or replanning branch can take over. No plan, or a plan without subtasks, is FAILURE: there is
    nothing to do, and acting on nothing is rarely what a tree meant. The child is ticked once before the
    decorator can fail for a missing plan, so it should fail when ``subtask_key`` is unset (it is cleared).
    """

    def __init__(self, name: str, child: py_trees.behaviour.Behaviour, *, plan_key: str = "/cosmos/plan",
                 subtask_key: str = "/cosmos/subtask") -> None:
        super().__init__(name=name, child=child)
        self.plan_key, self.subtask_key = plan_key, subtask_key
        self.blackboard = self.attach_blackboard_client(name=name)
        self.blackboard.register_key(plan_key, access=Access.READ)
        self.blackboard.register_key(subtask_key, access=Access.WRITE)
        self.steps: list[Any] = []
        self.index = 0

    def initialise(self) -> None:
        plan = self.blackboard.get(self.plan_key) if self.blackboard.exists(self.plan_key) else None
        self.steps = list(plan.subtasks) if plan is not None else []
        self.index = 0
        if self.steps:
            self._expose()
        else:
            self.blackboard.unset(self.subtask_key)
            self.feedback_message = (f"no plan at {self.plan_key!r}" if plan is None
                                     else "the plan has no subtasks")

    def update(self) -> Status:
        if not self.steps:
            return Status.FAILURE
        status = self.decorated.status
        if status == Status.FAILURE:
            self.feedback_message = f"step {self._position()} failed: {self.steps[self.index].description}"
            return Status.FAILURE
        if status != Status.SUCCESS:
            return Status.RUNNING
        self.index += 1
        if self.index == len(self.steps):
            self.feedback_message = f"all {len(self.steps)} steps done"
            return Status.SUCCESS
        self._expose()
        return Status.RUNNING

    def _position(self) -> str:
        return f"{self.index + 1}/{len(self.steps)}"

    def _expose(self) -> None:
        step = self.steps[self.index]
        self.blackboard.set(self.subtask_key, step)
        self.feedback_message = f"step {self._position()}: {step.action or step.description}"
