"""FeedbackSender: feedback built and published on its own thread, in order, and waited for by ``flush``.

The throttle's message content is taken on the generation thread; these tests drive it with a recording goal
handle (a test double that stores what it is handed, from whichever thread) and check what went out."""
from __future__ import annotations

import threading

from cosmos_reason_ros.core.datatypes import Stage
from cosmos_reason_ros.core.reasoner import Progress
from cosmos_reason_ros.ros.goals.feedback import FeedbackSender, FeedbackThrottle, LiveView


class RecordingHandle:
    """Stores every feedback message and the thread that published it (a test double)."""

    request = None

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.messages: list = []
        self.threads: list[str] = []
        self.gate = gate

    def publish_feedback(self, feedback) -> None:
        if self.gate is not None:
            self.gate.wait(5.0)
        self.messages.append(feedback)
        self.threads.append(threading.current_thread().name)


def run_goal(throttle: FeedbackThrottle, pieces: list[str]) -> None:
    throttle.stage(Stage.THINKING)
    text = ""
    for i, piece in enumerate(pieces, 1):
        text += piece
        throttle.progress(Progress(Stage.THINKING, tokens=i, delta=piece, text=text))
    throttle.flush()


def test_feedback_goes_out_on_the_sender_thread_in_order_before_flush_returns():
    errors: list[str] = []
    sender = FeedbackSender(errors.append)
    sender.start()
    try:
        handle = RecordingHandle()
        shown: list[LiveView] = []
        throttle = FeedbackThrottle(handle, rate_hz=0.0, started=0.0, on_text=shown.append, sender=sender)
        run_goal(throttle, ["a", "b", "c"])
        # flush returned: everything is out, nothing published on this thread
        assert set(handle.threads) == {"feedback_sender"}
        assert "".join(m.new_text for m in handle.messages) == "abc"
        assert handle.messages[-1].partial_text == "abc" and handle.messages[-1].tokens_generated == 3
        assert [m.tokens_generated for m in handle.messages] == sorted(m.tokens_generated for m in handle.messages)
        assert shown[-1].ended and shown[-1].text == "abc"
        assert throttle.published == len(handle.messages) and not errors
    finally:
        sender.stop()


def test_the_generation_thread_does_not_wait_for_a_slow_publish():
    """A publish held up (the gate) does not hold up progress(): the caller returns while it waits."""
    gate = threading.Event()
    sender = FeedbackSender(lambda message: None)
    sender.start()
    try:
        handle = RecordingHandle(gate)
        throttle = FeedbackThrottle(handle, rate_hz=0.0, started=0.0, sender=sender)
        throttle.stage(Stage.THINKING)
        for i in range(1, 20):
            throttle.progress(Progress(Stage.THINKING, tokens=i, delta="x", text="x" * i))
        assert handle.messages == []  # all 20 are still queued behind the gate
        gate.set()
        throttle.flush()
        assert "".join(m.new_text for m in handle.messages) == "x" * 19
    finally:
        sender.stop()


def test_a_stopped_sender_publishes_on_the_caller_thread_and_a_failing_publish_is_reported():
    errors: list[str] = []
    sender = FeedbackSender(errors.append)  # never started
    handle = RecordingHandle()
    throttle = FeedbackThrottle(handle, rate_hz=0.0, started=0.0, sender=sender)
    run_goal(throttle, ["a"])
    assert handle.threads and set(handle.threads) == {threading.current_thread().name}

    class Broken(RecordingHandle):
        def publish_feedback(self, feedback) -> None:
            raise RuntimeError("middleware gone")

    sender.start()
    try:
        FeedbackThrottle(Broken(), rate_hz=0.0, started=0.0, sender=sender).stage(Stage.THINKING)
        assert sender.drain(5.0)
        assert errors and "middleware gone" in errors[0]
    finally:
        sender.stop()
    assert not sender.running
