"""Standing watches without ROS: the spec and its checks, the alert state machine, the check schedule.

A watch is a yes/no question the node keeps asking of its cameras every ``period`` seconds. Its state is
RAISED, CLEARED or UNKNOWN, with hysteresis:

* ``raise_after`` consecutive answers equal to ``raise_on`` raise it; ``clear_after`` consecutive other
  answers (yes/no, whichever is not ``raise_on``) clear it. A watch starts UNKNOWN ("not checked yet"), so it
  needs ``clear_after`` answers to be CLEARED: a safety monitor never reads "no alert" before the node looked.
* ``cooldown`` s after it was CLEARED, a watch cannot RAISE again (it stays CLEARED, the raising answers are
  counted and it raises once the cool-down is over, if they continue).
* A check that could not answer (stale or silent camera, model not ready, an unparseable, truncated or
  "uncertain" answer, a model error) makes the watch UNKNOWN at once, with the reason, and resets both
  counts: it is never a silent "no alert". A check stopped because a goal needed the model is not an answer:
  the state stays, the check is counted as skipped and retried at the next period.

``Schedule`` hands out due watches round-robin and measures each one's achieved period.

A check costs ONE generated token by default (``reasoning`` false): the yes/no question is asked without
reasoning, in the family's plain prompt form, and the answer is read from the first token's probabilities,
P(yes) against P(no) (``check_one_token``); the confidence is the answer's share of that mass. When the two
together hold less than ``MIN_ANSWER_MASS`` the model meant neither, and the check is UNKNOWN with that reason.
Watches due together over the same frames (same cameras, window and frame count: ``FrameKey``) are checked
in one call, which a local model serves with one prefill of the video. ``reasoning`` true keeps the reasoning
and JSON answer of a goal (seconds per check, with an explanation).
"""
from __future__ import annotations

import enum
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cosmos_reason_ros.core.datatypes import (
    CONFIDENCE_UNKNOWN,
    CameraClip,
    GenerationOutput,
    GenerationStats,
    Mode,
    Observation,
    Observed,
    ParsedAnswer,
    ParseOutcome,
    ReasoningResult,
    SeenFrames,
)
from cosmos_reason_ros.core.errors import CanceledError, DeadlineExceededError, InvalidRequestError, ModelNotReadyError
from cosmos_reason_ros.core.frames.video import prepare_clips
from cosmos_reason_ros.core.models.backend import YesNoOutput, YesNoRequest, YesNoScore
from cosmos_reason_ros.core.modes.prompts import build_watch_prompt, watch_question
from cosmos_reason_ros.core.text_safety import has_visible_text, sanitize_text

if TYPE_CHECKING:  # the reasoner imports the models; a watch only needs its backend and video budget
    from cosmos_reason_ros.core.reasoner import Reasoner

#: Which answer raises the alert (parameter ``watches.<name>.raise_on``).
RAISE_ON = ("yes", "no")
#: How serious a raised watch is (parameter ``watches.<name>.severity``; Watch.msg SEVERITY_*).
SEVERITIES = ("info", "warning", "error", "critical")
_CONSECUTIVE = (1, 100)  # answers in a row that raise or clear a watch
#: Inclusive bounds of the numeric fields of a watch (parameters and the AddWatch service share them).
RANGES: dict[str, tuple[float, float]] = {
    "history_seconds": (0.0, 600.0),
    "max_frames": (0, 256),
    "period": (0.1, 3600.0),
    "raise_after": _CONSECUTIVE,
    "clear_after": _CONSECUTIVE,
    "cooldown": (0.0, 86400.0),
    "max_new_tokens": (0, 16384),
}
#: A one-token check whose first token puts less than this probability on yes and no together answered neither:
#: the check is UNKNOWN (the model meant something else, or is unsure what the question asks).
MIN_ANSWER_MASS = 0.5
#: A watch whose achieved period is this many times its configured one says so in diagnostics.
PERIOD_NOT_MET_FACTOR = 1.5
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


class WatchState(enum.IntEnum):
    """A watch's alert state (values equal Alert/WatchState STATE_*)."""

    UNKNOWN = 0
    CLEARED = 1
    RAISED = 2


@dataclass(frozen=True)
class WatchSpec:
    """One watch as declared (parameters) or added (AddWatch). Zero in a numeric field = the node's default."""

    name: str
    question: str
    cameras: tuple[str, ...] = ()  # empty = every configured camera
    history_seconds: float = 0.0  # 0 = frames.history_seconds
    max_frames: int = 0  # 0 = frames.max_frames
    period: float = 2.0  # s between checks
    raise_on: str = "yes"
    raise_after: int = 2
    clear_after: int = 2
    cooldown: float = 0.0  # s after clearing before it may raise again
    severity: str = "warning"
    enabled: bool = True
    max_new_tokens: int = 0  # 0 = generation.max_new_tokens (reasoning checks only)
    reasoning: bool = False  # true: reason, then answer in JSON (seconds); false: one token, P(yes) vs P(no)


def validate_spec(spec: WatchSpec, cameras: Sequence[str], max_question_chars: int) -> WatchSpec:
    """The spec, checked (InvalidRequestError with every problem found); cameras named twice are merged."""
    problems = []
    if not _NAME.match(spec.name or "") or spec.name == "names":
        problems.append(f"name {spec.name!r} must start with a letter and hold only letters, digits and "
                        "underscores (at most 63, not 'names')")
    question = sanitize_text(str(spec.question or ""))  # as the prompt will clean it
    if not has_visible_text(question):
        problems.append("question is empty (nothing visible once whitespace, control and invisible characters "
                        "are removed)")
    elif len(question) > max_question_chars:
        problems.append(f"question is {len(question)} characters; the limit is {max_question_chars}")
    unknown = [c for c in spec.cameras if c not in cameras]
    if unknown:
        problems.append(f"unknown camera(s) {unknown}; configured: {sorted(cameras)}")
    for key, (low, high) in RANGES.items():
        value = getattr(spec, key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value) \
                or not low <= value <= high:
            problems.append(f"{key} {value!r} is outside {low:g}..{high:g}")
    if spec.raise_on not in RAISE_ON:
        problems.append(f"raise_on must be one of {', '.join(RAISE_ON)}, got {spec.raise_on!r}")
    if spec.severity not in SEVERITIES:
        problems.append(f"severity must be one of {', '.join(SEVERITIES)}, got {spec.severity!r}")
    if problems:
        raise InvalidRequestError(f"watch {spec.name!r} refused: " + "; ".join(problems))
    return replace(spec, question=question, cameras=tuple(dict.fromkeys(spec.cameras)))


@dataclass
class CheckResult:
    """The outcome of one check: an answer (YES/NO) or, with ``reason``, none."""

    answer: Observed = Observed.UNKNOWN
    reason: str = ""  # why there is no answer ("" when there is one)
    confidence: float = CONFIDENCE_UNKNOWN
    explanation: str = ""

    @property
    def answered(self) -> bool:
        return self.answer in (Observed.YES, Observed.NO)


@dataclass
class Transition:
    """A change of state, for the ``~/alerts`` topic."""

    previous: WatchState
    state: WatchState
    reason: str


class WatchTracker:
    """One watch's state machine (hysteresis and cool-down) over the answers of its checks."""

    def __init__(self, spec: WatchSpec) -> None:
        self.spec = spec
        self.state = WatchState.UNKNOWN
        self.reason = "not checked yet"
        self.raising = 0  # consecutive answers equal to raise_on
        self.clearing = 0  # consecutive other answers
        self.last: CheckResult | None = None
        self.cleared_at: float | None = None  # when it last became CLEARED
        self.suppressed = 0  # raises held back by the cool-down

    @property
    def raise_answer(self) -> Observed:
        return Observed.YES if self.spec.raise_on == "yes" else Observed.NO

    def cooling_until(self) -> float | None:
        """When the cool-down ends (None when there is none to wait for)."""
        if self.cleared_at is None or self.spec.cooldown <= 0:
            return None
        return self.cleared_at + self.spec.cooldown

    def observe(self, result: CheckResult, now: float) -> Transition | None:
        """Feed one check's result (``now``: a monotonic time); the transition it caused, if any."""
        self.last = result
        if not result.answered:
            self.raising = self.clearing = 0
            return self._move(WatchState.UNKNOWN, result.reason or "no answer")
        if result.answer == self.raise_answer:
            self.raising, self.clearing = self.raising + 1, 0
            if self.raising >= self.spec.raise_after and self.state != WatchState.RAISED:
                until = self.cooling_until()
                if until is not None and now < until and self.state == WatchState.CLEARED:
                    self.suppressed += 1
                    self.reason = f"cooling down for {until - now:.1f} s more after clearing"
                    return None
                return self._move(WatchState.RAISED, f"{self.raising} consecutive answer(s) {self.spec.raise_on!r}")
        else:
            self.clearing, self.raising = self.clearing + 1, 0
            if self.clearing >= self.spec.clear_after and self.state != WatchState.CLEARED:
                self.cleared_at = now
                other = "no" if self.spec.raise_on == "yes" else "yes"
                return self._move(WatchState.CLEARED, f"{self.clearing} consecutive answer(s) {other!r}")
        if self.state == WatchState.UNKNOWN:
            self.reason = (f"answered; waiting for {self.spec.raise_after - self.raising} more to raise or "
                           f"{self.spec.clear_after - self.clearing} more to clear")
        return None

    def mark_unknown(self, reason: str) -> Transition | None:
        """No more checks for now (disabled, the node inactive): UNKNOWN with ``reason``, counts reset."""
        self.raising = self.clearing = 0
        return self._move(WatchState.UNKNOWN, reason)

    def _move(self, state: WatchState, reason: str) -> Transition | None:
        previous, self.reason = self.state, reason
        if state == previous:
            return None
        self.state = state
        return Transition(previous, state, reason)


@dataclass
class WatchStats:
    """Counters of one watch, for /diagnostics and ListWatches."""

    checks: int = 0  # checks that ran to an outcome (an answer or a reason for none)
    skipped: dict[str, int] = field(default_factory=dict)  # cause → count
    last_error: str = ""
    last_started: float | None = None
    achieved_period: float = -1.0  # s, mean gap between started checks (EWMA); -1 until two have run

    def started(self, now: float) -> None:
        if self.last_started is not None:
            gap = now - self.last_started
            self.achieved_period = gap if self.achieved_period < 0 else 0.7 * self.achieved_period + 0.3 * gap
        self.last_started = now

    def skip(self, cause: str) -> None:
        self.skipped[cause] = self.skipped.get(cause, 0) + 1


class Schedule:
    """When each watch is due, and which due watch goes next (round-robin, in the order watches were added)."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._last: str | None = None

    def add(self, name: str, now: float) -> None:
        self._due[name] = now  # a new (or re-enabled) watch is checked at once

    def remove(self, name: str) -> None:
        self._due.pop(name, None)

    def done(self, name: str, started: float, period: float) -> None:
        """The check that started at ``started`` ended (answered, failed or preempted): next one a period later."""
        if name in self._due:
            self._due[name] = started + period

    def next_due(self, now: float) -> str | None:
        """The due watch after the one handed out last (round-robin), or None when none is due."""
        names = list(self._due)
        if not names:
            return None
        start = names.index(self._last) + 1 if self._last in self._due else 0
        for name in names[start:] + names[:start]:
            if self._due[name] <= now:
                self._last = name
                return name
        return None

    def due(self, now: float) -> list[str]:
        """Every watch due now, in the order they were added (the runner checks those that share frames
        together with the one ``next_due`` handed out)."""
        return [name for name, due in self._due.items() if due <= now]

    def wait_time(self, now: float) -> float | None:
        """s until the next watch is due (0 when one is due now; None when there are none)."""
        return max(0.0, min(self._due.values()) - now) if self._due else None


class ModelTurn:
    """Goals first: a watch check may use the model only while no goal runs or waits, and a goal that comes
    takes the model back (the check's stop event is set; the decoding loop checks it between steps)."""

    def __init__(self, goals_busy: Callable[[], bool]) -> None:
        self._goals_busy = goals_busy
        self._lock = threading.Condition()
        self._check_stop: threading.Event | None = None
        self.preempted_by_goal = False

    def begin_check(self) -> threading.Event | None:
        """The stop event of a check that may start now, or None while a goal runs or waits."""
        with self._lock:
            if self._goals_busy() or self._check_stop is not None:
                return None
            self._check_stop = threading.Event()
            self.preempted_by_goal = False
            return self._check_stop

    def end_check(self) -> None:
        with self._lock:
            self._check_stop = None
            self._lock.notify_all()

    def stop_check(self) -> None:
        """Stop a running check (shutdown, a removed watch) without marking it preempted by a goal."""
        with self._lock:
            if self._check_stop is not None:
                self._check_stop.set()

    def take_for_goal(self, stop: threading.Event | None = None, timeout: float = 30.0) -> bool:
        """Called by a goal before it uses the model: stop a running check and wait (bounded, or until
        ``stop``) until it has let go. True when the model is the goal's."""
        end = time.monotonic() + timeout
        with self._lock:
            if self._check_stop is not None:
                self.preempted_by_goal = True
                self._check_stop.set()
            while self._check_stop is not None:
                if (stop is not None and stop.is_set()) or time.monotonic() >= end:
                    return False
                self._lock.wait(0.05)
            return True


@dataclass(frozen=True)
class FrameKey:
    """What decides a check's frames: cameras (resolved, in order), window (s) and frames per camera. Watches
    with equal keys see the same frames chosen the same way, so one-token ones due together share a call."""

    cameras: tuple[str, ...]
    history_seconds: float
    max_frames: int


def score_result(score: YesNoScore) -> CheckResult:
    """One question's first-token score as a check result: the likelier answer, its share of the yes/no mass
    as the confidence; UNKNOWN (with the figures) when yes and no together are below ``MIN_ANSWER_MASS``."""
    mass = score.p_yes + score.p_no
    if mass < MIN_ANSWER_MASS or mass <= 0.0:
        said = f"; it wrote {score.text[:40]!r}" if score.from_text else ""
        return CheckResult(reason=f"the model answered neither yes nor no: P(yes) {score.p_yes:.3f} + P(no) "
                                  f"{score.p_no:.3f} < {MIN_ANSWER_MASS:g}{said}")
    answer = Observed.YES if score.p_yes >= score.p_no else Observed.NO
    confidence = max(score.p_yes, score.p_no) / mass
    return CheckResult(answer, "", confidence, f"P(yes) {score.p_yes:.3f}, P(no) {score.p_no:.3f} (one token)")


def check_one_token(reasoner: Reasoner, questions: Sequence[str], clips: Sequence[CameraClip],
                    cancel: threading.Event, deadline: float | None) -> list[tuple[CheckResult, ReasoningResult]]:
    """Check several watches over the same ``clips`` by one token each, in ONE backend call (one shared
    prefill where the backend can): (result, evidence) per question, in order.

    Raises CanceledError / DeadlineExceededError when stopped before every question was scored, and the
    backend's errors (ModelError, OutOfMemoryError, ...) as they are."""
    backend = reasoner.backend
    if not backend.ready or backend.family is None:
        raise ModelNotReadyError(backend.not_ready_message())
    family = backend.family
    geometry = replace(family, temporal_patch_size=1) if backend.frames_as_images else family
    prepared = prepare_clips(clips, geometry, reasoner.budget)
    reserved = tuple(getattr(backend, "control_tokens", ()))
    prompt = build_watch_prompt(family, prepared, reserved)
    asked = tuple(watch_question(q, reserved, family) for q in questions)
    output = backend.answer_yes_no(YesNoRequest(prompt, asked, cancel, deadline))
    if output.stop_reason == "canceled":
        raise CanceledError(f"check canceled after {len(output.scores)} of {len(asked)} question(s)")
    if output.stop_reason == "deadline" or len(output.scores) < len(asked):
        raise DeadlineExceededError(f"check deadline passed after {len(output.scores)} of {len(asked)} question(s)")
    seen = [SeenFrames(c.camera, list(c.source_stamps), c.frame_id, list(c.source_stamps_ns)) for c in prepared]
    warnings = [w for c in clips for w in c.warnings] + [f"camera {c.camera}: {n}" for c in prepared for n in c.notes]
    results = []
    for question, text, score in zip(questions, asked, output.scores, strict=True):
        result = score_result(score)
        results.append((result, _evidence(reasoner, question, text, prompt.user_text(), score, result, output, seen,
                                          warnings)))
    return results


def _evidence(reasoner: Reasoner, question: str, asked: str, shared_text: str, score: YesNoScore,
              result: CheckResult, output: YesNoOutput, seen: list[SeenFrames], warnings: list[str]) -> ReasoningResult:
    """What a one-token check saw and cost, in the form a reasoning check reports it (Alert, WatchState)."""
    answer = {Observed.YES: "yes", Observed.NO: "no"}.get(result.answer, "")
    parsed = ParsedAnswer(observation=Observation(result.answer, result.confidence, result.explanation), answer=answer)
    outcome = ParseOutcome(reasoning="", answer_text=score.text or answer, parsed=parsed, ok=result.answered,
                           error=result.reason)
    share = output.elapsed / max(1, len(output.scores))
    stats = GenerationStats(time_to_first_token=share, generation_time=share, prompt_tokens=output.prompt_tokens,
                            visual_tokens=output.visual_tokens, generated_tokens=score.tokens,
                            stop_reason="max_tokens")
    return ReasoningResult(mode=Mode.WATCH, task=question, outcome=outcome,
                           generation=GenerationOutput(text=score.text or answer, stats=stats), seen=seen,
                           model_id=reasoner.backend.model_id, prompt_text=f"{shared_text}\n{asked}",
                           frame_warnings=warnings)
