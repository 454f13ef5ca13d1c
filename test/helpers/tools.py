"""The installed executables as subprocesses, and a recorder of what a tool publishes."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest


def installed(name: str) -> Path:
    """An executable from the install space (what `ros2 run cosmos_reason_ros <name>` starts)."""
    for prefix in os.environ["AMENT_PREFIX_PATH"].split(":"):
        candidate = Path(prefix) / "lib" / "cosmos_reason_ros" / name
        if candidate.is_file():
            return candidate
    pytest.fail(f"{name} is not installed under AMENT_PREFIX_PATH")


def run_tool(name: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed(name)), *args], capture_output=True, text=True, timeout=timeout)


class StreamReader:
    """Collects a subprocess pipe in a thread, so a test can wait for text while the process runs."""

    def __init__(self, pipe) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for chunk in iter(lambda: pipe.read(1), ""):
            self.text += chunk

    def join(self) -> str:
        self._thread.join(timeout=5)
        return self.text


class Recorder:
    """Subscribes to one image topic with sensor-data QoS; records messages and their arrival times."""

    def __init__(self, topic: str, compressed: bool = False) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CompressedImage, Image

        self.node = rclpy.create_node(f"recorder_{abs(hash(topic))}")
        self.messages: list = []
        self.arrivals: list[float] = []
        self.node.create_subscription(CompressedImage if compressed else Image, topic, self._received,
                                      qos_profile_sensor_data)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _received(self, message) -> None:
        self.arrivals.append(time.monotonic())
        self.messages.append(message)

    def stamps(self) -> list[int]:
        return [m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in self.messages]

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        self._thread.join(timeout=2)


def pixels(message) -> np.ndarray:
    return np.frombuffer(bytes(message.data), np.uint8).reshape(message.height, message.width, 3)
