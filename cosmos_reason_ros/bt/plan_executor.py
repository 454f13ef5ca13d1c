"""``PlanExecutor``: plan a task in the robot's skills, run each step's skill, verify it, re-plan on failure.

The loop (one py_trees behaviour; it never blocks a tick, like ``ReasonAboutTask``):

1. **Plan**: a MODE_DECOMPOSE goal with the task, the goal's skills, and what happened so far (``history``,
   ``current_plan``; empty the first time).
2. **Dispatch** each step to the behaviour registered under its skill name (``skills``; without a skill
   library, under its ``action``). The behaviour reads the step (a ``Subtask`` with typed ``arguments``) from
   the blackboard and is ticked until it ends; a FAILURE's ``feedback_message`` is the failure's reason.
3. **Verify** a step that has a success criterion: a MODE_VERIFY_COMPLETION goal with the step's
   ``success_criterion`` against the recent video. Not seen done is a failure of the step.
4. A failed step is retried up to ``step_retries`` times, then the task is **re-planned** with the history (every
   step executed so far, SUCCEEDED or FAILED with its reason), at most ``max_replans`` times. A re-plan that
   finds the task done (TaskPlan.completion COMPLETION_DONE, no steps) ends it successfully.

Every outcome is on the blackboard under ``key_prefix``: ``plan`` (the TaskPlan being executed), ``step``
(the Subtask being run), ``history`` (ExecutedStep messages), ``replans`` (count), ``outcome`` (one of
``OUTCOMES``) and ``outcome_detail`` (why). Constructing it needs no ROS; ``setup(node=...)`` makes the action
client and sets up the skill behaviours with the same arguments.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import py_trees
from py_trees.common import Access, Status

_log = logging.getLogger(__name__)

#: The executor's outcomes (blackboard ``<key_prefix>/outcome``): SUCCESS only for "succeeded".
OUTCOMES: dict[str, str] = {
    "running": "the executor is running",
    "succeeded": "every step ran and was verified, or a re-plan found the task done",
    "infeasible": "the plan has no steps: the reasoner judged the task infeasible (or gave none)",
    "not_dispatchable": "a step names no declared skill or has an invalid argument (TaskPlan.dispatch BLOCKED)",
    "no_behaviour": "a step's skill has no registered behaviour",
    "planning_failed": "a planning goal failed (its error code in the detail)",
    "verify_failed": "a verification goal failed (its error code in the detail)",
    "step_failed": "a step failed and the retries and re-plans are used up",
}


def arguments_of(step: Any) -> dict[str, str | float]:
    """A step's typed arguments as a dict: numbers as float (in their declared unit), the rest as text."""
    from cosmos_reason_ros.msg import SkillArgument

    return {a.name: a.number if a.type == SkillArgument.TYPE_NUMBER else a.text for a in step.arguments}


class _GoalCall:
    """One goal on the reasoner's action, polled from ticks: waits (bounded) for the server, then for the result."""

    def __init__(self, client: Any, action_name: str, server_timeout: float) -> None:
        self._client, self._action_name, self._server_timeout = client, action_name, server_timeout
        self._goal: Any = None
        self._goal_future: Any = None
        self._result_future: Any = None
        self._started = 0.0

    def start(self, goal: Any) -> None:
        self.cancel()
        self._goal, self._started = goal, time.monotonic()

    def poll(self) -> tuple[bool, Any, str]:
        """(finished, the Result when there is one, why there is none)."""
        if self._goal_future is None:
            if not self._client.server_is_ready():
                if time.monotonic() - self._started < self._server_timeout:
                    return False, None, ""
                return True, None, (f"action server {self._action_name} not available after "
                                    f"{self._server_timeout:.1f} s (is the reasoner running?)")
            self._goal_future = self._client.send_goal_async(self._goal)
        if not self._goal_future.done():
            return False, None, ""
        handle = self._goal_future.result()
        if not handle.accepted:
            return True, None, f"goal rejected by {self._action_name}"
        if self._result_future is None:
            self._result_future = handle.get_result_async()
        if not self._result_future.done():
            return False, None, ""
        result = self._result_future.result().result
        self._goal_future = self._result_future = None
        return True, result, ""

    def cancel(self) -> None:
        """Cancel a goal in flight (one still being accepted is canceled on acceptance)."""
        future, self._goal_future, self._result_future = self._goal_future, None, None
        if future is None:
            return
        if future.done():
            _cancel_handle(future)
        else:
            future.add_done_callback(_cancel_handle)


def _cancel_handle(goal_future: Any) -> None:
    handle = goal_future.result()
    if handle is not None and handle.accepted:
        handle.cancel_goal_async()


class PlanExecutor(py_trees.behaviour.Behaviour):
    """Plan → dispatch → verify → re-plan, bounded; SUCCESS when the task is done, FAILURE with an outcome.

    ``skills`` maps a skill name to the behaviour (a leaf or a subtree) that runs it; ``goal_skills`` are
    ``cosmos_reason_ros/Skill`` messages sent with every planning goal (added to the node's ``skills.*``
    parameters; empty = the node's alone). ``verify``: check each step's success criterion against the camera
    before the next. ``step_retries``: times a failed step is run again before re-planning; ``max_replans``:
    re-plans before giving up. ``planning_mode``: "decompose" (the whole rest of the plan each time).
    """

    def __init__(self, name: str, task: str, skills: Mapping[str, py_trees.behaviour.Behaviour], *,
                 goal_skills: Sequence[Any] = (), action_name: str = "/cosmos_reasoner/reason",
                 cameras: Sequence[str] = (), verify: bool = True, max_replans: int = 2, step_retries: int = 0,
                 server_timeout: float = 5.0, goal_timeout: float = 0.0, max_new_tokens: int = 0,
                 key_prefix: str = "/cosmos/executor") -> None:
        super().__init__(name)
        if not task.strip():
            raise ValueError("task is empty")
        if max_replans < 0 or step_retries < 0:
            raise ValueError("max_replans and step_retries are counts (0 or more)")
        self.task, self.skills, self.goal_skills = task, dict(skills), list(goal_skills)
        self.action_name, self.cameras, self.verify = action_name, list(cameras), verify
        self.max_replans, self.step_retries, self.server_timeout = max_replans, step_retries, server_timeout
        self.goal_fields = {"timeout": float(goal_timeout), "max_new_tokens": int(max_new_tokens),
                            "return_reasoning": False}
        self.keys = {k: f"{key_prefix}/{k}" for k in ("plan", "step", "history", "replans", "outcome",
                                                       "outcome_detail")}
        self.blackboard = self.attach_blackboard_client(name=name)
        for key in self.keys.values():
            self.blackboard.register_key(key, access=Access.WRITE)
        self._action: Any = None
        self._client: Any = None
        self._call: _GoalCall | None = None
        self._reset()

    # ------------------------------------------------------------------------------------ lifecycle
    def setup(self, **kwargs: Any) -> None:
        """The action client on ``node`` (keyword, as py_trees_ros passes it); the skill behaviours' setup."""
        node = kwargs.get("node")
        if node is None:
            raise KeyError(f"{self.name}: setup() needs node=<rclpy Node> (tree.setup(node=node))")
        from cosmos_reason_ros.action import ReasonAboutTask
        from cosmos_reason_ros.ros.action_client import SpinSafeActionClient

        self._action = ReasonAboutTask
        self._client = SpinSafeActionClient(node, ReasonAboutTask, self.action_name)
        self._call = _GoalCall(self._client, self.action_name, self.server_timeout)
        for behaviour in self.skills.values():
            for node_in_tree in behaviour.iterate():
                node_in_tree.setup(**kwargs)

    def initialise(self) -> None:
        """A fresh run: empty history, the first planning goal sent."""
        if self._call is None:
            raise RuntimeError(f"{self.name}: call setup(node=...) before ticking")
        self._reset()
        self.blackboard.set(self.keys["history"], [])
        self.blackboard.set(self.keys["replans"], 0)
        self.blackboard.unset(self.keys["plan"])
        self.blackboard.unset(self.keys["step"])
        self._set_outcome("running", "planning")
        self._plan()

    def update(self) -> Status:
        if self._state == "plan":
            return self._on_plan()
        if self._state == "step":
            return self._on_step()
        if self._state == "verify":
            return self._on_verify()
        return self.status

    def terminate(self, new_status: Status) -> None:
        """Interrupted (INVALID): cancel the goal in flight and stop the running skill."""
        if new_status != Status.INVALID:
            return
        if self._call is not None:
            self._call.cancel()
        if self._running is not None and self._running.status == Status.RUNNING:
            self._running.stop(Status.INVALID)

    def shutdown(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._client is not None:
            self._client.destroy()
            self._client = None
        for behaviour in self.skills.values():
            for node_in_tree in behaviour.iterate():
                node_in_tree.shutdown()

    # ----------------------------------------------------------------------------------------- state
    def _reset(self) -> None:
        self._state = "plan"
        self._steps: list[Any] = []
        self._index = 0
        self._retries = 0
        self._replans = 0
        self._history: list[Any] = []
        self._running: py_trees.behaviour.Behaviour | None = None

    def _set_outcome(self, outcome: str, detail: str) -> None:
        self.blackboard.set(self.keys["outcome"], outcome)
        self.blackboard.set(self.keys["outcome_detail"], detail)
        self.feedback_message = f"{outcome}: {detail}" if outcome != "running" else detail

    def _finish(self, outcome: str, detail: str) -> Status:
        self._state = "done"
        self._set_outcome(outcome, detail)
        _log.info("%s: %s (%s)", self.name, outcome, detail)
        return Status.SUCCESS if outcome == "succeeded" else Status.FAILURE

    def _goal(self, mode: int, **fields: Any) -> Any:
        return self._action.Goal(task=self.task, mode=mode, cameras=self.cameras, **self.goal_fields, **fields)

    # -------------------------------------------------------------------------------------- planning
    def _plan(self) -> None:
        Goal = self._action.Goal
        self._state = "plan"
        assert self._call is not None
        self._call.start(self._goal(Goal.MODE_DECOMPOSE, skills=self.goal_skills, history=list(self._history),
                                    current_plan=list(self._steps) if self._history else []))

    def _goal_result(self) -> tuple[bool, Any, str]:
        """(finished, plan, failure) of the goal in flight."""
        from cosmos_reason_ros.ros.goals.error_codes import code_name

        assert self._call is not None
        finished, result, failure = self._call.poll()
        if not finished:
            return False, None, ""
        if result is None:
            return True, None, failure
        if result.error_code != self._action.Result.NONE:
            return True, None, f"{code_name(result.error_code)}: {result.error_msg}"
        return True, result.plan, ""

    def _on_plan(self) -> Status:
        from cosmos_reason_ros.msg import TaskPlan

        finished, plan, failure = self._goal_result()
        if not finished:
            return Status.RUNNING
        if plan is None:
            return self._finish("planning_failed", failure)
        self.blackboard.set(self.keys["plan"], plan)
        if plan.completion == TaskPlan.COMPLETION_DONE and not plan.subtasks:
            return self._finish("succeeded", f"the reasoner found the task done: {plan.answer}")
        if plan.dispatch == TaskPlan.DISPATCH_BLOCKED:
            return self._finish("not_dispatchable", plan.dispatch_problem)
        if not plan.subtasks:
            factors = "; ".join(plan.feasibility.blocking_factors)
            return self._finish("infeasible", factors or plan.feasibility.explanation or plan.answer)
        self._steps, self._index, self._retries = list(plan.subtasks), 0, 0
        return self._start_step()

    # ----------------------------------------------------------------------------------------- steps
    def _start_step(self) -> Status:
        step = self._steps[self._index]
        name = step.skill or step.action
        behaviour = self.skills.get(name)
        if behaviour is None:
            return self._finish("no_behaviour", f"step {self._index + 1} needs skill {name!r}; registered: "
                                                f"{', '.join(sorted(self.skills)) or 'none'}")
        self._state, self._running = "step", behaviour
        self.blackboard.set(self.keys["step"], step)
        self._set_outcome("running", f"step {self._index + 1}/{len(self._steps)}: {name} "
                                     f"{arguments_of(step) or step.description}")
        return self._on_step()

    def _on_step(self) -> Status:
        behaviour = self._running
        assert behaviour is not None
        behaviour.tick_once()
        if behaviour.status == Status.RUNNING:
            return Status.RUNNING
        step = self._steps[self._index]
        if behaviour.status != Status.SUCCESS:
            return self._step_failed(behaviour.feedback_message or f"skill {behaviour.name!r} failed")
        if self.verify and step.success_criterion:
            self._state = "verify"
            self._set_outcome("running", f"verifying step {self._index + 1}: {step.success_criterion}")
            assert self._call is not None
            self._call.start(self._goal(self._action.Goal.MODE_VERIFY_COMPLETION,
                                        success_criterion=step.success_criterion))
            return Status.RUNNING
        return self._step_succeeded("")

    def _on_verify(self) -> Status:
        from cosmos_reason_ros.msg import TaskPlan

        finished, plan, failure = self._goal_result()
        if not finished:
            return Status.RUNNING
        if plan is None:
            return self._finish("verify_failed", failure)
        if plan.completion == TaskPlan.COMPLETION_DONE:
            return self._step_succeeded(plan.answer)
        step = self._steps[self._index]
        return self._step_failed(f"not seen done: {step.success_criterion}" + (f" ({plan.answer})" if plan.answer
                                                                                else ""))

    def _record(self, outcome: int, reason: str) -> None:
        from cosmos_reason_ros.msg import ExecutedStep

        self._history.append(ExecutedStep(step=self._steps[self._index], outcome=outcome, reason=reason))
        self.blackboard.set(self.keys["history"], list(self._history))

    def _step_succeeded(self, note: str) -> Status:
        from cosmos_reason_ros.msg import ExecutedStep

        self._record(ExecutedStep.OUTCOME_SUCCEEDED, note)
        self._index, self._retries = self._index + 1, 0
        if self._index == len(self._steps):
            return self._finish("succeeded", f"all {len(self._steps)} step(s) done after {self._replans} re-plan(s)")
        return self._start_step()

    def _step_failed(self, reason: str) -> Status:
        from cosmos_reason_ros.msg import ExecutedStep

        self._record(ExecutedStep.OUTCOME_FAILED, reason)
        if self._retries < self.step_retries:
            self._retries += 1
            return self._start_step()
        if self._replans >= self.max_replans:
            return self._finish("step_failed", f"step {self._index + 1} failed ({reason}) after "
                                               f"{self._replans} re-plan(s)")
        self._replans += 1
        self.blackboard.set(self.keys["replans"], self._replans)
        self._set_outcome("running", f"re-planning ({self._replans}/{self.max_replans}) after: {reason}")
        self._plan()
        return Status.RUNNING


__all__ = ["OUTCOMES", "PlanExecutor", "arguments_of"]
