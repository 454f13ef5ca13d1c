"""The reasoner as a managed (lifecycle) node, for systems that bring nodes up in order (Nav2 style).

Same parameters, topics and action as ``ReasonerNode``; what exists when:

- unconfigured: parameters declared (``ros2 param`` works), nothing else;
- configure: settings read, backend built (not loaded), cameras subscribed, publishers, action server
  (goals are rejected until active), diagnostics;
- activate: model loading started on the loader thread, goals accepted (until the model is ready they
  get MODEL_NOT_READY, or wait up to ``model_wait_timeout``, as with the plain node);
- deactivate: goals no longer accepted, every running and queued goal ended (SHUTDOWN) with its result
  sent, model unloaded (``backend.close()``: weights dropped, CUDA cache emptied), loader joined;
- cleanup: everything configure made, destroyed; shutdown (from any state): deactivate + cleanup.

Executable ``reasoner_lifecycle``; ``--autostart`` configures and activates it at start (what Nav2's
lifecycle manager does with ``autostart: true``); otherwise drive it through the lifecycle_msgs services
(``~/change_state``, ``~/get_state``), e.g. ``ros2 lifecycle set /cosmos_reasoner configure``.

A ChangeState request for a transition that does not exist in the current state (a raw service call, or a
lifecycle manager configuring a node ``--autostart`` already brought up) answers ``success=false`` and the
node keeps serving, on every distribution: Humble's rclpy lets the ``RCLError`` of such a request escape
the service handler, and the executor re-raises it out of ``spin()`` (see ``ChangeStateGuard``).
"""
from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

from lifecycle_msgs.srv import ChangeState
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from cosmos_reason_ros.core.models.backend import ModelBackend
from cosmos_reason_ros.ros.node.reasoner_node import NodeParts

AUTOSTART_FLAG = "--autostart"


class ChangeStateGuard:
    """The ``~/change_state`` service callback, wrapped: whatever the lifecycle handler raises is logged
    and answered ``success=false``, so the node keeps serving.

    Humble's rclpy (``LifecycleNodeMixin.__change_state``) calls ``trigger_transition_by_id`` without a try:
    a transition id that is invalid in the current state raises ``RCLError`` out of the service callback,
    and the executor re-raises it out of ``spin()``, shutting the node down without a reply. Jazzy and
    Kilted catch it themselves; the guard changes nothing there. The state machine refuses such a request
    before changing state, so answering ``success=false`` is the whole truth.

    Installed through public rclpy API: the node's ``services`` and a Service's ``callback``, which every
    executor reads when a request arrives (rclpy's handler itself is name-mangled and private).
    """

    def __init__(self, handler: Callable[[Any, Any], Any], logger: Any) -> None:
        self.handler = handler  # rclpy's own ChangeState handler
        self._log = logger

    def __call__(self, request: Any, response: Any) -> Any:
        try:
            return self.handler(request, response)
        except Exception as e:  # noqa: BLE001 - rclpy's RCLError type lives in its private implementation
            transition = request.transition
            self._log.error(f"change_state refused transition {transition.id} {transition.label!r}: "
                            f"{type(e).__name__}: {e}")
            response.success = False
            return response

    @classmethod
    def install(cls, node: LifecycleNode) -> ChangeStateGuard | None:
        """Wrap the node's ChangeState service callback (None when the node has no lifecycle services)."""
        for service in node.services:
            if service.srv_type is ChangeState:
                guard = cls(service.callback, node.get_logger())
                service.callback = guard
                return guard
        return None


class ReasonerLifecycleNode(LifecycleNode):
    """``ReasonerNode`` driven by lifecycle transitions instead of its constructor and destructor."""

    def __init__(self, node_name: str = "cosmos_reasoner", backend_factory: Callable[[], ModelBackend] | None = None,
                 **node_kwargs: Any) -> None:
        """``backend_factory``: builds the backend at each configure (default: from the parameters)."""
        super().__init__(node_name, **node_kwargs)
        self.change_state_guard = ChangeStateGuard.install(self)
        self._backend_factory = backend_factory
        self.parts = NodeParts(self)

    def _transition(self, name: str, action: Callable[[], Any]) -> TransitionCallbackReturn:
        try:
            action()
        except Exception as e:  # a transition that fails leaves the node where it was, and says why
            self.get_logger().error(f"{name} failed: {type(e).__name__}: {e}\n{traceback.format_exc().rstrip()}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"{name}: done")
        return TransitionCallbackReturn.SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        def configure() -> None:
            backend = self._backend_factory() if self._backend_factory is not None else None
            # Built for this configuration: deactivate unloads it, cleanup drops it. A configure that fails
            # cleans up what it made (ConfigureError): FAILURE leaves the node unconfigured, as before it.
            self.parts.configure(backend, owned=True)
        return self._transition("configure", configure)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("activate", self.parts.activate)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("deactivate", self.parts.deactivate)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("cleanup", self.parts.cleanup)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        def shutdown() -> None:
            if self.parts.configured:
                self.parts.deactivate()
                self.parts.cleanup()
        return self._transition("shutdown", shutdown)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error while {state.label}: ending goals and releasing the model")
        if self.parts.configured:
            self.parts.deactivate()
            self.parts.cleanup()
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured

    def shutdown(self, wait: float = 2.0) -> bool:
        """Process shutdown (SIGINT/SIGTERM): end every goal (SHUTDOWN), then take the shutdown transition."""
        ended = self.parts.goals.end_all(wait)
        machine = getattr(self, "_state_machine", None)
        state = machine.current_state[1] if machine is not None else ""
        if state in ("unconfigured", "inactive", "active") and hasattr(self, "trigger_shutdown"):
            self.trigger_shutdown()
        elif self.parts.configured:  # an rclpy without trigger_shutdown: do what the transition does
            self.parts.deactivate(wait)
            self.parts.cleanup()
        return ended

    def destroy_node(self) -> None:
        """rclpy's LifecycleNode keeps its state machine, which holds the node's handle: the node stayed in
        the ROS graph (``ros2 node list``, a lifecycle manager) until the participant's lease ran out after
        the process ended. Destroying the machine too lets the handle go now."""
        self.parts.teardown()
        super().destroy_node()
        machine = getattr(self, "_state_machine", None)
        if machine is not None and hasattr(machine, "destroy_when_not_in_use"):
            machine.destroy_when_not_in_use()


def autostart(node: ReasonerLifecycleNode) -> None:
    """configure, then activate (stops at the first transition that fails, which is logged)."""
    if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run cosmos_reason_ros reasoner_lifecycle [--autostart]``."""
    from cosmos_reason_ros.ros.node.shutdown import run_node

    argv = list(args if args is not None else sys.argv)
    start = AUTOSTART_FLAG in argv
    argv = [a for a in argv if a != AUTOSTART_FLAG]
    return run_node(lambda: ReasonerLifecycleNode(), argv, after_start=autostart if start else None,
                    exit_process=True)
