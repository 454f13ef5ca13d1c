"""Standing watches without ROS: spec validation, the hysteresis and cool-down state machine, the round-robin
schedule, goals-first model turns, and the WATCH answer through the one repaired parser."""
from __future__ import annotations

import threading

import pytest

from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import Mode, Observed
from cosmos_reason_ros.core.errors import InvalidRequestError
from cosmos_reason_ros.core.models.families import FAMILIES
from cosmos_reason_ros.core.modes.watches import (
    CheckResult,
    ModelTurn,
    Schedule,
    WatchSpec,
    WatchState,
    WatchStats,
    WatchTracker,
    validate_spec,
)

YES, NO = CheckResult(Observed.YES), CheckResult(Observed.NO)
STALE = CheckResult(reason="StaleFramesError: stale camera(s): front 3.0 s old")


def feed(tracker: WatchTracker, answers, start: float = 0.0, step: float = 1.0) -> list:
    """The states after each answer, and the transitions, as (state name, changed)."""
    out = []
    for i, answer in enumerate(answers):
        transition = tracker.observe(answer, start + i * step)
        out.append((tracker.state.name, transition is not None))
    return out


def test_a_watch_starts_unknown_and_needs_its_hysteresis_to_clear_or_raise():
    tracker = WatchTracker(WatchSpec("w", "q", raise_after=3, clear_after=2))
    assert tracker.state == WatchState.UNKNOWN and tracker.reason == "not checked yet"
    assert feed(tracker, [NO]) == [("UNKNOWN", False)]
    assert "1 more to clear" in tracker.reason
    assert feed(tracker, [NO]) == [("CLEARED", True)]
    # flapping is damped: yes, yes, no never reaches three in a row
    assert [s for s, _ in feed(tracker, [YES, YES, NO, YES, YES, NO])] == ["CLEARED"] * 6
    assert feed(tracker, [YES, YES, YES]) == [("CLEARED", False), ("CLEARED", False), ("RAISED", True)]
    assert tracker.reason == "3 consecutive answer(s) 'yes'"
    assert feed(tracker, [NO, YES, NO, NO]) == [("RAISED", False)] * 3 + [("CLEARED", True)]


def test_raise_on_no_inverts_the_answers():
    tracker = WatchTracker(WatchSpec("upright", "is the pallet upright?", raise_on="no", raise_after=1, clear_after=1))
    assert feed(tracker, [YES, NO, YES]) == [("CLEARED", True), ("RAISED", True), ("CLEARED", True)]


def test_no_answer_is_unknown_at_once_and_resets_the_counts():
    tracker = WatchTracker(WatchSpec("w", "q", raise_after=2, clear_after=2))
    feed(tracker, [YES, YES])
    assert tracker.state == WatchState.RAISED
    transition = tracker.observe(STALE, 3.0)
    assert transition.previous == WatchState.RAISED and transition.state == WatchState.UNKNOWN
    assert tracker.reason.startswith("StaleFramesError") and tracker.raising == tracker.clearing == 0
    assert tracker.observe(CheckResult(reason="ParseError: x"), 4.0) is None  # still UNKNOWN: no new alert
    assert tracker.reason == "ParseError: x"
    assert feed(tracker, [YES, YES], start=5.0) == [("UNKNOWN", False), ("RAISED", True)]


def test_cool_down_holds_back_a_raise_after_clearing():
    tracker = WatchTracker(WatchSpec("w", "q", raise_after=1, clear_after=1, cooldown=5.0))
    assert tracker.observe(YES, 0.0).state == WatchState.RAISED
    assert tracker.observe(NO, 1.0).state == WatchState.CLEARED
    assert tracker.observe(YES, 2.0) is None and tracker.observe(YES, 5.9) is None
    assert tracker.state == WatchState.CLEARED and tracker.suppressed == 2 and "cooling down" in tracker.reason
    assert tracker.observe(YES, 6.0).state == WatchState.RAISED  # 5 s after the clear


def test_validation_names_every_problem_and_merges_cameras():
    ok = validate_spec(WatchSpec("person", "  is anyone\nthere? ", cameras=("a", "a", "b")), ["a", "b"], 100)
    assert ok.question == "is anyone there?" and ok.cameras == ("a", "b")
    with pytest.raises(InvalidRequestError) as e:
        validate_spec(WatchSpec("9 bad", "", cameras=("c",), period=0.0, raise_after=0, raise_on="maybe",
                                severity="panic", cooldown=float("nan")), ["a"], 100)
    for fragment in ("must start with a letter", "question is empty", "unknown camera", "period 0.0 is outside",
                     "raise_after 0", "raise_on must be one of yes, no", "severity must be one of", "cooldown nan"):
        assert fragment in e.value.message, fragment
    with pytest.raises(InvalidRequestError, match="limit is 5"):
        validate_spec(WatchSpec("w", "too long a question"), ["a"], 5)
    with pytest.raises(InvalidRequestError, match="not 'names'"):
        validate_spec(WatchSpec("names", "q"), ["a"], 100)


def test_schedule_is_round_robin_over_due_watches():
    schedule = Schedule()
    for name in ("a", "b", "c"):
        schedule.add(name, 0.0)
    order = []
    for _ in range(6):
        name = schedule.next_due(0.0)
        order.append(name)
    assert order[:3] == ["a", "b", "c"]  # all due: each in turn, none twice before the others
    schedule.done("a", 0.0, 1.0)
    schedule.done("b", 0.0, 2.0)
    schedule.done("c", 0.0, 3.0)
    assert schedule.next_due(0.5) is None and schedule.wait_time(0.5) == pytest.approx(0.5)
    assert schedule.next_due(2.5) in ("a", "b") and schedule.next_due(2.5) in ("a", "b")
    schedule.remove("a")
    schedule.remove("b")
    schedule.remove("c")
    assert schedule.next_due(10.0) is None and schedule.wait_time(10.0) is None


def test_achieved_period_follows_the_gaps_between_checks():
    stats = WatchStats()
    for t in (0.0, 1.0, 2.0, 3.0):
        stats.started(t)
    assert stats.achieved_period == pytest.approx(1.0)
    stats.started(13.0)
    assert stats.achieved_period > 3.0  # a long gap (goals held the model) shows at once


def test_model_turn_goals_first():
    busy = threading.Event()
    turn = ModelTurn(busy.is_set)
    stop = turn.begin_check()
    assert stop is not None and turn.begin_check() is None  # one check at a time
    releaser = threading.Timer(0.05, turn.end_check)
    releaser.start()
    assert turn.take_for_goal(timeout=10.0)  # the goal stops the check and waits until it let go
    assert stop.is_set() and turn.preempted_by_goal
    busy.set()  # a goal runs or waits: no check may start
    assert turn.begin_check() is None
    busy.clear()
    second = turn.begin_check()
    assert second is not None and not turn.preempted_by_goal
    goal_stop = threading.Event()
    goal_stop.set()
    assert not turn.take_for_goal(goal_stop, timeout=10.0)  # a goal that was itself stopped does not wait
    turn.end_check()
    assert turn.take_for_goal(timeout=0.1)  # nothing running: the model is the goal's at once


@pytest.mark.parametrize("family", ["reason1", "reason2"])
@pytest.mark.parametrize("answer, observed, ok", [
    ('{"observed": "yes", "confidence": 0.8, "explanation": "a person at the arm"}', Observed.YES, True),
    ('{"observed": "No", "explanation": "nobody"}', Observed.NO, True),
    ('{"detected": true}', Observed.YES, True),
    ('Yes - a person is at the arm', Observed.YES, True),
    ('{"observed": "uncertain"}', Observed.UNKNOWN, False),  # the watch goes UNKNOWN, never "no alert"
    ('{"answer": "There is a cup."}', Observed.UNKNOWN, False),
    ('The scene shows a table.', Observed.UNKNOWN, False),
])
def test_watch_answers_go_through_the_repaired_parser(family, answer, observed, ok):
    fam = FAMILIES[family]
    text = "<think>\nlooking\n</think>\n" + (f"<answer>{answer}</answer>" if fam.answer_in_tags else answer)
    outcome = parse_output(text, fam, Mode.WATCH, stop_reason="eos")
    assert outcome.ok is ok, outcome.error
    assert outcome.parsed.observation.answer == (observed if ok else Observed.UNKNOWN) or not ok


def test_a_truncated_watch_answer_is_not_an_answer():
    fam = FAMILIES["reason2"]
    outcome = parse_output('<think>x</think>{"observed": "ye', fam, Mode.WATCH, stop_reason="max_tokens")
    assert not outcome.ok and "max_new_tokens" in outcome.error
