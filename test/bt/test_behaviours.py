"""py_trees behaviours against the real node: tiny models, real DDS, the tree ticked from the test thread."""
from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

import py_trees
import pytest
from py_trees.common import Access, Status

from cosmos_reason_ros.bt import IterateSubtasks, ReasonAboutTask
from helpers.paths import REPO

PREFIX = "/test_bt"

DOC = REPO / "docs" / "behavior-trees.md"


pytestmark = pytest.mark.usefixtures("clean_blackboard")


@pytest.fixture(scope="module")
def harness(rclpy_session, reason1_model):
    """The taught model on a node named like the default, so `/cosmos_reasoner/reason` is its action."""
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(reason1_model), "generation.max_new_tokens": 64},
                         [Camera("front", f"{PREFIX}/front/image_raw")]) as h:
        yield h


@pytest.fixture(scope="module")
def blocked(rclpy_session, blocked_model):
    """The model that answers INFEASIBLE; camera "silent" is configured but never publishes."""
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(blocked_model), "frames.wait_timeout": 0.3, "generation.max_new_tokens": 64},
                         [Camera("front", f"{PREFIX}/blocked/image_raw")], node_name="bt_blocked",
                         silent=("silent",)) as h:
        yield h


def tick_until_done(tree: py_trees.trees.BehaviourTree, timeout: float = 30.0, period: float = 0.02,
                    watch: py_trees.behaviour.Behaviour | None = None) -> list[str]:
    """Tick at 1/period Hz until the root finishes; return the distinct feedback of ``watch`` (default: the
    tip) seen while RUNNING."""
    seen: list[str] = []
    end = time.monotonic() + timeout
    while True:
        tree.tick()
        if tree.root.status != Status.RUNNING:
            return seen
        message = (watch or tree.tip()).feedback_message
        if message not in seen:
            seen.append(message)
        assert time.monotonic() < end, f"tree still running after {timeout} s: {seen[-1]}"
        time.sleep(period)  # the tree's tick period


def make_tree(node, *behaviours) -> py_trees.trees.BehaviourTree:
    root = behaviours[0] if len(behaviours) == 1 else py_trees.composites.Sequence("seq", True, list(behaviours))
    tree = py_trees.trees.BehaviourTree(root)
    tree.setup(node=node, timeout=5.0)
    return tree


def read_blackboard(*keys: str) -> dict:
    client = py_trees.blackboard.Client(name="test reader")
    for key in keys:
        client.register_key(key, access=Access.READ)
    return {key: client.get(key) if client.exists(key) else None for key in keys}


class RecordStep(py_trees.behaviour.Behaviour):
    """Reads the current Subtask; RUNNING for one tick (like a real skill), then SUCCESS (or FAILURE on `fail_on`)."""

    def __init__(self, fail_on: str = "") -> None:
        super().__init__("record step")
        self.blackboard = self.attach_blackboard_client(self.name)
        self.blackboard.register_key("/cosmos/subtask", access=Access.READ)
        self.fail_on = fail_on
        self.actions: list[str] = []

    def initialise(self) -> None:
        self.ticks = 0

    def update(self) -> Status:
        if not self.blackboard.exists("/cosmos/subtask"):
            return Status.FAILURE
        step = self.blackboard.get("/cosmos/subtask")
        self.ticks += 1
        if self.ticks == 1:
            self.actions.append(step.action)
            return Status.RUNNING
        return Status.FAILURE if step.action == self.fail_on else Status.SUCCESS


class Switch(py_trees.behaviour.Behaviour):
    """FAILURE until the test turns it on, then SUCCESS: a higher-priority branch taking over."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.on = False

    def update(self) -> Status:
        return Status.SUCCESS if self.on else Status.FAILURE


# ------------------------------------------------------------------------------------- ReasonAboutTask
def test_feasible_plan_succeeds_and_lands_on_the_blackboard(harness):
    from cosmos_reason_ros.msg import FeasibilityJudgment

    reason = ReasonAboutTask("reason", "bring me the red cup", cameras=["front"], succeed_on="feasible")
    tree = make_tree(harness.helper, reason)
    try:
        running = tick_until_done(tree)
    finally:
        tree.shutdown()
    assert reason.status == Status.SUCCESS, reason.feedback_message
    assert reason.feedback_message == "verdict FEASIBLE, 2 step(s)"
    board = read_blackboard("/cosmos/plan", "/cosmos/feasibility")
    assert [s.action for s in board["/cosmos/plan"].subtasks] == ["pick", "place"]
    assert board["/cosmos/plan"].task == "bring me the red cup"
    assert board["/cosmos/feasibility"].verdict == FeasibilityJudgment.VERDICT_FEASIBLE
    assert reason.result.error_code == 0 and reason.last_feedback is not None
    assert any(re.fullmatch(r"(queued|waiting for frames|encoding|thinking|answering): \d+ tokens, [\d.]+ s", m)
               or m in ("sending goal", "goal accepted") for m in running), running


@pytest.mark.parametrize("succeed_on, expected", [("feasible", Status.FAILURE), ("infeasible", Status.SUCCESS),
                                                  ("any_plan", Status.SUCCESS)])
def test_infeasible_plan_status_follows_succeed_on(blocked, succeed_on, expected):
    reason = ReasonAboutTask("reason", "bring me the red cup", action_name="/bt_blocked/reason",
                             cameras=["front"], succeed_on=succeed_on, plan_key="/blocked/plan",
                             feasibility_key="/blocked/feasibility")
    tree = make_tree(blocked.helper, reason)
    try:
        tick_until_done(tree)
    finally:
        tree.shutdown()
    assert reason.status == expected
    suffix = "" if expected == Status.SUCCESS else " (succeed_on 'feasible')"
    assert reason.feedback_message == f"verdict INFEASIBLE, 1 step(s){suffix}"
    # The plan is on the blackboard either way, so a recovery branch can say what blocks the task.
    judgment = read_blackboard("/blocked/feasibility")["/blocked/feasibility"]
    assert judgment.blocking_factors == ["the cup is behind a closed glass door"]


def test_error_code_fails_with_its_name(blocked):
    reason = ReasonAboutTask("reason", "bring me the red cup", cameras=["silent"], action_name="/bt_blocked/reason")
    tree = make_tree(blocked.helper, reason)
    try:
        tick_until_done(tree)
    finally:
        tree.shutdown()
    assert reason.status == Status.FAILURE
    assert reason.feedback_message.startswith("NO_FRAMES: no frames from camera(s) ['silent']")
    assert read_blackboard("/cosmos/plan")["/cosmos/plan"] is None


def test_task_from_the_blackboard(harness):
    writer = py_trees.blackboard.Client(name="test writer")
    writer.register_key("/mission/task", access=Access.WRITE)
    writer.set("/mission/task", "what is on the table?")
    reason = ReasonAboutTask("reason", task_key="/mission/task", mode="question", cameras=["front"])
    tree = make_tree(harness.helper, reason)
    try:
        tick_until_done(tree)
        assert reason.status == Status.SUCCESS, reason.feedback_message
        assert reason.result.plan.task == "what is on the table?" and reason.result.plan.mode == 4
        writer.set("/mission/task", "  ")
        tick_until_done(tree)  # the next run reads the task again
    finally:
        tree.shutdown()
    assert reason.status == Status.FAILURE
    assert reason.feedback_message == "no task text on the blackboard at '/mission/task' (got '  ')"


def test_interrupt_cancels_the_goal_on_the_node(make_harness, random_model):
    """A higher-priority branch takes over mid-generation: the running goal is canceled, the node stops fast."""
    from helpers.ros_harness import Camera

    h = make_harness({"model": str(random_model), "generation.max_new_tokens": 4000, "generation.temperature": 0.0},
                     [Camera("front", f"{PREFIX}/random/image_raw")], node_name="bt_random")
    takeover = Switch("takeover")
    reason = ReasonAboutTask("reason", "describe everything", action_name="/bt_random/reason")
    tree = make_tree(h.helper, py_trees.composites.Selector("priorities", False, [takeover, reason]))
    end = time.monotonic() + 30
    while not (reason.last_feedback is not None and reason.last_feedback.tokens_generated > 5):
        tree.tick()
        assert reason.status == Status.RUNNING, reason.feedback_message
        assert time.monotonic() < end, "generation did not start"
        time.sleep(0.02)
    takeover.on = True
    interrupted = time.monotonic()
    tree.tick()  # the takeover succeeds: the selector stops the running reason behaviour (INVALID)
    assert tree.root.status == Status.SUCCESS and reason.status == Status.INVALID
    h.wait_for(lambda: h.node.parts.goals.stats.failed_by_code.get("CANCELED") == 1, 3, "the node to end the goal")
    assert time.monotonic() - interrupted < 1.5
    h.wait_for(lambda: h.node.parts.slots.running == 0, 2, "the model slot to free")
    tree.shutdown()


def test_absent_server_fails_after_the_timeout(rclpy_session):
    import rclpy

    node = rclpy.create_node("bt_no_server")
    reason = ReasonAboutTask("reason", "anything", action_name="/nobody_here/reason", server_timeout=0.5)
    tree = make_tree(node, reason)
    try:
        started = time.monotonic()
        running = tick_until_done(tree, timeout=5)
        elapsed = time.monotonic() - started
    finally:
        tree.shutdown()
        node.destroy_node()
    assert reason.status == Status.FAILURE and 0.5 <= elapsed < 2.0
    assert running == ["waiting for the action server"]
    assert reason.feedback_message == ("action server /nobody_here/reason not available after 0.5 s "
                                       "(is the reasoner running?)")


def test_construction_needs_no_ros():
    """py_trees_ros style: trees are built before (or without) rclpy.init; ROS is imported in setup()."""
    code = ("import sys, py_trees\n"
            "from cosmos_reason_ros.bt import IterateSubtasks, ReasonAboutTask\n"
            "b = ReasonAboutTask('r', 'task', mode='next', cameras=['front'])\n"
            "IterateSubtasks('steps', py_trees.behaviours.Success('s'))\n"
            "assert b.mode == 2 and not [m for m in sys.modules if m.startswith(('rclpy', 'rcl_'))]\n"
            "try:\n    b.initialise()\nexcept RuntimeError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "r: call setup(node=...) before ticking"


def test_bad_arguments_are_refused_at_construction():
    with pytest.raises(ValueError, match="exactly one of task"):
        ReasonAboutTask("r")
    with pytest.raises(ValueError, match="succeed_on"):
        ReasonAboutTask("r", "t", succeed_on="maybe")
    with pytest.raises(ValueError, match="unknown mode"):
        ReasonAboutTask("r", "t", mode="dance")


def test_mode_names_match_the_action_constants():
    from cosmos_reason_ros.action import ReasonAboutTask as Action
    from cosmos_reason_ros.core.names import MODE_NAMES

    assert MODE_NAMES == {"decompose": Action.Goal.MODE_DECOMPOSE, "feasibility": Action.Goal.MODE_FEASIBILITY,
                          "next": Action.Goal.MODE_NEXT_ACTION, "verify": Action.Goal.MODE_VERIFY_COMPLETION,
                          "question": Action.Goal.MODE_QUESTION, "locate": Action.Goal.MODE_LOCATE}


# ------------------------------------------------------------------------------------ IterateSubtasks
def test_reason_then_iterate_walks_both_steps(harness):
    record = RecordStep()
    steps = IterateSubtasks("steps", record)
    tree = make_tree(harness.helper, ReasonAboutTask("reason", "bring me the red cup", cameras=["front"],
                                                     succeed_on="feasible"), steps)
    try:
        running = tick_until_done(tree, watch=steps)
    finally:
        tree.shutdown()
    assert tree.root.status == Status.SUCCESS
    assert record.actions == ["pick", "place"]
    assert "step 1/2: pick" in running and "step 2/2: place" in running
    assert steps.feedback_message == "all 2 steps done"


def _plan_on_blackboard(actions: list[str]) -> None:
    from cosmos_reason_ros.msg import Subtask, TaskPlan

    writer = py_trees.blackboard.Client(name="plan writer")
    writer.register_key("/cosmos/plan", access=Access.WRITE)
    writer.set("/cosmos/plan", TaskPlan(subtasks=[Subtask(index=i, action=a, description=f"{a} it")
                                                  for i, a in enumerate(actions)]))


def test_iterate_fails_on_the_failing_step():
    _plan_on_blackboard(["pick", "place", "push"])
    record = RecordStep(fail_on="place")
    steps = IterateSubtasks("steps", record)
    tree = py_trees.trees.BehaviourTree(steps)
    tick_until_done(tree, timeout=2, period=0)
    assert steps.status == Status.FAILURE and record.actions == ["pick", "place"]
    assert steps.feedback_message == "step 2/3 failed: place it"


@pytest.mark.parametrize("actions, message", [(None, "no plan at '/cosmos/plan'"), ([], "the plan has no subtasks")])
def test_iterate_without_steps_fails(actions, message):
    if actions is not None:
        _plan_on_blackboard(actions)
    record = RecordStep()
    steps = IterateSubtasks("steps", record)
    tree = py_trees.trees.BehaviourTree(steps)
    tree.tick()
    assert steps.status == Status.FAILURE and steps.feedback_message == message and record.actions == []


# ------------------------------------------------------------------------------------------------ docs
def test_documented_example_runs_against_the_node(harness, tmp_path):
    """The complete tree in docs/behavior-trees.md, run as the script it says it is."""
    [example] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[1:]  # [0] is the signature
    script = tmp_path / "reason_then_act.py"
    script.write_text(example)
    done = subprocess.run([sys.executable, str(script), "bring me the red cup"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "step 1: pick: pick up the red cup (done when: the cup is lifted off the table)",
        "step 2: place: place the red cup on the tray (done when: the cup rests on the tray)",
        "tree SUCCESS; reason: verdict FEASIBLE, 2 step(s); steps: all 2 steps done",
    ]


def test_xml_example_uses_only_the_ports_the_cpp_sketch_declares():
    """BehaviorTree.CPP is not installable here: check what can be checked, the XML against the sketch."""
    sketch = re.findall(r"```cpp\n(.*?)```", DOC.read_text(), re.S)[0]
    ports = set(re.findall(r'(?:Input|Output)Port<[^>]*>+\("(\w+)"', sketch)) | {"action_name", "name"}
    root = ElementTree.parse(REPO / "examples" / "behavior_trees" / "reason_then_act.xml").getroot()
    assert root.get("BTCPP_format") == "4"
    nodes = root.findall(".//ReasonAboutTask")
    assert len(nodes) == 2
    for node in nodes:
        assert set(node.attrib) <= ports, set(node.attrib) - ports
        assert node.get("mode") in ("decompose", "verify")
    assert root.find(".//LoopSubtask").get("queue") == nodes[0].get("subtasks")
