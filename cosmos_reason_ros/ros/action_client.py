"""An rclpy ``ActionClient`` that may be created on a node that an executor spins in another thread.

rclpy's ``ActionClient.__init__`` (Jazzy, Kilted) adds the client to its node as a waitable *before* it
creates the lock that ``get_num_entities`` takes. An executor spinning that node in that instant raises
``AttributeError: 'ActionClient' object has no attribute '_lock'`` and its spin thread dies: every later
goal of that node hangs. Behaviour trees set up while the node spins (a tree built after start-up) hit it.
Here the lock exists before the client is visible, and rclpy's later assignment keeps it (never two locks).
"""
from __future__ import annotations

import threading
from typing import Any

from rclpy.action import ActionClient


class SpinSafeActionClient(ActionClient):
    """``rclpy.action.ActionClient``, safe to construct while its node is being spun."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._spin_safe_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    @property
    def _lock(self) -> threading.Lock:
        return self._spin_safe_lock

    @_lock.setter
    def _lock(self, value: threading.Lock) -> None:
        """rclpy's constructor assigns its own lock once the client is already in use: keep the first one."""
