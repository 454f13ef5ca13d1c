"""Fault-injecting doubles on either side of the reasoner's action, for the timeouts of its clients (behaviour
trees): a server that withholds its answers, and a client that loses the goal replies it is sent.

Both are real rclpy action endpoints of the package's ``ReasonAboutTask`` type over real DDS; only answers are
withheld or dropped.
"""
from __future__ import annotations

import threading
from typing import Any

#: The faults the double injects.
NEVER_ANSWERS = "never answers"  # a goal request gets no response (a lost reply) until release()
NEVER_RESULTS = "never results"  # goals are accepted at once; no result is ever sent (until canceled or released)


class FaultInjectingReasonServer:
    """Fault-injecting double of ``/<name>/reason`` (``fault``: NEVER_ANSWERS or NEVER_RESULTS).

    Records the goal requests it received and the cancel requests it accepted. After ``release()`` a withheld
    goal request is accepted (a late reply); any accepted goal then runs until it is canceled (CANCELED) or the
    double closes (aborted). ``client_node`` is a plain node spun by the same executor, for the client under
    test. A context manager: closing releases everything and destroys both nodes.
    """

    def __init__(self, rclpy_session: Any, name: str, fault: str) -> None:
        from rclpy.action import ActionServer, CancelResponse, GoalResponse
        from rclpy.callback_groups import ReentrantCallbackGroup
        from rclpy.executors import MultiThreadedExecutor

        from cosmos_reason_ros.action import ReasonAboutTask

        if fault not in (NEVER_ANSWERS, NEVER_RESULTS):
            raise ValueError(f"unknown fault {fault!r}")
        self.fault = fault
        self.action_name = f"/{name}/reason"
        self.requests = 0  # goal requests received
        self.cancels = 0  # cancel requests accepted
        self.released = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._action = ReasonAboutTask
        self._accept, self._cancel_ok = GoalResponse.ACCEPT, CancelResponse.ACCEPT
        self.node = rclpy_session.create_node(name)
        self.client_node = rclpy_session.create_node(f"{name}_client")
        self.server = ActionServer(self.node, ReasonAboutTask, self.action_name, execute_callback=self._execute,
                                   goal_callback=self._on_goal, cancel_callback=self._on_cancel,
                                   callback_group=ReentrantCallbackGroup())
        self.executor = MultiThreadedExecutor(num_threads=4)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client_node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _on_goal(self, goal: Any) -> Any:
        with self._lock:
            self.requests += 1
        if self.fault == NEVER_ANSWERS:
            self.released.wait()  # holds one executor thread; the reply goes out only after release()
        return self._accept

    def _on_cancel(self, goal_handle: Any) -> Any:
        with self._lock:
            self.cancels += 1
        return self._cancel_ok

    def _execute(self, goal_handle: Any) -> Any:
        result = self._action.Result()
        while not self._closing.wait(0.01):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                result.error_code = self._action.Result.CANCELED
                return result
        goal_handle.abort()
        result.error_code = self._action.Result.SHUTDOWN
        return result

    def release(self) -> None:
        """Answer the withheld goal requests now (accepted)."""
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self._closing.set()
        self.executor.shutdown(timeout_sec=5)
        self.server.destroy()
        self.node.destroy_node()
        self.client_node.destroy_node()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultInjectingReasonServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def lost_goal_reply_client() -> type:
    """Fault-injecting double of the package's ``SpinSafeActionClient``: every goal reply it receives is dropped,
    as Humble's rclpy before 3.3.18 could drop one (the request went out before the client registered its future):
    the server accepts the goal and runs it, the client never learns. Counts the replies it dropped."""
    from cosmos_reason_ros.ros.action_client import SpinSafeActionClient

    class LostGoalReplyClient(SpinSafeActionClient):
        dropped = 0

        async def execute(self, taken_data: Any) -> None:
            if isinstance(taken_data, dict) and taken_data.pop("goal", None) is not None:
                type(self).dropped += 1
            await super().execute(taken_data)

    return LostGoalReplyClient
