"""Rate-limited action feedback (and the live view of the goal: the reasoning markers) for one goal.

Generation reports every token; clients and rviz need a few updates per second. Stage changes are
published at once; token progress at most ``rate`` times per second, with the text generated since the
previous message in ``new_text`` so nothing is lost between messages.

The whole text so far (``partial_text``) goes only into the goal's last feedback message, unless the goal
sets ``full_text_feedback``: repeating it in every message makes the feedback of one goal grow with the
square of the answer's length (a 4,000-token answer: docs/benchmarks.md).

Building and publishing a feedback message and the live view's markers costs about a millisecond each, which
on the generation thread is time between decoding steps. With a ``FeedbackSender`` the throttle only takes a
snapshot there and the sender's thread builds and publishes it, in order; ``flush`` waits for it, so a goal's
last feedback still goes out before its result.
"""
from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.action.server import RCLError
from rclpy.exceptions import InvalidHandle

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.datatypes import Stage
from cosmos_reason_ros.core.reasoner import Progress
from cosmos_reason_ros.core.text_safety import ros_safe

#: What publishing raises once the action server or the node is gone (shutdown under a running goal).
_GONE = (InvalidHandle, RCLError)


@dataclass(frozen=True)
class LiveView:
    """What the live view of a running goal shows (the rviz markers: ``markers.reasoning_marker``): the text
    generated so far and the goal it belongs to, handed to ``FeedbackThrottle``'s ``on_text``."""

    text: str
    task: str = ""
    mode: int = 0
    stage: int = -1
    tokens: int = 0
    ended: bool = False  # the goal is over (its result follows; on success the plan's markers replace this view)

    @classmethod
    def of(cls, text: str, request: Any, stage: int, tokens: int, ended: bool = False) -> LiveView:
        """The view of a goal from its request (its ``task`` and ``mode``; defaults when it has none)."""
        return cls(text, task=str(getattr(request, "task", "")), mode=int(getattr(request, "mode", 0)), stage=stage,
                   tokens=tokens, ended=ended)


#: s ``FeedbackThrottle.flush`` waits at most for the sender to publish a goal's last feedback.
FLUSH_TIMEOUT = 2.0


class FeedbackSender:
    """One thread that publishes the feedback and live view of every goal, in the order handed over.

    The goals part owns it: started on activate, stopped (after its queue drained) on deactivate. Not
    running, it publishes on the caller's thread, as without it. ``on_error`` hears what a job raised."""

    def __init__(self, on_error: Callable[[str], Any]) -> None:
        self._on_error = on_error
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._busy = 0  # jobs taken off the queue and not finished
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="feedback_sender", daemon=True)
            self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the sender's thread after those handed over before it (at once, here, when stopped)."""
        with self._cond:
            if self._thread is not None and not self._stopping:
                self._jobs.append(job)
                self._cond.notify_all()
                return
        self._call(job)

    def drain(self, timeout: float) -> bool:
        """Wait until every job handed over so far has run; False if ``timeout`` s passed first."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._busy:
                left = end - time.monotonic()
                if left <= 0 or self._thread is None:
                    return not (self._jobs or self._busy)
                self._cond.wait(left)
        return True

    def stop(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Publish what is queued, then end the thread."""
        self.drain(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            leftover, self._jobs = list(self._jobs), collections.deque()
        for job in leftover:  # whatever came in while stopping still goes out, here
            self._call(job)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                self._busy += 1
            try:
                self._call(job)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _call(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as e:  # a feedback that cannot go out must not end the goal or the thread
            self._on_error(f"feedback not published: {type(e).__name__}: {e}")


@dataclass(frozen=True)
class _Snapshot:
    """One feedback message's content, taken on the generation thread."""

    stage: int
    tokens: int
    elapsed: float
    new_text: str
    partial_text: str
    text: str  # the whole text so far (the live view)
    final: bool


class FeedbackThrottle:
    """Publishes ReasonAboutTask feedback for one goal at a bounded rate (through ``sender`` when given)."""

    def __init__(self, goal_handle: Any, rate_hz: float, started: float,
                 on_text: Callable[[LiveView], None] | None = None, sender: FeedbackSender | None = None) -> None:
        self._goal_handle = goal_handle
        self._sender = sender
        self._period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self._started = started
        self._on_text = on_text
        self._last_publish = 0.0
        self._stage: Stage | None = None
        self._pending = ""
        self._tokens = 0
        self._text = ""
        self._unsent = False
        self._full_text_sent = True  # nothing written yet, so nothing owed
        self._shown = False  # the live view has shown this goal
        self._full_text = bool(getattr(getattr(goal_handle, "request", None), "full_text_feedback", False))
        self.published = 0
        self.dropped = 0  # feedback messages that could not be published (the server was gone)

    def stage(self, stage: Stage) -> None:
        """Announce a stage (published immediately if it changed)."""
        if stage != self._stage:
            self._stage = stage
            self._publish(time.monotonic())

    def progress(self, progress: Progress) -> None:
        """Token progress from the reasoner; published when due or when the stage changes.

        On a stage change the text written in the old stage goes out first, under the old stage, so a
        client can attribute every piece of text to the stage it was written in.
        """
        now = time.monotonic()
        if progress.stage != self._stage:
            if self._pending:
                self._publish(now)
            self._stage = progress.stage
            self._accept(progress)
            self._publish(now)
            return
        self._accept(progress)
        if now - self._last_publish >= self._period:
            self._publish(now)

    def _accept(self, progress: Progress) -> None:
        self._unsent = True
        self._pending += progress.delta
        self._tokens = progress.tokens
        self._text = progress.text

    def flush(self) -> None:
        """Publish the goal's last feedback: the final token count and, in ``partial_text``, the whole text;
        return once it is out (or FLUSH_TIMEOUT s passed), so the result follows it."""
        if self._unsent or not self._full_text_sent:
            self._publish(time.monotonic(), final=True)
        stage, text, tokens = int(self._stage if self._stage is not None else Stage.QUEUED), self._text, self._tokens
        self._run(lambda: self._show(stage, text, tokens, ended=True) if self._shown else None)
        if self._sender is not None:
            self._sender.drain(FLUSH_TIMEOUT)

    def _run(self, job: Callable[[], None]) -> None:
        if self._sender is not None:
            self._sender.submit(job)
        else:
            job()

    def _show(self, stage: int, text: str, tokens: int, ended: bool = False) -> None:
        """Hand the live view to ``on_text``; a view torn down under the goal is no error."""
        if self._on_text is None:
            return
        self._shown = True
        try:
            self._on_text(LiveView.of(text, getattr(self._goal_handle, "request", None), stage, tokens, ended=ended))
        except _GONE:
            pass

    def _publish(self, now: float, final: bool = False) -> None:
        """Take the message's content now; build and publish it through the sender (or here)."""
        with_text = final or self._full_text
        snapshot = _Snapshot(stage=int(self._stage if self._stage is not None else Stage.QUEUED),
                             tokens=self._tokens, elapsed=float(now - self._started), new_text=self._pending,
                             partial_text=self._text if with_text else "", text=self._text, final=final)
        self._full_text_sent = with_text or not self._text
        self._pending = ""
        self._unsent = False
        self._last_publish = now
        self._run(lambda: self._send(snapshot))

    def _send(self, snapshot: _Snapshot) -> None:
        feedback = ReasonAboutTask.Feedback(
            stage=snapshot.stage,
            tokens_generated=snapshot.tokens,
            elapsed=snapshot.elapsed,
            new_text=ros_safe(snapshot.new_text),  # model text: a NUL would cut the string in the middleware
            partial_text=ros_safe(snapshot.partial_text),
        )
        try:
            self._goal_handle.publish_feedback(feedback)
        except _GONE:  # torn down under the goal: feedback no longer matters, the result still goes out
            self.dropped += 1
        self.published += 1
        # The live view follows the goal from its first stage (so a new goal visibly replaces the last result),
        # but not while it waits in the queue: the goal on the model keeps the view until it ends.
        if snapshot.stage != Stage.QUEUED:
            self._show(snapshot.stage, snapshot.text, snapshot.tokens)
