"""What happens when a goal arrives while another runs: preempt, queue or reject.

The model runs one goal at a time. ``GoalSlots`` hands out that turn without parking any thread: an
accepted goal is ``enqueue``d with a ``start`` callable (the node passes ``goal_handle.execute``), and
the slots call ``start`` when the goal may run, or at once when it ended while waiting (canceled,
preempted, past its deadline, stopped by shutdown), so its execute callback can report that. This is
the queued-goals pattern of ros2/examples: keep the accepted handles, start the next one when the
running one ends. Queued goals therefore hold no executor thread, however large ``max_queue`` grows.

``admit`` is asked when a goal arrives (reject when busy, or when the queue is full); ``release`` ends
a turn (safe for a slot that never ran); ``expire`` ends waiting goals whose deadline passed (the node
calls it from a timer). Cancel and preemption travel through each slot's ``stop`` event, which the
generation loop checks between tokens. No ROS here: the node drives it from its action callbacks.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


def _nothing() -> None:
    return None


@dataclass
class GoalSlot:
    """One goal's place in line and its stop signals."""

    goal_id: str
    deadline: float | None = None  # time.monotonic() value after which the goal may not start
    start: Callable[[], None] = _nothing  # called once: when the goal may run, or when it ended while queued
    stop: threading.Event = field(default_factory=threading.Event)
    preempted: bool = False
    canceled: bool = False
    client_canceled: bool = False  # the cancel came from the action client (rclpy marks the goal CANCELING)
    shutdown: bool = False  # stopped because the node is shutting down or deactivating
    has_turn: bool = False  # the model is this goal's (set when started for its turn)
    started: bool = False  # ``start`` was called

    def cancel(self) -> None:
        self.canceled = True
        self.stop.set()

    def preempt(self) -> None:
        self.preempted = True
        self.stop.set()

    def stop_for_shutdown(self) -> None:
        self.shutdown = True
        self.stop.set()

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


class GoalSlots:
    """Serialises goals on the model under one of the busy policies; never blocks a caller."""

    def __init__(self, policy: str = "preempt", max_queue: int = 4) -> None:
        self.policy = policy
        self.max_queue = max_queue
        self._lock = threading.Lock()
        self._running: GoalSlot | None = None
        self._waiting: deque[GoalSlot] = deque()

    def configure(self, policy: str, max_queue: int) -> None:
        """Change policy and queue bound; goals already waiting keep their place."""
        with self._lock:
            self.policy, self.max_queue = policy, max_queue

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or bool(self._waiting)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running is not None

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._waiting)

    def admit(self) -> bool:
        """Whether a new goal may be accepted now (called from the goal callback)."""
        with self._lock:
            busy = self._running is not None or bool(self._waiting)
            if self.policy == "reject":
                return not busy
            if self.policy == "queue":
                return len(self._waiting) < self.max_queue
            return True

    def enqueue(self, slot: GoalSlot) -> None:
        """Take a place in line (call in acceptance order); under "preempt" every older goal is stopped.
        ``slot.start`` is called now if the model is free, else when its turn comes or it ends waiting."""
        with self._lock:
            if self.policy == "preempt":
                for other in [self._running, *self._waiting]:
                    if other is not None:
                        other.preempt()
            self._waiting.append(slot)
        self._dispatch()

    def holds_turn(self, slot: GoalSlot) -> bool:
        """Whether ``slot`` was started for its turn on the model (False: it ended while waiting)."""
        with self._lock:
            return self._running is slot and slot.has_turn

    def release(self, slot: GoalSlot) -> None:
        """End the slot's turn, or its wait (safe to call whether or not it ever ran), and start the next."""
        with self._lock:
            if self._running is slot:
                self._running = None
            if slot in self._waiting:
                self._waiting.remove(slot)
        self._dispatch()

    def stop(self, slot: GoalSlot, reason: str = "cancel") -> None:
        """Cancel ("cancel") or stop for shutdown ("shutdown") one goal; a waiting one is started to end."""
        slot.stop_for_shutdown() if reason == "shutdown" else slot.cancel()
        self._dispatch()

    def stop_all(self) -> None:
        """Stop every running and waiting goal for shutdown (waiting ones are started so they can end)."""
        with self._lock:
            slots = [s for s in (self._running, *self._waiting) if s is not None]
        for slot in slots:
            slot.stop_for_shutdown()
        self._dispatch()

    def expire(self) -> None:
        """End waiting goals whose deadline passed (they are started and report TIMEOUT)."""
        self._dispatch()

    def _dispatch(self) -> None:
        """Start the next goal if the model is free; start (to end) waiting goals that were stopped or are late."""
        to_start: list[GoalSlot] = []
        with self._lock:
            for slot in [s for s in self._waiting if s.stop.is_set() or s.expired]:
                self._waiting.remove(slot)
                to_start.append(slot)
            if self._running is None and self._waiting:
                self._running = self._waiting.popleft()
                self._running.has_turn = True
                to_start.append(self._running)
            for slot in to_start:
                slot.started = True
        for slot in to_start:
            slot.start()
