"""Goal slots and the feedback throttle, without DDS: turn-taking under each busy policy, goals that end
while queued (deadline, cancel, shutdown), release without a turn, policy switches under load, and
feedback that is rate-limited, lossless and never raises once the server is gone."""
from __future__ import annotations

import threading
import time

import pytest

from cosmos_reason_ros.ros.goals.slots import GoalSlot, GoalSlots


class Started:
    """Records which slots were started, in order (stands in for goal_handle.execute)."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self._lock = threading.Lock()

    def slot(self, goal_id: str, deadline: float | None = None) -> GoalSlot:
        slot = GoalSlot(goal_id, deadline=deadline)
        slot.start = lambda: self._record(goal_id)
        return slot

    def _record(self, goal_id: str) -> None:
        with self._lock:
            self.order.append(goal_id)


def test_the_first_goal_starts_at_once_and_the_next_when_it_ends():
    started = Started()
    slots = GoalSlots("queue", max_queue=4)
    a, b, c = (started.slot(name) for name in "abc")
    for slot in (a, b, c):
        slots.enqueue(slot)
    assert started.order == ["a"] and slots.holds_turn(a) and slots.queued == 2
    slots.release(a)
    assert started.order == ["a", "b"] and slots.holds_turn(b) and not slots.holds_turn(c)
    slots.release(b)
    slots.release(c)
    assert started.order == ["a", "b", "c"] and not slots.busy


def test_a_deadline_passing_while_queued_ends_the_goal_without_a_turn():
    started = Started()
    slots = GoalSlots("queue", max_queue=4)
    running, late = started.slot("running"), started.slot("late", deadline=time.monotonic() + 0.05)
    slots.enqueue(running)
    slots.enqueue(late)
    slots.expire()
    assert started.order == ["running"]  # not yet late
    end = time.monotonic() + 5.0
    while "late" not in started.order and time.monotonic() < end:  # the node's timer does this
        slots.expire()
        time.sleep(0.01)
    assert started.order == ["running", "late"]
    assert not slots.holds_turn(late) and late.expired and not late.stop.is_set()
    assert slots.holds_turn(running) and slots.queued == 0


@pytest.mark.parametrize("reason", ["cancel", "shutdown"])
def test_a_goal_stopped_while_queued_is_started_only_to_end(reason):
    started = Started()
    slots = GoalSlots("queue", max_queue=4)
    running, waiting, last = started.slot("running"), started.slot("waiting"), started.slot("last")
    for slot in (running, waiting, last):
        slots.enqueue(slot)
    slots.stop(waiting, reason)
    assert started.order == ["running", "waiting"] and not slots.holds_turn(waiting)
    assert waiting.canceled == (reason == "cancel") and waiting.shutdown == (reason == "shutdown")
    slots.release(waiting)  # its execute callback ends: the running goal keeps the model
    assert slots.holds_turn(running) and slots.queued == 1
    slots.release(running)
    assert started.order[-1] == "last" and slots.holds_turn(last)


def test_release_without_a_turn_is_harmless():
    started = Started()
    slots = GoalSlots("queue", max_queue=4)
    stranger = started.slot("stranger")
    slots.release(stranger)  # never enqueued
    assert not slots.busy and started.order == []
    running = started.slot("running")
    slots.enqueue(running)
    slots.release(stranger)
    slots.release(stranger)
    assert slots.holds_turn(running) and started.order == ["running"]


def test_stop_all_ends_running_and_queued_goals_for_shutdown():
    started = Started()
    slots = GoalSlots("queue", max_queue=10)
    goals = [started.slot(f"g{i}") for i in range(5)]
    for slot in goals:
        slots.enqueue(slot)
    slots.stop_all()
    assert all(slot.shutdown and slot.stop.is_set() for slot in goals)
    assert started.order == [f"g{i}" for i in range(5)]  # each waiting goal started, to end SHUTDOWN
    assert slots.holds_turn(goals[0]) and slots.queued == 0


def test_policy_switch_under_load():
    started = Started()
    slots = GoalSlots("queue", max_queue=2)
    running, w1, w2 = started.slot("running"), started.slot("w1"), started.slot("w2")
    for slot in (running, w1, w2):
        assert slots.admit()
        slots.enqueue(slot)
    assert not slots.admit()  # queue full
    slots.configure("queue", 50)  # raised at run time: admitted again, nobody moved
    assert slots.admit() and slots.queued == 2
    slots.configure("reject", 50)
    assert not slots.admit()
    slots.configure("preempt", 50)
    newest = started.slot("newest")
    assert slots.admit()
    slots.enqueue(newest)
    assert running.preempted and w1.preempted and w2.preempted and not newest.stop.is_set()
    assert started.order == ["running", "w1", "w2"]  # the preempted waiters end at once
    slots.release(w1)
    slots.release(w2)
    assert slots.holds_turn(running)  # stops at its next decoding step
    slots.release(running)
    assert slots.holds_turn(newest) and started.order[-1] == "newest"


def test_many_threads_one_turn_at_a_time_each_goal_started_once():
    slots = GoalSlots("queue", max_queue=1000)
    active = [0]
    peak = [0]
    starts: dict[str, int] = {}
    guard = threading.Lock()
    done = threading.Event()
    total = 60

    def make(goal_id: str) -> GoalSlot:
        slot = GoalSlot(goal_id)

        def start() -> None:
            with guard:
                starts[goal_id] = starts.get(goal_id, 0) + 1
                if slots.holds_turn(slot):
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
            threading.Thread(target=finish, args=(slot,)).start()  # the execute callback, on its own thread

        slot.start = start
        return slot

    def finish(slot: GoalSlot) -> None:
        with guard:
            if slots.holds_turn(slot):
                active[0] -= 1
        slots.release(slot)
        with guard:
            if len(starts) == total and not slots.busy:
                done.set()

    workers = [threading.Thread(target=lambda i=i: slots.enqueue(make(f"g{i}"))) for i in range(total)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert done.wait(10.0), starts
    assert set(starts.values()) == {1} and peak[0] == 1


# ------------------------------------------------------------------------------------ feedback throttle
class RecordingGoalHandle:
    """Test double for rclpy's ServerGoalHandle: keeps what would have been published."""

    def __init__(self, fail_with: BaseException | None = None) -> None:
        self.sent: list = []
        self.fail_with = fail_with

    def publish_feedback(self, feedback) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(feedback)


def tokens(throttle, stage, words):
    from cosmos_reason_ros.core.reasoner import Progress

    text = ""
    for i, word in enumerate(words, 1):
        text += word
        throttle.progress(Progress(stage=stage, tokens=i, delta=word, text=text))
    return text


def test_feedback_is_rate_limited_and_loses_no_text():
    from cosmos_reason_ros.core.datatypes import Stage
    from cosmos_reason_ros.ros.goals.feedback import FeedbackThrottle

    handle = RecordingGoalHandle()
    throttle = FeedbackThrottle(handle, rate_hz=0.01, started=time.monotonic())  # one message per 100 s
    throttle.stage(Stage.ENCODING)
    text = tokens(throttle, Stage.THINKING, [f"w{i} " for i in range(50)])
    # The stage change went out at once (with the first token); the other 49 tokens wait for the period.
    assert [int(f.stage) for f in handle.sent] == [int(Stage.ENCODING), int(Stage.THINKING)]
    throttle.flush()
    assert len(handle.sent) == 3 and handle.sent[-1].tokens_generated == 50
    assert "".join(f.new_text for f in handle.sent) == text == handle.sent[-1].partial_text
    throttle.flush()  # nothing new: nothing sent
    assert len(handle.sent) == 3


def test_feedback_at_a_high_rate_sends_every_token():
    from cosmos_reason_ros.core.datatypes import Stage
    from cosmos_reason_ros.ros.goals.feedback import FeedbackThrottle

    handle = RecordingGoalHandle()
    throttle = FeedbackThrottle(handle, rate_hz=0.0, started=time.monotonic())  # 0 = no limit
    tokens(throttle, Stage.ANSWERING, ["a", "b", "c"])
    assert [f.tokens_generated for f in handle.sent] == [1, 2, 3]


@pytest.mark.parametrize("gone", ["invalid_handle", "rcl_error"])
def test_feedback_after_the_server_is_gone_does_not_raise(gone):
    from rclpy.action.server import RCLError
    from rclpy.exceptions import InvalidHandle

    from cosmos_reason_ros.core.datatypes import Stage
    from cosmos_reason_ros.ros.goals.feedback import FeedbackThrottle

    error = InvalidHandle("destroyed") if gone == "invalid_handle" else RCLError("publisher is invalid")
    handle = RecordingGoalHandle(fail_with=error)
    texts: list[str] = []
    throttle = FeedbackThrottle(handle, rate_hz=10.0, started=time.monotonic(), on_text=texts.append)
    throttle.stage(Stage.THINKING)
    tokens(throttle, Stage.ANSWERING, ["x", "y"])
    throttle.flush()
    assert throttle.dropped >= 2 and not handle.sent
    assert texts  # the markers callback still ran


def test_feedback_errors_other_than_a_gone_server_still_raise():
    from cosmos_reason_ros.core.datatypes import Stage
    from cosmos_reason_ros.ros.goals.feedback import FeedbackThrottle

    throttle = FeedbackThrottle(RecordingGoalHandle(fail_with=TypeError("bug")), 10.0, time.monotonic())
    with pytest.raises(TypeError):
        throttle.stage(Stage.THINKING)
