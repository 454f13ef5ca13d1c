"""The package's generated interfaces: importable, round-tripped over real DDS, usable in an action
exchange with feedback and cancel, consistent with the core's enums, and compiling from C++."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from builtin_interfaces.msg import Time

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.datatypes import (
    CONFIDENCE_UNKNOWN,
    ArgumentType,
    Completeness,
    Completion,
    Dispatch,
    Mode,
    SkillStatus,
    Stage,
    Verdict,
)
from cosmos_reason_ros.core.modes.skills import StepOutcome
from cosmos_reason_ros.msg import (
    CameraFrames,
    ExecutedStep,
    FeasibilityJudgment,
    GenerationStats,
    Skill,
    SkillArgument,
    Subtask,
    TaskPlan,
)
from helpers.paths import REPO

MESSAGES = (Subtask, FeasibilityJudgment, CameraFrames, GenerationStats, TaskPlan)
Goal, Result, Feedback = ReasonAboutTask.Goal, ReasonAboutTask.Result, ReasonAboutTask.Feedback


def sample_plan() -> TaskPlan:
    step = Subtask(index=0, action="pick", description="pick up the cup", target_objects=["cup"],
                   preconditions=["gripper empty"], success_criterion="cup lifted", feasibility_note="light")
    judgment = FeasibilityJudgment(task="bring the cup", verdict=FeasibilityJudgment.VERDICT_INFEASIBLE,
                                   confidence=0.25, explanation="too far", blocking_factors=["out of reach"])
    return TaskPlan(goal_id="ab" * 16, task="bring the cup", mode=Goal.MODE_DECOMPOSE, subtasks=[step],
                    feasibility=judgment, completion=TaskPlan.COMPLETION_NOT_DONE, answer="no",
                    completeness=TaskPlan.COMPLETENESS_COMPLETE,
                    reasoning="think", raw_answer="{}", parse_warnings=["w"],
                    cameras=[CameraFrames(camera="front", frame_id="f", stamps=[Time(sec=5, nanosec=7)])],
                    model_id="m",
                    stats=GenerationStats(time_to_first_token=0.125, generated_tokens=3, stop_reason="eos"))


def test_defaults_and_sentinels():
    goal = Goal()
    assert goal.return_reasoning is True and goal.mode == Goal.MODE_DECOMPOSE
    assert goal.history_seconds == 0.0 and goal.max_frames == 0 and goal.max_new_tokens == 0 and goal.timeout == 0.0
    assert FeasibilityJudgment.CONFIDENCE_UNKNOWN == CONFIDENCE_UNKNOWN == -1.0
    codes = [getattr(Result, n) for n in dir(Result) if n.isupper() and isinstance(getattr(Result, n), int)]
    assert Result.NONE == 0 and all(7100 <= c <= 7199 for c in codes if c) and len(set(codes)) == len(codes)


#: Each core enum, the interface that holds its constants, and their prefix there.
ENUM_CONSTANTS = [(Mode, Goal, "MODE"), (Verdict, FeasibilityJudgment, "VERDICT"),
                  (Completion, TaskPlan, "COMPLETION"), (Completeness, TaskPlan, "COMPLETENESS"),
                  (Stage, Feedback, "STAGE"), (ArgumentType, SkillArgument, "TYPE"), (SkillStatus, Subtask, "SKILL"),
                  (Dispatch, TaskPlan, "DISPATCH"), (StepOutcome, ExecutedStep, "OUTCOME")]


@pytest.mark.parametrize("enum, interface, prefix", ENUM_CONSTANTS, ids=[e.__name__ for e, _, _ in ENUM_CONSTANTS])
def test_core_enums_match_the_interface_constants(enum, interface, prefix):
    for member in enum:
        assert getattr(interface, f"{prefix}_{member.name}") == member.value


def test_interface_defaults_are_the_first_constants():
    assert TaskPlan().completeness == TaskPlan.COMPLETENESS_NONE
    assert Subtask().skill_status == Subtask.SKILL_NOT_CHECKED and TaskPlan().dispatch == TaskPlan.DISPATCH_NOT_CHECKED


@pytest.fixture
def two_nodes(rclpy_session):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    a, b = rclpy.create_node("iface_a"), rclpy.create_node("iface_b")
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(a)
    executor.add_node(b)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield a, b
    executor.shutdown(timeout_sec=5)
    a.destroy_node()
    b.destroy_node()


def wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("message", [
    Subtask(index=3, action="open", description="open the fridge", target_objects=["fridge"]),
    FeasibilityJudgment(verdict=FeasibilityJudgment.VERDICT_UNCERTAIN, confidence=-1.0, blocking_factors=["a", "b"]),
    CameraFrames(camera="wrist", stamps=[Time(sec=1, nanosec=2), Time(sec=3, nanosec=4)]),
    GenerationStats(tokens_per_second=41.5, stop_reason="max_tokens"),
    sample_plan(),
], ids=lambda m: type(m).__name__)
def test_each_message_round_trips_over_dds(two_nodes, message):
    sender, receiver = two_nodes
    received: list = []
    topic = f"/iface/{type(message).__name__.lower()}"
    receiver.create_subscription(type(message), topic, received.append, 10)
    publisher = sender.create_publisher(type(message), topic, 10)
    wait(lambda: publisher.get_subscription_count() > 0)
    publisher.publish(message)
    wait(lambda: received)
    assert received[0] == message and received[0] is not message


def test_action_exchange_with_feedback_and_cancel(two_nodes):
    """A minimal server using the generated action type: feedback flows, a cancel is honoured."""
    from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
    from rclpy.callback_groups import ReentrantCallbackGroup

    server_node, client_node = two_nodes

    def execute(handle):
        for i in range(200):
            if handle.is_cancel_requested:
                handle.canceled()
                return Result(error_code=Result.CANCELED, error_msg=f"stopped at {i}")
            handle.publish_feedback(Feedback(stage=Feedback.STAGE_THINKING, tokens_generated=i, new_text="x"))
            time.sleep(0.02)
        handle.succeed()
        return Result(plan=sample_plan())

    server = ActionServer(server_node, ReasonAboutTask, "/iface/reason", execute_callback=execute,
                          goal_callback=lambda g: GoalResponse.ACCEPT, cancel_callback=lambda h: CancelResponse.ACCEPT,
                          callback_group=ReentrantCallbackGroup())
    client = ActionClient(client_node, ReasonAboutTask, "/iface/reason")
    assert client.wait_for_server(timeout_sec=10)
    feedback: list = []
    future = client.send_goal_async(Goal(task="t", mode=Goal.MODE_QUESTION),
                                    feedback_callback=lambda f: feedback.append(f.feedback))
    wait(future.done)
    handle = future.result()
    assert handle.accepted
    wait(lambda: len(feedback) >= 3)
    cancel = handle.cancel_goal_async()
    wait(cancel.done)
    result_future = handle.get_result_async()
    wait(result_future.done)
    result = result_future.result().result
    assert result.error_code == Result.CANCELED and result.error_msg.startswith("stopped at")
    assert [f.tokens_generated for f in feedback] == list(range(len(feedback)))
    server.destroy()
    client.destroy()


def test_generated_cpp_types_compile_link_and_run():
    """BehaviorTree.CPP users include these headers: the colcon build compiled a program against them."""
    build = Path(os.environ.get("COSMOS_BUILD_BASE", REPO / "build")) / "cosmos_reason_ros"
    program = build / "interfaces_cpp_check"
    assert program.is_file(), f"{program} was not built (BUILD_TESTING on in scripts/build.sh)"
    out = subprocess.run([str(program)], capture_output=True, text=True, env=os.environ, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("mode=1 return_reasoning=1 error_code=7106 verdict=2 confidence=-1 stage=4 "
                                  "step=pick:red cup")


def test_colcon_installed_python_and_cpp_typesupport():
    """The install space holds generated Python modules and C/C++ typesupport libraries for every interface."""
    import cosmos_reason_ros

    package_dir = Path(cosmos_reason_ros.__file__).parent
    for name in ("subtask", "feasibility_judgment", "camera_frames", "generation_stats", "task_plan"):
        assert (package_dir / "msg" / f"_{name}.py").is_file()
    assert (package_dir / "action" / "_reason_about_task.py").is_file()
    prefix = package_dir.parents[3]
    libs = {p.name for p in (prefix / "lib").glob("libcosmos_reason_ros__*.so")}
    for typesupport in ("rosidl_typesupport_cpp", "rosidl_typesupport_c", "rosidl_typesupport_fastrtps_cpp",
                        "rosidl_typesupport_introspection_cpp", "rosidl_generator_py"):
        assert f"libcosmos_reason_ros__{typesupport}.so" in libs, sorted(libs)
    headers = prefix / "include" / "cosmos_reason_ros" / "cosmos_reason_ros"
    assert (headers / "action" / "reason_about_task.hpp").is_file() and (headers / "msg" / "task_plan.hpp").is_file()


def test_why_the_parser_cleans_strings_a_nul_cuts_and_a_lone_surrogate_breaks_serialisation():
    """The premise of the parser's ROS-safe boundary (and proof that its serialisation check can fail)."""
    from rclpy.serialization import deserialize_message, serialize_message

    from cosmos_reason_ros.core.text_safety import ros_safe

    back = deserialize_message(serialize_message(TaskPlan(answer="two\x00cups")), TaskPlan)
    assert back.answer != "two\x00cups"
    with pytest.raises(UnicodeError):  # a lone surrogate cannot be encoded as UTF-8
        serialize_message(TaskPlan(answer="cup \ud83d"))
    for text in ("two\x00cups", "cup \ud83d", "pair \ud83d\ude00"):
        safe = TaskPlan(answer=ros_safe(text))
        assert deserialize_message(serialize_message(safe), TaskPlan).answer == safe.answer
    assert ros_safe("pair \ud83d\ude00") == "pair \U0001f600"


def skill_step() -> Subtask:
    return Subtask(index=1, action="place", description="put the cup on the tray", skill="place", skill_written="put",
                   arguments=[SkillArgument(name="location", type=SkillArgument.TYPE_LOCATION, text="tray"),
                              SkillArgument(name="height", type=SkillArgument.TYPE_NUMBER, text="0.05 m", number=0.05,
                                            unit="m")],
                   skill_status=Subtask.SKILL_INVALID_ARGUMENTS, skill_problem="argument 'object' is missing")


def test_every_planning_field_survives_serialisation():
    """The skill, history and plan-verdict fields through rclpy's own serialisation (what DDS carries)."""
    from rclpy.serialization import deserialize_message, serialize_message

    plan = sample_plan()
    plan.subtasks.append(skill_step())
    plan.dispatch, plan.dispatch_problem = TaskPlan.DISPATCH_BLOCKED, "subtask 1: argument 'object' is missing"
    goal = Goal(task="put the cup on the tray", skills=[Skill(
        name="pick", description="Pick up an object.", arguments=["object: object", "grip: choice gentle|firm"],
        preconditions=["the gripper is empty"], synonyms=["grab"])],
        history=[ExecutedStep(step=skill_step(), outcome=ExecutedStep.OUTCOME_FAILED, reason="it slipped")],
        current_plan=[skill_step()], success_criterion="the cup rests on the tray")
    for message, kind in ((plan, TaskPlan), (goal, Goal), (Result(plan=plan), Result)):
        assert deserialize_message(serialize_message(message), kind) == message
