"""Fault-injecting doubles for the node's parts and its lifecycle handler (the parts themselves still run)."""
from __future__ import annotations

from typing import Any


class FailingConfigure:
    """Fault: ``part_type.configure`` runs for real and then raises ``RuntimeError``, for every node, while the
    ``with`` block lasts: a part that failed after it (and every part configured before it) had made its nodes,
    topics, services, action server and timers, all of which must then be cleaned up."""

    def __init__(self, part_type: type) -> None:
        self.part_type = part_type
        self.raised = 0
        self._original: Any = None

    def __enter__(self) -> FailingConfigure:
        original = self._original = self.part_type.__dict__["configure"]

        def configure(part: Any, *args: Any, **kwargs: Any) -> None:
            original(part, *args, **kwargs)
            self.raised += 1
            raise RuntimeError(f"fault injected into {self.part_type.__name__}.configure")

        self.part_type.configure = configure  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.part_type.configure = self._original  # type: ignore[attr-defined]


class HumbleChangeState:
    """Fault: the ChangeState handler behaves as Humble's rclpy does: a transition id the current state does not
    offer raises rclpy's ``RCLError`` out of the handler (Humble calls ``trigger_transition_by_id`` without a
    try); every other request goes to the real handler. Installed under the node's ``ChangeStateGuard``."""

    def __init__(self, node: Any) -> None:
        from rclpy.action.server import RCLError  # the error type Humble's handler lets escape

        self._error = RCLError
        # rclpy has no public reading of the state machine; Humble's handler reads this same attribute.
        self._machine = node._state_machine
        self.guard = node.change_state_guard
        self.real = self.guard.handler
        self.raised = 0
        self.guard.handler = self

    def __call__(self, request: Any, response: Any) -> Any:
        offered = {transition[0] for transition in self._machine.available_transitions}
        if not request.transition.label and request.transition.id not in offered:
            self.raised += 1
            raise self._error(f"No transition matching {request.transition.id} found for current state "
                              f"{self._machine.current_state[1]} (Humble's handler, imitated)")
        return self.real(request, response)

    def remove(self) -> None:
        self.guard.handler = self.real
