"""The node over real DDS with each Cosmos 3 reasoner (tiny taught checkpoints of both architectures): a goal
streams its reasoning (the think block Edge's template opens included) and ends SUCCEEDED with a typed plan, and
a standing watch runs its checks on the same model."""
from __future__ import annotations

import pytest

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.modes.watches import WatchState
from cosmos_reason_ros.core.names import stage_name
from cosmos_reason_ros.msg import FeasibilityJudgment
from helpers.ros_harness import Camera

Goal = ReasonAboutTask.Goal
Result = ReasonAboutTask.Result


@pytest.mark.parametrize("family", ["cosmos3", "cosmos3_edge"])
def test_a_goal_succeeds_with_each_cosmos3_family(make_harness, cosmos3_models, family: str) -> None:
    harness = make_harness({"model": str(cosmos3_models[family]), "generation.temperature": 0.0,
                            "watches.names": ["workspace"], "watches.workspace.question": "is anyone at the arm?",
                            "watches.workspace.period": 0.5, "watches.workspace.cameras": ["front"],
                            "watches.workspace.reasoning": True},  # the taught model reasons, then says "no"
                           [Camera("front", f"/c3_{family}/front/image_raw", width=637, height=479)],
                           node_name=f"c3_{family}")
    status, result, feedback = harness.run("put the red cup on the tray", mode=Goal.MODE_DECOMPOSE)
    assert result.error_code == Result.NONE, result.error_msg
    plan = result.plan
    assert [s.action for s in plan.subtasks] == ["pick", "place"]
    assert plan.feasibility.verdict == FeasibilityJudgment.VERDICT_FEASIBLE
    assert plan.reasoning.startswith("The red cup stands upright")
    assert plan.stats.visual_tokens > 0 and plan.stats.stop_reason == "eos"
    stages = [stage_name(f.stage) for f in feedback]
    assert "thinking" in stages and "answering" in stages
    assert stages.index("thinking") < stages.index("answering")
    assert "".join(f.new_text for f in feedback).startswith("<think>\n")  # Edge's template-opened think included
    assert harness.node.parts.model.backend.family.name == family
    # A standing watch over the same camera: the taught answer says "no", so it clears after clear_after checks.
    watches = harness.node.parts.watches
    harness.wait_for(lambda: watches.entry("workspace").tracker.state == WatchState.CLEARED, 60.0,
                     "the watch cleared by the model's answers")
