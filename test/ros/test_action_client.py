"""SpinSafeActionClient: action clients created while an executor spins their node keep that executor alive.

rclpy's own ActionClient makes itself visible to executors before its lock exists; an executor that looks
at it in that instant dies (seen in this suite: the behaviour-tree harness lost its spin thread and every
later goal hung)."""
from __future__ import annotations

import threading

from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor


def test_clients_created_while_the_node_spins_never_kill_the_executor(rclpy_session):
    from cosmos_reason_ros.action import ReasonAboutTask
    from cosmos_reason_ros.ros.action_client import SpinSafeActionClient

    node = rclpy_session.create_node("spin_safe_clients")
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    errors: list[BaseException] = []

    def spin() -> None:
        try:
            executor.spin()
        except BaseException as e:  # the failure this guards against
            errors.append(e)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        clients = [SpinSafeActionClient(node, ReasonAboutTask, f"/nowhere_{i}/reason") for i in range(300)]
        assert thread.is_alive() and not errors, errors
        assert all(isinstance(c, ActionClient) and c._lock is c._spin_safe_lock for c in clients)
        assert not clients[0].server_is_ready()  # a working client: it looks for a server that is not there
        for client in clients:
            client.destroy()
    finally:
        executor.shutdown(timeout_sec=5)
        thread.join(timeout=10)
        node.destroy_node()
    assert not errors, errors
