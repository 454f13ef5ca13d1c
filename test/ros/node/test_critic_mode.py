"""MODE_CRITIC over real DDS: the node judges its cameras' recent video and returns a typed Critique."""
from __future__ import annotations

import pytest
from action_msgs.msg import GoalStatus

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.msg import Critique, FeasibilityJudgment, TaskPlan
from cosmos_reason_ros.testing.tiny_model import CRITIC_SCENARIOS

Goal, Result = ReasonAboutTask.Goal, ReasonAboutTask.Result


@pytest.fixture(scope="module")
def harness(rclpy_session):
    from conftest import build_tiny_model
    from helpers.ros_harness import Camera, Harness

    model = build_tiny_model("reason1", True, "critic_artifact")
    with Harness.started({"model": str(model), "generation.max_new_tokens": 64},
                         [Camera("front", "/test_critic/front/image_raw")]) as h:
        yield h


def test_critic_goal_with_empty_task_returns_the_critique(harness):
    status, result, _ = harness.run("", mode=Goal.MODE_CRITIC)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    plan = result.plan
    assert result.error_code == Result.NONE and plan.mode == Goal.MODE_CRITIC and plan.task == ""
    assert plan.completeness == TaskPlan.COMPLETENESS_COMPLETE
    critique = plan.critique
    assert critique.verdict == Critique.VERDICT_IMPLAUSIBLE
    assert critique.scale == Critique.SCALE_AGREEMENT and critique.score == pytest.approx(0.0)
    assert critique.confidence == pytest.approx(0.0)
    assert [(f.name, f.anomaly) for f in critique.findings] == [("red cup", True), ("table", False)]
    assert critique.findings[0].analysis == "The cup vanishes for two frames."
    assert list(critique.run_verdicts) == [Critique.VERDICT_IMPLAUSIBLE] and list(critique.run_errors) == [""]
    assert list(critique.run_scores) == [Critique.SCORE_UNKNOWN]
    assert plan.raw_answer == "Yes" and "<component" in plan.reasoning
    assert plan.feasibility.verdict == FeasibilityJudgment.VERDICT_UNKNOWN and not plan.subtasks
    assert plan.stats.generated_tokens > 0 and len(plan.cameras) == 1


def test_critic_runs_are_judged_in_one_goal(harness):
    status, result, _ = harness.run("the cup", mode=Goal.MODE_CRITIC, critic_runs=3)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    critique = result.plan.critique
    assert len(critique.run_verdicts) == len(critique.run_scores) == len(critique.run_errors) == 3
    judged = [v for v in critique.run_verdicts if v != Critique.VERDICT_UNKNOWN]
    assert judged and critique.confidence == pytest.approx(
        sum(v == Critique.VERDICT_PLAUSIBLE for v in judged) / len(judged))
    assert result.plan.task == "the cup"


def test_runs_outside_the_critic_or_too_many_are_invalid(harness):
    for fields in ({"mode": Goal.MODE_DECOMPOSE, "critic_runs": 2}, {"mode": Goal.MODE_CRITIC, "critic_runs": 17}):
        status, result, _ = harness.run("bring me the red cup", **fields)
        assert status == GoalStatus.STATUS_ABORTED
        assert result.error_code == Result.INVALID_GOAL and "critic_runs" in result.error_msg


def test_other_modes_still_refuse_an_empty_task_and_keep_the_default_critique(harness):
    status, result, _ = harness.run("", mode=Goal.MODE_QUESTION)
    assert result.error_code == Result.INVALID_GOAL and "task is empty" in result.error_msg
    assert result.plan.critique.verdict == Critique.VERDICT_UNKNOWN
    assert CRITIC_SCENARIOS["critic_artifact"]["reason1"].endswith("Yes\n</answer>")


def test_core_values_equal_the_message_constants():
    from cosmos_reason_ros.core.datatypes import CONFIDENCE_UNKNOWN, SCORE_UNKNOWN, CritiqueScale, Plausibility

    for verdict in Plausibility:
        assert getattr(Critique, f"VERDICT_{verdict.name}") == verdict.value
    assert (Critique.SCALE_NONE, Critique.SCALE_AGREEMENT, Critique.SCALE_ONE_TO_FIVE) == tuple(CritiqueScale)
    assert Critique.SCORE_UNKNOWN == SCORE_UNKNOWN and Critique.CONFIDENCE_UNKNOWN == CONFIDENCE_UNKNOWN
    assert Goal.MODE_CRITIC == 5 and Goal().critic_runs == 0
    assert TaskPlan().critique.verdict == Critique.VERDICT_UNKNOWN
