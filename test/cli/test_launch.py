"""`ros2 launch cosmos_reason_ros reasoner.launch.py` and the `ros2` verbs a user points at the node, each typed
as a subprocess against the installed package: node list and info, action send_goal, topic echo, param, and
Ctrl-C (SIGINT to the launch's process group, as a terminal sends it) while idle and while a goal generates.

One launched reasoner (the taught tiny model; two cameras; rviz:=true where rviz2 is absent) serves the
read-mostly checks of this module; its idle Ctrl-C test, after them, ends it.
"""
from __future__ import annotations

import ast
import re
import subprocess

import pytest
import yaml

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.ros.node.parameters import SPECS
from helpers.ros2_cli import (
    LAUNCH,
    MODEL_READY,
    Ros2Process,
    assert_clean_exit,
    launch_file,
    load_launch_module,
    node_names,
    requires_ros2,
    ros2,
    wait_until,
)

pytestmark = [pytest.mark.slow, requires_ros2]  # processes: the launch, the node, every `ros2` command

ACTION_TYPE = "cosmos_reason_ros/action/ReasonAboutTask"
Feedback, Result = ReasonAboutTask.Feedback, ReasonAboutTask.Result

NAMESPACE = "cli_plain"
NODE = f"/{NAMESPACE}/cosmos_reasoner"
CAMERAS_NODE = f"{NODE}_cameras"
WRIST_TOPIC = f"/{NAMESPACE}/wrist/image_raw/compressed"


def installed_launch_arguments() -> list[str]:
    """The names the installed launch file declares (read from its source, in order)."""
    tree = ast.parse(launch_file().read_text())
    return [n.args[0].value for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DeclareLaunchArgument"]


# ------------------------------------------------------------------------------------------- no node
def test_show_args_lists_every_launch_argument():
    done = ros2(*LAUNCH, "--show-args")
    assert done.returncode == 0, done.stderr
    shown = re.findall(r"^    '(\w+)':$", done.stdout, re.M)
    assert shown == installed_launch_arguments()
    assert "Valid choices are: ['true', 'false']" in done.stdout  # rviz, lifecycle, ... say their choices
    assert re.search(r"'params_file':\n.*\n\s+\(default: '/\S+/share/cosmos_reason_ros/config/reasoner.yaml'\)",
                     done.stdout), done.stdout


# ------------------------------------------------------------------------------- one launched reasoner
@pytest.fixture(scope="module")
def plain(reason1_model, camera_topic):
    """`ros2 launch` of the plain node: the taught model, cameras front (publishing) and wrist (compressed,
    silent), rviz asked for; yielded once the model is ready."""
    with Ros2Process(*LAUNCH, f"namespace:={NAMESPACE}", f"model:={reason1_model}",
                     f"cameras:=front={camera_topic},wrist={WRIST_TOPIC}", "rviz:=true") as launch:
        launch.wait_for(MODEL_READY, 120)
        yield launch


@pytest.fixture(scope="module")
def succeeded_goal(plain) -> subprocess.CompletedProcess:
    """`ros2 action send_goal --feedback` of one goal on camera front, run to its end."""
    return ros2("action", "send_goal", "--feedback", f"{NODE}/reason", ACTION_TYPE,
                "{task: 'put the red cup on the tray', cameras: [front]}", timeout=120)


def test_node_list_shows_the_launched_nodes(plain):
    def listed() -> list[str]:
        names = node_names()
        return names if {NODE, CAMERAS_NODE} <= set(names) else []

    assert wait_until(listed, 30, f"{NODE} and {CAMERAS_NODE} in `ros2 node list`").count(NODE) == 1


def test_cameras_argument_subscribes_every_named_topic(plain, camera_topic):
    def subscribers() -> list[str]:
        """`ros2 node info`'s Subscribers section as words ("topic:", "type", ...); empty until both are seen."""
        info = ros2("node", "info", CAMERAS_NODE).stdout
        words = info.split("Subscribers:", 1)[1].split("Publishers:", 1)[0].split() if "Subscribers:" in info else []
        return words if len(words) >= 4 else []

    shown = wait_until(subscribers, 30, f"the subscriptions of {CAMERAS_NODE}")
    assert dict(zip(shown[::2], shown[1::2], strict=True)) == {
        f"{camera_topic}:": "sensor_msgs/msg/Image", f"{WRIST_TOPIC}:": "sensor_msgs/msg/CompressedImage"}


def test_rviz_without_rviz2_warns_and_the_reasoner_keeps_running(plain):
    if load_launch_module().rviz_available():
        pytest.skip("rviz2 is installed here: the launch starts it instead of warning")
    assert "[WARNING] [launch.user]: rviz:=true but rviz2 is not installed" in plain.output, plain.output[-3000:]
    assert "[rviz2-" not in plain.output  # no rviz process was started
    assert plain.running()
    wait_until(lambda: NODE in node_names(), 30, f"{NODE} in `ros2 node list`")


def test_send_goal_with_feedback_succeeds(succeeded_goal):
    out = succeeded_goal.stdout
    assert succeeded_goal.returncode == 0, out + succeeded_goal.stderr
    assert re.search(r"Goal accepted with ID: [0-9a-f]{32}", out), out
    stages = [int(s) for s in re.findall(r"Feedback:\n\s+stage: (\d+)", out)]
    assert Feedback.STAGE_THINKING in stages, out  # feedback streamed while the model generated
    assert stages == sorted(stages), stages
    result = out.split("Result:", 1)[1]
    assert re.search(r"error_code: 0\n", result), result
    assert "action: pick" in result, result
    assert out.rstrip().endswith("Goal finished with status: SUCCEEDED"), out[-2000:]


def test_plan_topic_is_latched_for_a_late_subscriber(succeeded_goal):
    """`ros2 topic echo --once ~/plan` started after the goal ended (the plan went out before its result) still
    gets the plan: the topic is transient local, and echo matches its publisher's durability."""
    goal_id = re.search(r"Goal accepted with ID: ([0-9a-f]{32})", succeeded_goal.stdout).group(1)
    echoed = ros2("topic", "echo", "--once", f"{NODE}/plan", timeout=60)
    assert echoed.returncode == 0, echoed.stderr
    plan = yaml.safe_load(echoed.stdout.split("\n---", 1)[0])
    assert plan["goal_id"] == goal_id
    assert plan["task"] == "put the red cup on the tray"
    assert [step["action"] for step in plan["subtasks"]] == ["pick", "place"]


def test_param_get_set_describe(plain, reason1_model):
    """A choice parameter takes a valid choice and refuses another; a read-only one refuses every change."""
    def get(name: str) -> str:
        done = ros2("param", "get", NODE, name)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    busy = SPECS["busy_policy"]
    assert get("busy_policy") == f"String value is: {busy.default}"
    refused = ros2("param", "set", NODE, "busy_policy", "sideways")
    assert f"Setting parameter failed: busy_policy must be one of {', '.join(busy.choices)}, got 'sideways'" \
        in refused.stderr, refused.stdout + refused.stderr
    assert get("busy_policy") == f"String value is: {busy.default}"
    other = next(c for c in busy.choices if c != busy.default)
    try:
        done = ros2("param", "set", NODE, "busy_policy", other)
        assert done.stdout.strip() == "Set parameter successful", done.stdout + done.stderr
        assert get("busy_policy") == f"String value is: {other}"
    finally:
        ros2("param", "set", NODE, "busy_policy", busy.default)

    refused = ros2("param", "set", NODE, "model", "/elsewhere")
    assert "Setting parameter failed: Trying to set a read-only parameter: model." in refused.stderr, \
        refused.stdout + refused.stderr
    assert get("model") == f"String value is: {reason1_model}"
    described = ros2("param", "describe", NODE, "model", "busy_policy").stdout
    model_part, busy_part = described.split("Parameter name: busy_policy", 1)
    assert "Read only: true" in model_part and SPECS["model"].description in model_part, described
    assert "Read only" not in busy_part and f"One of: {', '.join(busy.choices)}." in busy_part, described


def test_ctrl_c_while_idle_ends_the_launch_cleanly(plain):
    """After the checks that share the launch: this ends it. The node also leaves the graph at once."""
    assert plain.running()
    assert_clean_exit(plain)
    wait_until(lambda: NODE not in node_names(), 10, f"{NODE} to leave `ros2 node list`")


# -------------------------------------------------------------------------------- Ctrl-C mid-goal
def test_ctrl_c_while_a_goal_generates(random_model, camera_topic, tmp_path):
    """Random weights, greedy, a 4000-token budget: generation runs for many seconds. Ctrl-C to the launch: it
    ends in time and cleanly, and `ros2 action send_goal` gets the goal's result (ABORTED, SHUTDOWN)."""
    params = tmp_path / "long_goals.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "generation": {"max_new_tokens": 4000, "temperature": 0.0}}}}))
    node = "/cli_ctrl_c/cosmos_reasoner"
    with Ros2Process(*LAUNCH, "namespace:=cli_ctrl_c", f"params_file:={params}", f"model:={random_model}",
                     f"camera_topic:={camera_topic}") as launch:
        launch.wait_for(MODEL_READY, 120)
        with Ros2Process("action", "send_goal", "--feedback", f"{node}/reason", ACTION_TYPE,
                         "{task: 'describe everything you see'}") as goal:
            goal.wait_for(rf"Feedback:\n\s+stage: {Feedback.STAGE_THINKING}\n", 60)
            assert_clean_exit(launch)
            answer = goal.finish(10.0)  # the client ends by itself: it got the result
    result = answer.split("Result:", 1)[1]
    assert re.search(rf"error_code: {Result.SHUTDOWN}\n", result), result
    assert "error_msg: the node is shutting down" in result
    assert answer.rstrip().endswith("Goal finished with status: ABORTED"), answer[-2000:]
