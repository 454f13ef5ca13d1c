"""The reasoner node end to end: two synthetic 30 Hz cameras, the tiny taught model, every mode."""
from __future__ import annotations

import pytest
from action_msgs.msg import GoalStatus

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan

Goal, Result, Feedback = ReasonAboutTask.Goal, ReasonAboutTask.Result, ReasonAboutTask.Feedback


@pytest.fixture(scope="module")
def harness(rclpy_session, reason1_model):
    from helpers.ros_harness import Camera, Harness

    cameras = [Camera("front", "/test_goals/front/image_raw"), Camera("wrist", "/test_goals/wrist/image_raw")]
    with Harness.started({
        "model": str(reason1_model),
        "generation.max_new_tokens": 64,
    }, cameras) as h:
        yield h


def stamps(times) -> list[int]:
    return [t.sec * 1_000_000_000 + t.nanosec for t in times]


@pytest.mark.parametrize("mode", [Goal.MODE_DECOMPOSE, Goal.MODE_FEASIBILITY, Goal.MODE_NEXT_ACTION,
                                  Goal.MODE_VERIFY_COMPLETION, Goal.MODE_QUESTION])
def test_every_mode_returns_a_typed_plan(harness, mode):
    status, result, feedback = harness.run("bring me the red cup", mode=mode)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    assert result.error_code == Result.NONE and result.error_msg == ""
    plan = result.plan
    assert plan.mode == mode and plan.task == "bring me the red cup" and len(plan.goal_id) == 32
    assert plan.model_id.endswith(harness.node.parts.model.backend.model_id.split("/")[-1])
    assert "red cup" in plan.reasoning and plan.raw_answer.startswith("{")
    if mode == Goal.MODE_DECOMPOSE:
        assert [s.action for s in plan.subtasks] == ["pick", "place"]
        assert plan.subtasks[1].target_objects == ["red cup", "tray"]
        assert plan.feasibility.verdict == FeasibilityJudgment.VERDICT_FEASIBLE
        assert plan.feasibility.confidence == pytest.approx(0.9)
    elif mode == Goal.MODE_FEASIBILITY:
        assert plan.feasibility.verdict == FeasibilityJudgment.VERDICT_FEASIBLE and not plan.subtasks
    elif mode == Goal.MODE_NEXT_ACTION:
        assert len(plan.subtasks) == 1 and plan.subtasks[0].action == "pick"
    elif mode == Goal.MODE_VERIFY_COMPLETION:
        assert plan.completion == TaskPlan.COMPLETION_NOT_DONE
    else:
        assert plan.answer == "Pick up the red cup, then place it on the tray."
    # Frame stamps: both cameras, real sent stamps, oldest first, newest in the header.
    assert [c.camera for c in plan.cameras] == ["front", "wrist"]
    for seen, camera in zip(plan.cameras, harness.cameras, strict=False):
        seen_stamps = stamps(seen.stamps)
        assert 1 <= len(seen_stamps) <= 8 and seen_stamps == sorted(seen_stamps)
        assert set(seen_stamps) <= set(camera.sent)  # exact header stamps of frames really published
        assert seen.frame_id == f"{camera.name}_optical_frame"
    newest = max(stamps(c.stamps)[-1] for c in plan.cameras)
    assert stamps([plan.header.stamp])[0] == newest
    stats = plan.stats
    assert stats.generated_tokens > 0 and stats.visual_tokens > 0 and stats.prompt_tokens > stats.visual_tokens
    assert 0 < stats.time_to_first_token <= stats.generation_time <= stats.total_time
    assert stats.stop_reason == "eos"
    # Feedback: stages in order, tokens growing, text reassembles.
    stages = [f.stage for f in feedback]
    assert Feedback.STAGE_ENCODING in stages and Feedback.STAGE_ANSWERING in stages
    assert stages == sorted(stages)
    assert "".join(f.new_text for f in feedback) == feedback[-1].partial_text


def test_a_failed_goal_carries_its_id_and_the_documented_sentinels(harness):
    """INVALID_GOAL (nothing generated): plan.goal_id is the goal's id, confidence CONFIDENCE_UNKNOWN, not 0."""
    handle = harness.send("")  # an empty task
    assert handle is not None
    status, result = harness.result(handle, 10)
    assert status == GoalStatus.STATUS_ABORTED and result.error_code == Result.INVALID_GOAL, result.error_msg
    plan = result.plan
    assert plan.goal_id == bytes(handle.goal_id.uuid).hex()
    assert plan.feasibility.confidence == FeasibilityJudgment.CONFIDENCE_UNKNOWN == -1.0
    assert plan.feasibility.verdict == FeasibilityJudgment.VERDICT_UNKNOWN
    assert plan.stats.time_to_first_token == -1.0 and plan.stats.generated_tokens == 0
    assert plan.mode == Goal.MODE_DECOMPOSE and plan.stats.total_time >= 0.0


def test_accept_partial_answers_decides_whether_a_cut_off_plan_succeeds(harness):
    """The same cut-off answer: PARSE_FAILED with the partial plan by default; SUCCEEDED marked PARTIAL when the
    node parameter accept_partial_answers is true. The cut lands just after the last step was finished."""
    from rclpy.parameter import Parameter

    from cosmos_reason_ros.testing.tiny_model import taught_pieces

    budget = taught_pieces("reason1").index('"feasible": "yes", ') + 1
    status, result, _ = harness.run(mode=Goal.MODE_DECOMPOSE, max_new_tokens=budget)
    assert status == GoalStatus.STATUS_ABORTED and result.error_code == Result.PARSE_FAILED, result.error_msg
    assert f"truncated after {budget} tokens" in result.error_msg
    assert result.plan.completeness == TaskPlan.COMPLETENESS_PARTIAL
    assert [s.action for s in result.plan.subtasks] == ["pick", "place"]
    harness.node.set_parameters([Parameter("accept_partial_answers", value=True)])
    try:
        status, result, _ = harness.run(mode=Goal.MODE_DECOMPOSE, max_new_tokens=budget)
    finally:
        harness.node.set_parameters([Parameter("accept_partial_answers", value=False)])
    assert status == GoalStatus.STATUS_SUCCEEDED and result.error_code == Result.NONE, result.error_msg
    assert result.plan.completeness == TaskPlan.COMPLETENESS_PARTIAL
    assert [s.action for s in result.plan.subtasks] == ["pick", "place"]
    assert result.plan.stats.stop_reason == "max_tokens"
