"""What the `ros2` command-line tests share: the `ros2` daemon, as on a user's machine, and one camera.

The daemon (``ros2 daemon``, which ``ros2 node list`` and the other graph verbs ask) is started once here, so
its graph is the long-lived view a user's shell has (a node that leaves without saying so stays in it), and is
stopped at the end unless it was running before. The camera is the package's replay tool, as a user would run
it: ``ros2 run cosmos_reason_ros replay still.png --topic ...``.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from helpers.ros2_cli import Ros2Process, missing_reason, ros2

#: The image topic of the camera every launched reasoner is pointed at.
CAMERA_TOPIC = "/cli_camera/front/image_raw"


@pytest.fixture(scope="session", autouse=True)
def ros2_daemon():
    if missing_reason() is not None:
        yield
        return
    was_running = "is running" in ros2("daemon", "status").stdout
    if not was_running:
        started = ros2("daemon", "start")
        assert started.returncode == 0, started.stdout + started.stderr
    yield
    if not was_running:
        ros2("daemon", "stop")


@pytest.fixture(scope="session")
def camera_topic(tmp_path_factory) -> str:
    """A still image published at 10 Hz on CAMERA_TOPIC until the session ends."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    still = tmp_path_factory.mktemp("camera") / "still.png"
    cv2.imwrite(str(still), np.full((120, 160, 3), (30, 60, 200), np.uint8))
    with Ros2Process("run", "cosmos_reason_ros", "replay", str(still), "--topic", CAMERA_TOPIC,
                     "--rate", "10") as camera:
        camera.wait_for(r"waiting for a subscriber", 60)  # it publishes from when a reasoner subscribes
        yield CAMERA_TOPIC
