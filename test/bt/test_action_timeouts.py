"""ReasonAboutTask against an action server that withholds its answers (a fault-injecting double over real DDS):
a goal reply that never comes and a result that never comes each end in FAILURE with a message, and the goal is
canceled on the server, never left behind."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import py_trees
import pytest
from py_trees.common import Status

from cosmos_reason_ros.bt import ReasonAboutTask
from cosmos_reason_ros.bt.behaviours import ACCEPT_TIMEOUT, RESULT_GRACE, RESULT_TIMEOUT
from helpers.action_faults import NEVER_ANSWERS, NEVER_RESULTS, FaultInjectingReasonServer

pytestmark = pytest.mark.usefixtures("clean_blackboard")


def run_until_done(tree: py_trees.trees.BehaviourTree, limit: float = 20.0) -> list[str]:
    """Tick every 20 ms until the root finishes (``limit`` s guards against a hang); the feedback seen."""
    import time

    from helpers.ros_harness import Harness

    seen: list[str] = []

    def finished() -> bool:
        tree.tick()
        if tree.root.feedback_message not in seen:
            seen.append(tree.root.feedback_message)
        time.sleep(0.02)
        return tree.root.status != Status.RUNNING

    Harness.wait_for(finished, limit, "the behaviour to finish")
    return seen


@contextmanager
def reason_tree(server: FaultInjectingReasonServer, **timeouts: float) -> Iterator[tuple[ReasonAboutTask, Any]]:
    """A ReasonAboutTask toward ``server`` as the root of a tree set up on the server's client node; shut down
    on the way out."""
    reason = ReasonAboutTask("reason", "bring me the red cup", action_name=server.action_name, **timeouts)
    tree = py_trees.trees.BehaviourTree(reason)
    tree.setup(node=server.client_node, timeout=5.0)
    try:
        yield reason, tree
    finally:
        tree.shutdown()


def test_a_goal_reply_that_never_comes_fails_and_a_late_acceptance_is_canceled(rclpy_session):
    from helpers.ros_harness import Harness

    with FaultInjectingReasonServer(rclpy_session, "bt_unanswered", NEVER_ANSWERS) as server, \
            reason_tree(server, accept_timeout=0.5) as (reason, tree):
        seen = run_until_done(tree)
        assert reason.status == Status.FAILURE
        assert "sending goal" in seen
        assert reason.feedback_message == ("goal sent to /bt_unanswered/reason but neither accepted nor "
                                           "rejected within 0.5 s (the reply was lost?); goal canceled")
        assert server.requests == 1 and server.cancels == 0
        server.release()  # the reply arrives after all: the goal is accepted, and canceled at once
        Harness.wait_for(lambda: server.cancels == 1, 10, "the late-accepted goal to be canceled")


def test_a_goal_accepted_whose_reply_is_lost_is_canceled_by_its_id(rclpy_session, monkeypatch):
    """Humble's lost reply: the server accepted the goal and runs it, the client never heard; the behaviour fails
    on accept_timeout and cancels the goal on the server by the id it chose."""
    from cosmos_reason_ros.ros import action_client
    from helpers.action_faults import lost_goal_reply_client
    from helpers.ros_harness import Harness

    lossy = lost_goal_reply_client()
    monkeypatch.setattr(action_client, "SpinSafeActionClient", lossy)  # what setup() builds the client from
    with FaultInjectingReasonServer(rclpy_session, "bt_lost_reply", NEVER_RESULTS) as server, \
            reason_tree(server, accept_timeout=1.0) as (reason, tree):
        run_until_done(tree)
        assert reason.status == Status.FAILURE and reason.feedback_message.startswith(
            "goal sent to /bt_lost_reply/reason but neither accepted nor rejected within 1.0 s")
        assert server.requests == 1 and lossy.dropped == 1  # accepted there, the reply lost here
        Harness.wait_for(lambda: server.cancels == 1, 10, "the accepted goal to be canceled by its id")


def test_a_result_that_never_comes_fails_and_cancels_the_goal(rclpy_session):
    from helpers.ros_harness import Harness

    with FaultInjectingReasonServer(rclpy_session, "bt_resultless", NEVER_RESULTS) as server, \
            reason_tree(server, result_timeout=0.5) as (reason, tree):
        seen = run_until_done(tree)
        assert reason.status == Status.FAILURE
        assert "goal accepted" in seen  # it was accepted and then waited for its result
        assert reason.feedback_message == ("no result from /bt_resultless/reason within 0.5 s of acceptance; "
                                           "goal canceled")
        Harness.wait_for(lambda: server.cancels == 1, 10, "the goal to be canceled on the server")
        assert server.requests == 1
        # The tree ticks on: the behaviour starts over with a fresh goal (and its own timeouts).
        run_until_done(tree)
        assert reason.status == Status.FAILURE and server.requests == 2
        Harness.wait_for(lambda: server.cancels == 2, 10, "the second goal to be canceled")


def test_timeout_defaults_and_refusals():
    """One source for each default: the module's constants; result_timeout follows the goal's own timeout."""
    plain = ReasonAboutTask("r", "t")
    assert (plain.accept_timeout, plain.result_timeout) == (ACCEPT_TIMEOUT, RESULT_TIMEOUT)
    assert ReasonAboutTask("r", "t", goal_timeout=30.0).result_timeout == 30.0 + RESULT_GRACE
    assert ReasonAboutTask("r", "t", goal_timeout=30.0, result_timeout=5.0).result_timeout == 5.0
    for name in ("server_timeout", "accept_timeout", "result_timeout"):
        with pytest.raises(ValueError, match=f"{name} must be positive"):
            ReasonAboutTask("r", "t", **{name: 0.0})
