"""What both ``replay`` players share: the error a source that cannot be played raises, and the node that
plays it, with its executor and the pacing that spins while it waits.

Its own module so that ``replay`` (videos, folders, images) and ``bag_replay`` (rosbag2 recordings) each
build on it without importing the other's internals.
"""
from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable


class SourceError(Exception):
    """The source cannot be opened or holds no frames."""


class Player:
    """Owns the replay node and its executor; subclasses create their publishers and play.

    Waiting is spinning (``_spin_until``), so the node serves /clock (``--use-sim-time``) and discovery while
    it paces frames on the steady clock.
    """

    def __init__(self, args: argparse.Namespace, stop: threading.Event) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter

        self.args, self.stop = args, stop
        overrides = [Parameter("use_sim_time", value=True)] if args.use_sim_time else []
        self.node = rclpy.create_node(f"replay_{os.getpid()}", parameter_overrides=overrides)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.published = 0
        self.size = ""

    def _spin_until(self, done: Callable[[], bool], timeout: float) -> None:
        """Spin until ``done()``, a stop request or ``timeout`` s, whichever comes first."""
        end = time.monotonic() + timeout
        while not done() and not self.stop.is_set() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def _close(self) -> None:
        """Stop the executor and destroy the node (the end of ``run``, however it ends)."""
        self.executor.shutdown()
        self.node.destroy_node()

    def run(self) -> None:
        """Play the source until it ends (``--once``) or a stop request comes, then close."""
        raise NotImplementedError
