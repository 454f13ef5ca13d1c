"""Rate-limited action feedback (and live reasoning markers) for one goal.

Generation reports every token; clients and rviz need a few updates per second. Stage changes are
published at once; token progress at most ``rate`` times per second, with the text generated since the
previous message in ``new_text`` so nothing is lost between messages.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

from rclpy.exceptions import InvalidHandle
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

from ..action import ReasonAboutTask
from ..core.reasoner import Progress
from ..core.types import Stage

#: What publishing raises once the action server or the node is gone (shutdown under a running goal).
_GONE = (InvalidHandle, _rclpy.RCLError)


class FeedbackThrottle:
    """Publishes ReasonAboutTask feedback for one goal at a bounded rate."""

    def __init__(self, goal_handle: Any, rate_hz: float, started: float,
                 on_text: Optional[Callable[[str], None]] = None) -> None:
        self._goal_handle = goal_handle
        self._period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self._started = started
        self._on_text = on_text
        self._last_publish = 0.0
        self._stage: Optional[Stage] = None
        self._pending = ""
        self._tokens = 0
        self._text = ""
        self._unsent = False
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
        """Publish whatever progress was not sent yet, so the last feedback carries the final token count."""
        if self._unsent:
            self._publish(time.monotonic())

    def _publish(self, now: float) -> None:
        feedback = ReasonAboutTask.Feedback(
            stage=int(self._stage if self._stage is not None else Stage.QUEUED),
            tokens_generated=self._tokens,
            elapsed=float(now - self._started),
            new_text=self._pending,
            partial_text=self._text,
        )
        try:
            self._goal_handle.publish_feedback(feedback)
        except _GONE:  # torn down under the goal: feedback no longer matters, the result still goes out
            self.dropped += 1
        self._pending = ""
        self._unsent = False
        self._last_publish = now
        self.published += 1
        if self._on_text is not None and self._text:
            try:
                self._on_text(self._text)
            except _GONE:
                pass
