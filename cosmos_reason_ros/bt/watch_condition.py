"""A py_trees condition on a standing watch's latched state (``~/watch_states``), without py_trees_ros.

``WatchCondition`` subscribes in ``setup(node=...)`` (reliable, transient local, so the current states arrive
at once) and never blocks a tick: ``update`` reads the newest WatchStates the caller's executor delivered.
"""
from __future__ import annotations

from typing import Any

import py_trees
from py_trees.common import Access, Status

#: ``succeed_on`` choices → the watch state (WatchState.STATE_*) that is SUCCESS.
WATCH_SUCCEED_ON: dict[str, int] = {"cleared": 1, "raised": 2}


class WatchCondition(py_trees.behaviour.Behaviour):
    """SUCCESS while the watch is in the ``succeed_on`` state, FAILURE otherwise; never RUNNING.

    ``succeed_on``:
      * ``"cleared"`` (default): the guard of a branch that may act only while nothing is wrong ("no person in
        the workspace"): SUCCESS when CLEARED; RAISED and UNKNOWN are FAILURE.
      * ``"raised"``: the condition of a reaction branch ("if someone is in the workspace, stop"): SUCCESS
        when RAISED; CLEARED and UNKNOWN are FAILURE.
    ``unknown_succeeds`` makes UNKNOWN (stale camera, model not ready, unparseable answer) a SUCCESS instead;
    leave it off for safety guards, where not knowing must not read as "all clear". No states received yet,
    or no watch of that name, is treated as UNKNOWN. ``feedback_message`` says the state and its reason; with
    ``state_key`` the WatchState is written to the blackboard on every tick that found it.
    """

    def __init__(self, name: str, watch: str, *, topic: str = "/cosmos_reasoner/watch_states",
                 succeed_on: str = "cleared", unknown_succeeds: bool = False,
                 state_key: str | None = None) -> None:
        super().__init__(name)
        if succeed_on not in WATCH_SUCCEED_ON:
            raise ValueError(f"succeed_on must be one of {sorted(WATCH_SUCCEED_ON)}, not {succeed_on!r}")
        self.watch, self.topic = watch, topic
        self.succeed_on, self.unknown_succeeds = succeed_on, unknown_succeeds
        self.state_key = state_key
        self.blackboard = self.attach_blackboard_client(name=name)
        if state_key is not None:
            self.blackboard.register_key(state_key, access=Access.WRITE)
        self.latest: Any = None  # the newest WatchStates message
        self._subscription: Any = None
        self._node: Any = None

    def setup(self, **kwargs: Any) -> None:
        """Subscribe on ``node`` (a keyword argument, as py_trees_ros passes it)."""
        node = kwargs.get("node")
        if node is None:
            raise KeyError(f"{self.name}: setup() needs node=<rclpy Node> (tree.setup(node=node))")
        from cosmos_reason_ros.msg import WatchStates
        from cosmos_reason_ros.ros.qos import LATCHED

        self._node = node
        self._subscription = node.create_subscription(WatchStates, self.topic, self._on_states, LATCHED)

    def _on_states(self, msg: Any) -> None:
        self.latest = msg

    def update(self) -> Status:
        if self._subscription is None:
            raise RuntimeError(f"{self.name}: call setup(node=...) before ticking")
        states = self.latest
        state = next((w for w in states.watches if w.watch.name == self.watch), None) if states else None
        if state is None:
            code, reason = 0, ("no watch states received yet" if states is None
                               else f"no watch named {self.watch!r} on {self.topic}")
        else:
            code, reason = state.state, state.reason
            if self.state_key is not None:
                self.blackboard.set(self.state_key, state)
        name = {0: "UNKNOWN", 1: "CLEARED", 2: "RAISED"}.get(code, f"state {code}")
        self.feedback_message = f"watch {self.watch}: {name} ({reason})"
        if code == 0:
            return Status.SUCCESS if self.unknown_succeeds else Status.FAILURE
        return Status.SUCCESS if code == WATCH_SUCCEED_ON[self.succeed_on] else Status.FAILURE

    def shutdown(self) -> None:
        if self._subscription is not None and self._node is not None:
            self._node.destroy_subscription(self._subscription)
        self._subscription = None
