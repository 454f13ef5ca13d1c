"""FeedbackThrottle's text: new_text always, the whole text in the last message only (or in every one with
the goal's full_text_feedback), and the live view it feeds (stages, queue, end). Driven with the real
action types and a goal handle that records what it is asked to publish."""
from __future__ import annotations

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.datatypes import Stage
from cosmos_reason_ros.core.reasoner import Progress
from cosmos_reason_ros.ros.goals.feedback import FeedbackThrottle, LiveView


class RecordingGoalHandle:
    def __init__(self, **goal) -> None:
        self.request = ReasonAboutTask.Goal(task="bring me the red cup", **goal)
        self.sent: list = []

    def publish_feedback(self, feedback) -> None:
        self.sent.append(feedback)


def generate(throttle: FeedbackThrottle, pieces: list[str]) -> str:
    text = ""
    for i, piece in enumerate(pieces):
        text += piece
        throttle.progress(Progress(stage=Stage.THINKING, tokens=i + 1, delta=piece, text=text))
    throttle.flush()
    return text


def test_whole_text_only_in_the_last_message():
    handle, shown = RecordingGoalHandle(), []
    throttle = FeedbackThrottle(handle, rate_hz=0.0, started=0.0, on_text=shown.append)  # rate 0: every token
    throttle.stage(Stage.WAITING_FOR_FRAMES)
    text = generate(throttle, ["<think>", "the cup ", "is red", "</think>"])
    assert "".join(f.new_text for f in handle.sent) == text
    assert [f.partial_text for f in handle.sent[:-1]] == [""] * (len(handle.sent) - 1)
    assert handle.sent[-1].partial_text == text and handle.sent[-1].tokens_generated == 4
    assert all(isinstance(s, LiveView) and s.task == "bring me the red cup" for s in shown)
    assert shown[0].text == "" and shown[0].stage == Stage.WAITING_FOR_FRAMES  # the view changes before any text
    assert shown[-1].ended and shown[-1].text == text and not any(s.ended for s in shown[:-1])


def test_full_text_feedback_repeats_it():
    handle = RecordingGoalHandle(full_text_feedback=True)
    throttle = FeedbackThrottle(handle, rate_hz=0.0, started=0.0)
    generate(throttle, ["a", "b", "c"])
    assert [f.partial_text for f in handle.sent] == ["a", "ab", "abc"]


def test_last_message_owed_when_everything_was_sent_already():
    handle = RecordingGoalHandle()
    throttle = FeedbackThrottle(handle, rate_hz=0.0, started=0.0)
    generate(throttle, ["a", "b"])
    assert len(handle.sent) == 3 and handle.sent[-1].new_text == "" and handle.sent[-1].partial_text == "ab"


def test_a_queued_goal_leaves_the_view_alone_and_a_goal_without_text_sends_nothing_more():
    handle, shown = RecordingGoalHandle(), []
    throttle = FeedbackThrottle(handle, rate_hz=10.0, started=0.0, on_text=shown.append)
    throttle.stage(Stage.QUEUED)
    throttle.flush()  # e.g. preempted while queued
    assert [f.stage for f in handle.sent] == [Stage.QUEUED] and shown == []
    invalid = RecordingGoalHandle()
    FeedbackThrottle(invalid, rate_hz=10.0, started=0.0, on_text=shown.append).flush()  # INVALID_GOAL: nothing
    assert invalid.sent == [] and shown == []
