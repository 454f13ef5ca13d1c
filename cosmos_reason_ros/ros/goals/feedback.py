"""Rate-limited action feedback (and the live view of the goal: the reasoning markers) for one goal.

Generation reports every token; clients and rviz need a few updates per second. Stage changes are
published at once; token progress at most ``rate`` times per second, with the text generated since the
previous message in ``new_text`` so nothing is lost between messages.

The whole text so far (``partial_text``) goes only into the goal's last feedback message, unless the goal
sets ``full_text_feedback``: repeating it in every message makes the feedback of one goal grow with the
square of the answer's length (a 4,000-token answer: docs/benchmarks.md).
"""
from __future__ import annotations

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


class FeedbackThrottle:
    """Publishes ReasonAboutTask feedback for one goal at a bounded rate."""

    def __init__(self, goal_handle: Any, rate_hz: float, started: float,
                 on_text: Callable[[LiveView], None] | None = None) -> None:
        self._goal_handle = goal_handle
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
        """Publish the goal's last feedback: the final token count and, in ``partial_text``, the whole text."""
        if self._unsent or not self._full_text_sent:
            self._publish(time.monotonic(), final=True)
        if self._shown:  # the live view says the goal ended
            self._show(int(self._stage), ended=True)

    def _show(self, stage: int, ended: bool = False) -> None:
        """Hand the live view to ``on_text``; a view torn down under the goal is no error."""
        if self._on_text is None:
            return
        self._shown = True
        try:
            self._on_text(LiveView.of(self._text, getattr(self._goal_handle, "request", None), stage, self._tokens,
                                      ended=ended))
        except _GONE:
            pass

    def _publish(self, now: float, final: bool = False) -> None:
        with_text = final or self._full_text
        feedback = ReasonAboutTask.Feedback(
            stage=int(self._stage if self._stage is not None else Stage.QUEUED),
            tokens_generated=self._tokens,
            elapsed=float(now - self._started),
            new_text=ros_safe(self._pending),  # model text: a NUL would cut the string in the middleware
            partial_text=ros_safe(self._text) if with_text else "",
        )
        try:
            self._goal_handle.publish_feedback(feedback)
        except _GONE:  # torn down under the goal: feedback no longer matters, the result still goes out
            self.dropped += 1
        self._full_text_sent = with_text or not self._text
        self._pending = ""
        self._unsent = False
        self._last_publish = now
        self.published += 1
        # The live view follows the goal from its first stage (so a new goal visibly replaces the last result),
        # but not while it waits in the queue: the goal on the model keeps the view until it ends.
        if feedback.stage != Stage.QUEUED:
            self._show(feedback.stage)
