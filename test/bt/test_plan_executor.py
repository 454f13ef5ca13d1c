"""``PlanExecutor`` against the real node over DDS, with the tiny model taught a plan in skills: dispatch, verify,
a failed step re-planned with its history, a plan that is not dispatchable, a skill without a behaviour; and the
runnable example, as a user runs it (its own process)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import py_trees
import pytest
from py_trees.common import Access, Status

from cosmos_reason_ros.bt import OUTCOMES, PlanExecutor, arguments_of
from cosmos_reason_ros.msg import ExecutedStep, Skill
from helpers.paths import REPO

pytestmark = pytest.mark.usefixtures("clean_blackboard")
PICK = Skill(name="pick", arguments=["object: object", "grip: choice gentle|firm"], synonyms=["grab"])
PLACE = Skill(name="place", arguments=["object: object", "location: location", "height?: number m 0..0.3"])


@pytest.fixture(scope="module")
def harness(rclpy_session, skills_model):
    """The skills model on a node named like the default (no skill parameters: the goals carry them)."""
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(skills_model), "generation.max_new_tokens": 64},
                         [Camera("front", "/test_executor/front/image_raw")]) as h:
        yield h


class Skilled(py_trees.behaviour.Behaviour):
    """A simulated skill: RUNNING one tick, then SUCCESS, or FAILURE (with a reason) on its first ``failures`` runs."""

    def __init__(self, name: str, failures: int = 0) -> None:
        super().__init__(name)
        self.failures, self.calls = failures, []
        self.board = self.attach_blackboard_client(name=f"{name} skill")
        self.board.register_key("/cosmos/executor/step", access=Access.READ)

    def initialise(self) -> None:
        self.calls.append(arguments_of(self.board.get("/cosmos/executor/step")))
        self.ticked = False

    def update(self) -> Status:
        if not self.ticked:
            self.ticked = True
            return Status.RUNNING
        if len(self.calls) <= self.failures:
            self.feedback_message = "the cup slipped from the gripper"
            return Status.FAILURE
        return Status.SUCCESS


def run(harness, executor: PlanExecutor, timeout: float = 120.0) -> dict:
    tree = py_trees.trees.BehaviourTree(executor)
    tree.setup(node=harness.helper, timeout=5.0)
    try:
        end = time.monotonic() + timeout
        tree.tick()
        while executor.status == Status.RUNNING:
            assert time.monotonic() < end, executor.feedback_message
            time.sleep(0.02)
            tree.tick()
    finally:
        tree.shutdown()
    board = executor.blackboard
    return {name: board.get(key) if board.exists(key) else None for name, key in executor.keys.items()}


def test_a_failed_step_is_replanned_with_its_history_and_the_new_plan_succeeds(harness):
    pick, place = Skilled("pick", failures=1), Skilled("place")
    executor = PlanExecutor("execute", "put the red cup on the tray", {"pick": pick, "place": place},
                            goal_skills=[PICK, PLACE], max_replans=1)
    board = run(harness, executor)
    assert executor.status == Status.SUCCESS, board
    assert board["outcome"] == "succeeded" and board["replans"] == 1
    assert pick.calls == [{"object": "red cup", "grip": "firm"}] * 2
    assert place.calls == [{"object": "red cup", "location": "tray", "height": pytest.approx(0.05)}]
    history = [(e.step.skill, e.outcome, e.reason) for e in board["history"]]
    assert history[0] == ("pick", ExecutedStep.OUTCOME_FAILED, "the cup slipped from the gripper")
    assert [h[:2] for h in history[1:]] == [("pick", ExecutedStep.OUTCOME_SUCCEEDED),
                                           ("place", ExecutedStep.OUTCOME_SUCCEEDED)]
    assert board["plan"].dispatch == board["plan"].DISPATCH_READY


def test_retries_and_replans_are_bounded(harness):
    pick = Skilled("pick", failures=5)
    executor = PlanExecutor("execute", "put the red cup on the tray", {"pick": pick, "place": Skilled("place")},
                            goal_skills=[PICK, PLACE], max_replans=1, step_retries=1, verify=False)
    board = run(harness, executor)
    assert executor.status == Status.FAILURE and board["outcome"] == "step_failed"
    assert len(pick.calls) == 4  # (1 run + 1 retry) x (the plan + 1 re-plan)
    assert [e.outcome for e in board["history"]] == [ExecutedStep.OUTCOME_FAILED] * 4


def test_a_plan_that_is_not_dispatchable_is_not_run(harness):
    pick = Skilled("pick")
    narrow = Skill(name="place", arguments=["object: object", "location: location", "height: number m 0..0.01"])
    executor = PlanExecutor("execute", "put the red cup on the tray", {"pick": pick, "place": Skilled("place")},
                            goal_skills=[PICK, narrow])
    board = run(harness, executor)
    assert executor.status == Status.FAILURE and board["outcome"] == "not_dispatchable"
    assert "outside 0..0.01 m" in board["outcome_detail"] and pick.calls == []


def test_a_skill_without_a_behaviour_fails_naming_it(harness):
    executor = PlanExecutor("execute", "put the red cup on the tray", {"place": Skilled("place")},
                            goal_skills=[PICK, PLACE])
    board = run(harness, executor)
    assert board["outcome"] == "no_behaviour" and "'pick'" in board["outcome_detail"]
    assert set(OUTCOMES) >= {board["outcome"], "succeeded"}


@pytest.mark.slow
def test_the_example_runs_as_written(harness):
    """examples/plan_executor.py in its own process, over DDS to the node: pick fails once, the re-plan succeeds."""
    command = [sys.executable, str(REPO / "examples" / "plan_executor.py"), "put the red cup on the tray",
               "--skills", str(REPO / "examples" / "skills.yaml")]
    process = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    out = process.stdout
    assert process.returncode == 0, out + process.stderr
    assert "[skill] pick(object=red cup, grip=firm)" in out
    assert "re-planning (1/2) after: the cup slipped from the gripper" in out
    assert "[executor] outcome: succeeded" in out and "[executor] re-plans: 1" in out
    assert "[history] 1. pick {'object': 'red cup', 'grip': 'firm'}: FAILED (the cup slipped from the gripper)" in out


def test_the_behaviortree_cpp_example_follows_the_same_loop_with_the_sketch_ports():
    """BehaviorTree.CPP is not installable here: the XML parses and uses only the ports the C++ sketch declares."""
    import re
    import xml.etree.ElementTree as ElementTree

    doc = (REPO / "docs" / "behavior-trees.md").read_text()
    sketch = re.findall(r"```cpp\n(.*?)```", doc, re.S)[0]
    ports = set(re.findall(r'(?:Input|Output)Port<[^>]*>+\("(\w+)"', sketch)) | {"action_name", "name"}
    root = ElementTree.parse(REPO / "examples" / "behavior_trees" / "plan_execute_replan.xml").getroot()
    assert root.get("BTCPP_format") == "4"
    plan, verify = root.findall(".//ReasonAboutTask")
    for node in (plan, verify):
        assert set(node.attrib) <= ports, set(node.attrib) - ports
    assert plan.get("mode") == "decompose" and plan.get("history") == "{history}" and plan.get("dispatch")
    assert verify.get("mode") == "verify" and verify.get("success_criterion") == "{criterion}"
    assert root.find(".//RetryUntilSuccessful").find(".//LoopSubtask").get("queue") == plan.get("subtasks")
    assert root.find(".//RecordStep").get("history") == plan.get("history")
