"""Every error code of the action, each reached by a real cause; the node keeps serving after each."""
from __future__ import annotations

import time

import pytest
from action_msgs.msg import GoalStatus

from cosmos_reason_ros.action import ReasonAboutTask

Goal, Result, Feedback = ReasonAboutTask.Goal, ReasonAboutTask.Result, ReasonAboutTask.Feedback
PREFIX = "/test_errors"


@pytest.fixture(scope="module")
def harness(rclpy_session, random_model):
    """Random-weight model (long, unparseable output), a live camera, a silent one and a flaky one."""
    from helpers.ros_harness import Camera, Harness

    cameras = [Camera("front", f"{PREFIX}/front/image_raw"), Camera("flaky", f"{PREFIX}/flaky/image_raw")]
    with Harness.started({
        "model": str(random_model),
        "frames.wait_timeout": 0.3,
        "frames.stale_after": 0.5,
        "generation.max_new_tokens": 4000,
        "generation.temperature": 0.0,
    }, cameras, node_name="reasoner_errors", silent=("silent",)) as h:
        yield h


def run(harness, **fields):
    fields.setdefault("cameras", ["front"])
    return harness.run(**fields)


def assert_still_serving(harness) -> None:
    """A short goal right after a failure must work (budget-limited, so it ends MAX_TOKENS → PARSE_FAILED
    with the model's text, proving generation itself ran)."""
    status, result, _ = run(harness, max_new_tokens=3)
    assert result.error_code == Result.PARSE_FAILED, result.error_msg
    assert result.plan.stats.generated_tokens == 3


@pytest.mark.parametrize("fields, fragment", [
    ({"task": ""}, "empty"),
    ({"task": "   \t\n "}, "empty"),
    ({"task": "x" * 2001}, "limit is 2000"),
    ({"mode": 9}, "unknown mode"),
    ({"cameras": ["nope"]}, "unknown camera"),
    ({"max_new_tokens": 100000}, "max_new_tokens"),
    ({"history_seconds": 1e6}, "history_seconds"),
    ({"history_seconds": -1.0}, "history_seconds"),
    ({"max_frames": 60000}, "max_frames"),
    ({"timeout": -2.0}, "timeout"),
])
def test_invalid_goals_are_refused_with_a_reason(harness, fields, fragment):
    fields.setdefault("task", "pick up the cup")
    status, result, _ = run(harness, **fields)
    assert status == GoalStatus.STATUS_ABORTED
    assert result.error_code == Result.INVALID_GOAL
    assert fragment in result.error_msg


def test_silent_camera_gives_no_frames_after_the_bounded_wait(harness):
    started = time.monotonic()
    status, result, feedback = run(harness, cameras=["silent"])
    assert result.error_code == Result.NO_FRAMES and "silent" in result.error_msg
    assert 0.25 <= time.monotonic() - started < 3.0
    assert Feedback.STAGE_WAITING_FOR_FRAMES in [f.stage for f in feedback]


def test_camera_that_stops_gives_stale_frames(harness):
    flaky = next(c for c in harness.cameras if c.name == "flaky")
    flaky.enabled = False
    try:
        time.sleep(0.8)  # longer than frames.stale_after
        status, result, _ = run(harness, cameras=["flaky"])
        assert result.error_code == Result.STALE_FRAMES
        assert "flaky" in result.error_msg and "old" in result.error_msg
    finally:
        flaky.enabled = True
    harness.wait_for(lambda: len(harness.node.parts.ingest.cameras["flaky"].buffer) > 0, 5, "flaky frames")
    status, result, _ = run(harness, cameras=["flaky"], max_new_tokens=2)
    assert result.error_code == Result.PARSE_FAILED  # fresh frames again: the model ran


#: What a confused model might write: no closed reasoning, braces that never form an object, no verdict.
GARBAGE = "<think>\n}} ]] {{ subtasks ::: [[ ,,, \"pick\" {{{ ))) maybe wait"


def test_garbage_output_gives_parse_failed_with_the_raw_text(harness):
    """Garbage from a fault-injecting double (the model still runs), not from whatever random weights emit."""
    from cosmos_reason_ros.core.answers.parsing import parse_output
    from cosmos_reason_ros.core.datatypes import Mode
    from cosmos_reason_ros.core.models.families import REASON1
    from helpers.fault_injection import GarbageOutput

    for stop in ("eos", "max_tokens", ""):
        assert not parse_output(GARBAGE, REASON1, Mode.DECOMPOSE, stop_reason=stop).ok, "the garbage must not parse"
    injector = GarbageOutput(harness.node.parts.model.backend, GARBAGE)
    try:
        status, result, _ = run(harness, max_new_tokens=24)
    finally:
        injector.remove()
    assert injector.replaced == 1
    assert status == GoalStatus.STATUS_ABORTED
    assert result.error_code == Result.PARSE_FAILED
    plan = result.plan
    assert 0 < plan.stats.generated_tokens <= 24 and plan.stats.stop_reason in ("max_tokens", "eos")
    if plan.stats.stop_reason == "max_tokens":
        assert "max_new_tokens=24" in result.error_msg
    assert "subtasks :::" in plan.reasoning + plan.raw_answer
    assert plan.completeness == plan.COMPLETENESS_NONE


def test_deadline_gives_timeout_quickly(harness):
    started = time.monotonic()
    status, result, _ = run(harness, timeout=0.6)
    elapsed = time.monotonic() - started
    assert result.error_code == Result.TIMEOUT, result.error_msg
    assert elapsed < 3.0  # 0.6 s deadline plus goal round trips on a loaded 2-core machine
    assert 0 < result.plan.stats.generated_tokens < 4000 and result.plan.stats.stop_reason == "deadline"
    assert_still_serving(harness)


def test_cancel_mid_generation_stops_within_a_fraction_of_a_second(harness):
    feedback: list = []
    handle = harness.send("describe everything", feedback=feedback, cameras=["front"])
    harness.wait_for(lambda: any(f.stage == Feedback.STAGE_THINKING and f.tokens_generated > 5 for f in feedback),
                     30, "generation to start")
    asked = time.monotonic()
    cancel = handle.cancel_goal_async()
    harness.wait_for(cancel.done, 5, "cancel response")
    status, result = harness.result(handle, timeout=10)
    latency = time.monotonic() - asked
    assert status == GoalStatus.STATUS_CANCELED
    assert result.error_code == Result.CANCELED
    assert latency < 0.5, f"cancel took {latency:.3f} s"
    assert 5 < result.plan.stats.generated_tokens < 4000 and result.plan.stats.stop_reason == "canceled"
    assert_still_serving(harness)


def test_out_of_memory_is_reported_and_the_node_keeps_serving(harness):
    from helpers.fault_injection import FailingGenerate, out_of_memory

    injector = FailingGenerate(harness.node.parts.model.backend, out_of_memory, times=1)
    try:
        status, result, _ = run(harness)
        assert status == GoalStatus.STATUS_ABORTED
        assert result.error_code == Result.OUT_OF_MEMORY
        assert "memory was released" in result.error_msg
        assert injector.raised == 1
    finally:
        injector.remove()
    assert_still_serving(harness)


def test_backend_failure_gives_model_error(harness):
    from helpers.fault_injection import FailingGenerate

    injector = FailingGenerate(harness.node.parts.model.backend,
                               lambda: RuntimeError("cuDNN error: mismatch (injected)"))
    try:
        status, result, _ = run(harness)
        assert result.error_code == Result.MODEL_ERROR and "cuDNN error" in result.error_msg
    finally:
        injector.remove()
    assert_still_serving(harness)


def test_diagnostics_count_failures_by_code(harness):
    stats = harness.node.parts.goals.stats
    assert stats.failed_by_code.get("INVALID_GOAL", 0) >= 10
    assert stats.failed_by_code.get("PARSE_FAILED", 0) >= 1
