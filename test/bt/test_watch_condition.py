"""The py_trees WatchCondition against the real node: a watch's latched state over real DDS, ticked from the test."""
from __future__ import annotations

import py_trees
import pytest
from py_trees.common import Status

from cosmos_reason_ros.bt import WatchCondition

NODE = "bt_watches"
TOPIC = f"/{NODE}/watch_states"
QUESTION = "is a person in the arm's workspace?"


pytestmark = pytest.mark.usefixtures("clean_blackboard")


@pytest.fixture(scope="module")
def harness(rclpy_session, reason1_model):
    from helpers.fault_injection import ScriptedWatchAnswers, watch_answer
    from helpers.ros_harness import Camera, Harness

    params = {"model": str(reason1_model), "generation.max_new_tokens": 400, "frames.max_frames": 2,
              "watches.names": ["person"], "watches.person.question": QUESTION, "watches.person.period": 0.2,
              "watches.person.raise_after": 1, "watches.person.clear_after": 1,
              "watches.person.reasoning": True}  # scripted reasoning answers (ScriptedWatchAnswers)
    # Not ready yet: the scripted answers go in before the first watch check.
    with Harness.started(params, [Camera("front", f"/{NODE}/front/image_raw")], ready=False, node_name=NODE) as h:
        h.script = ScriptedWatchAnswers(h.node.parts.model.backend, defaults={QUESTION: watch_answer("uncertain")})
        h.wait_ready()
        yield h
        h.script.remove()


def tick_until(harness, tree, status: Status, timeout: float = 60.0) -> None:
    def ticked() -> bool:
        tree.tick()
        return tree.root.status == status

    harness.wait_for(ticked, timeout, f"the condition to be {status}; last: {tree.root.feedback_message}")


def condition_tree(harness, **kwargs) -> py_trees.trees.BehaviourTree:
    tree = py_trees.trees.BehaviourTree(WatchCondition("guard", "person", topic=TOPIC, **kwargs))
    tree.setup(node=harness.helper, timeout=5.0)
    return tree


def test_condition_follows_the_latched_watch_state(harness):
    from helpers.fault_injection import watch_answer

    guard, reaction = condition_tree(harness), condition_tree(harness, succeed_on="raised", state_key="/watch")
    lenient = condition_tree(harness, unknown_succeeds=True)
    # "uncertain" is no answer: the watch is UNKNOWN; a guard fails, unless UNKNOWN is allowed to pass
    tick_until(harness, guard, Status.FAILURE)
    tick_until(harness, lenient, Status.SUCCESS)
    assert "UNKNOWN" in guard.root.feedback_message
    harness.script.defaults[QUESTION] = watch_answer("yes")
    tick_until(harness, reaction, Status.SUCCESS)
    assert py_trees.blackboard.Blackboard.get("/watch").state == 2
    guard.tick()
    assert guard.root.status == Status.FAILURE and "RAISED" in guard.root.feedback_message
    harness.script.defaults[QUESTION] = watch_answer("no")
    tick_until(harness, guard, Status.SUCCESS)
    assert "CLEARED" in guard.root.feedback_message
    # a condition set up late sees the current state at once (transient local)
    late = condition_tree(harness)
    tick_until(harness, late, Status.SUCCESS, timeout=10.0)
    for tree in (guard, reaction, lenient, late):
        tree.shutdown()


def test_unknown_watch_name_and_no_states_are_failure(harness, rclpy_session):
    tree = py_trees.trees.BehaviourTree(WatchCondition("guard", "nope", topic=TOPIC))
    tree.setup(node=harness.helper, timeout=5.0)
    tick_until(harness, tree, Status.FAILURE)
    harness.wait_for(lambda: (tree.tick() or True) and "no watch named 'nope'" in tree.root.feedback_message, 10.0,
                     "the states to arrive")
    tree.shutdown()


def test_construction_needs_no_ros_and_refuses_bad_arguments():
    condition = WatchCondition("guard", "person")
    assert condition.topic == "/cosmos_reasoner/watch_states" and condition.succeed_on == "cleared"
    with pytest.raises(ValueError, match="succeed_on"):
        WatchCondition("guard", "person", succeed_on="maybe")
    with pytest.raises(RuntimeError, match="setup"):
        condition.update()
