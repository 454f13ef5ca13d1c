"""What happens when a goal arrives while another runs: preempt, queue or reject.

The model runs one goal at a time. ``GoalSlots`` hands out that turn: ``admit`` is asked when a goal
arrives (reject when busy, or when the queue is full), ``enqueue`` puts an accepted goal in line in
acceptance order (preempting older goals under "preempt"), ``acquire`` blocks the goal's own worker
thread until its turn, ``release`` ends the turn. Cancel and
preemption travel through each slot's ``stop`` event, which the generation loop checks between tokens.
No ROS here: the node drives it from its action callbacks.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class GoalSlot:
    """One goal's place in line and its stop signals."""

    goal_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    preempted: bool = False
    canceled: bool = False

    def cancel(self) -> None:
        self.canceled = True
        self.stop.set()

    def preempt(self) -> None:
        self.preempted = True
        self.stop.set()


class GoalSlots:
    """Serialises goals on the model under one of the busy policies."""

    def __init__(self, policy: str = "preempt", max_queue: int = 4) -> None:
        self.policy = policy
        self.max_queue = max_queue
        self._cond = threading.Condition()
        self._running: Optional[GoalSlot] = None
        self._waiting: deque[GoalSlot] = deque()

    def configure(self, policy: str, max_queue: int) -> None:
        with self._cond:
            self.policy, self.max_queue = policy, max_queue

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running is not None or bool(self._waiting)

    @property
    def running(self) -> bool:
        with self._cond:
            return self._running is not None

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._waiting)

    def admit(self) -> bool:
        """Whether a new goal may be accepted now (called from the goal callback)."""
        with self._cond:
            busy = self._running is not None or bool(self._waiting)
            if self.policy == "reject":
                return not busy
            if self.policy == "queue":
                return len(self._waiting) < self.max_queue
            return True

    def enqueue(self, slot: GoalSlot) -> None:
        """Take a place in line (call in acceptance order); under "preempt" every older goal is stopped."""
        with self._cond:
            if self.policy == "preempt":
                for other in [self._running, *self._waiting]:
                    if other is not None:
                        other.preempt()
            self._waiting.append(slot)
            self._cond.notify_all()

    def acquire(self, slot: GoalSlot, deadline: Optional[float] = None) -> bool:
        """Block until ``slot`` (enqueued) is first in line and the model is free; False if it was stopped
        (canceled/preempted) or ``deadline`` (a time.monotonic() value) passed while waiting."""
        with self._cond:
            while not slot.stop.is_set() and (self._running is not None or self._waiting[0] is not slot):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._cond.wait(timeout=0.05)
            my_turn = self._running is None and self._waiting[0] is slot
            self._waiting.remove(slot)
            self._cond.notify_all()
            if slot.stop.is_set() or not my_turn:
                return False
            self._running = slot
            return True

    def release(self, slot: GoalSlot) -> None:
        """End the slot's turn, or its wait (safe to call whether or not it ever ran)."""
        with self._cond:
            if self._running is slot:
                self._running = None
            if slot in self._waiting:
                self._waiting.remove(slot)
            self._cond.notify_all()
