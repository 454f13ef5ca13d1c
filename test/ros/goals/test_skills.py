"""Plans in the robot's skills over real DDS: the node's skill parameters, a goal's own skills, history and a
step's criterion, with the tiny model taught an answer in skills (``skills_model``)."""
from __future__ import annotations

import pytest

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.msg import ExecutedStep, Skill, SkillArgument, Subtask, TaskPlan

Goal, Result = ReasonAboutTask.Goal, ReasonAboutTask.Result
PREFIX = "/test_skills"
#: The node's library, as parameters (a params file holds the same keys): "grab" is a synonym of pick.
SKILL_PARAMS = {
    "skills.names": ["pick", "place"],
    "skills.pick.description": "Pick up an object with the gripper.",
    "skills.pick.arguments": ["object: object", "grip: choice gentle|firm"],
    "skills.pick.synonyms": ["grab"],
    "skills.place.arguments": ["object: object", "location: location", "height?: number m 0..0.3"],
}
SLIPPED = ExecutedStep(step=Subtask(skill="pick", description="pick up the red cup", arguments=[
    SkillArgument(name="object", type=SkillArgument.TYPE_OBJECT, text="red cup"),
    SkillArgument(name="grip", type=SkillArgument.TYPE_CHOICE, text="gentle")]),
    outcome=ExecutedStep.OUTCOME_FAILED, reason="the cup slipped from the gripper")


@pytest.fixture(scope="module")
def node(rclpy_session, skills_model):
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(skills_model), "generation.max_new_tokens": 64, **SKILL_PARAMS},
                         [Camera("front", f"{PREFIX}/front/image_raw")], node_name="skills_reasoner") as h:
        yield h


def plan_of(node, **fields) -> TaskPlan:
    _, result, _ = node.run("put the red cup on the tray", **fields)
    assert result.error_code == Result.NONE, result.error_msg
    return result.plan


def test_steps_name_declared_skills_with_typed_arguments(node):
    plan = plan_of(node)
    assert plan.dispatch == TaskPlan.DISPATCH_READY and plan.dispatch_problem == ""
    grab, place = plan.subtasks
    assert (grab.skill, grab.skill_written, grab.skill_status) == ("pick", "grab", Subtask.SKILL_OK)
    assert [(a.name, a.type, a.text) for a in grab.arguments] == [
        ("object", SkillArgument.TYPE_OBJECT, "red cup"), ("grip", SkillArgument.TYPE_CHOICE, "firm")]
    height = place.arguments[-1]
    assert (height.name, height.type, height.number, height.unit) == ("height", SkillArgument.TYPE_NUMBER,
                                                                      pytest.approx(0.05), "m")
    assert any("'grab' read as 'pick' (a declared synonym)" in w for w in plan.parse_warnings)
    assert plan.completion == TaskPlan.COMPLETION_UNKNOWN  # no history: the plan was not asked whether done


def test_a_goal_skill_replaces_a_declared_one_and_a_bad_argument_blocks_the_plan(node):
    low = Skill(name="place", arguments=["object: object", "location: location", "height: number m 0..0.02"])
    plan = plan_of(node, skills=[low])
    assert plan.dispatch == TaskPlan.DISPATCH_BLOCKED
    assert "subtask 1" in plan.dispatch_problem and "outside 0..0.02 m" in plan.dispatch_problem
    assert [s.skill_status for s in plan.subtasks] == [Subtask.SKILL_OK, Subtask.SKILL_INVALID_ARGUMENTS]
    assert plan.subtasks[1].description == "set the red cup down on the tray"  # kept for audit


def test_a_skill_the_library_does_not_have_blocks_the_plan(node):
    """A goal's own pick (no synonyms) replaces the node's: "grab" is then no declared skill."""
    plan = plan_of(node, skills=[Skill(name="pick", arguments=["object: object", "grip: choice gentle|firm"])])
    assert plan.dispatch == TaskPlan.DISPATCH_BLOCKED
    assert plan.subtasks[0].skill_status == Subtask.SKILL_UNKNOWN and plan.subtasks[0].skill == ""
    assert plan.subtasks[0].skill_written == "grab" and "'grab' is not declared" in plan.subtasks[0].skill_problem


def test_a_replan_from_history(node):
    plan = plan_of(node, history=[SLIPPED], current_plan=[SLIPPED.step])
    assert plan.dispatch == TaskPlan.DISPATCH_READY
    assert plan.subtasks[0].arguments[1].text == "firm"  # the taught re-plan: a firm grip this time
    # Asked whether the task is already done; steps beside "yes" are read as not done.
    assert plan.completion == TaskPlan.COMPLETION_NOT_DONE
    assert any("read as not done" in w for w in plan.parse_warnings)


def test_verify_one_step_by_its_success_criterion(node):
    plan = plan_of(node, mode=Goal.MODE_VERIFY_COMPLETION, success_criterion="the cup is lifted off the table")
    assert plan.completion == TaskPlan.COMPLETION_DONE and plan.dispatch == TaskPlan.DISPATCH_NOT_CHECKED


@pytest.mark.parametrize("fields, message", [
    ({"mode": Goal.MODE_FEASIBILITY, "history": [SLIPPED]}, "history is for"),
    ({"mode": Goal.MODE_QUESTION, "skills": [Skill(name="wave")]}, "skills are for"),
    ({"success_criterion": "the cup is lifted"}, "success_criterion is for"),
    ({"skills": [Skill(name="lift", arguments=["weight: number kg heavy"])]}, "argument"),
    ({"history": [ExecutedStep(step=Subtask(description="x"), outcome=7)]}, "OUTCOME_SUCCEEDED"),
])
def test_planning_fields_where_they_do_not_apply_are_invalid_goals(node, fields, message):
    _, result, _ = node.run("put the red cup on the tray", **fields)
    assert result.error_code == Result.INVALID_GOAL and message in result.error_msg, result.error_msg


def test_without_skills_plans_are_free_text(rclpy_session, skills_model):
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(skills_model), "generation.max_new_tokens": 64},
                         [Camera("front", f"{PREFIX}/plain/image_raw")], node_name="plain_reasoner") as h:
        plan = plan_of(h)
    assert plan.dispatch == TaskPlan.DISPATCH_NOT_CHECKED
    assert [(s.skill, s.skill_written, s.skill_status, list(s.arguments)) for s in plan.subtasks] == [
        ("", "grab", Subtask.SKILL_NOT_CHECKED, []), ("", "place", Subtask.SKILL_NOT_CHECKED, [])]
