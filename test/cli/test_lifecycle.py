"""The managed node as a user drives it: `ros2 launch ... lifecycle:=true autostart:=false`, then
`ros2 lifecycle set` through every transition (shutdown included), each state read back with
`ros2 lifecycle get`; then Ctrl-C ends the launch and the node leaves the graph."""
from __future__ import annotations

import pytest

from helpers.ros2_cli import LAUNCH, Ros2Process, assert_clean_exit, node_names, requires_ros2, ros2, wait_until

pytestmark = [pytest.mark.slow, requires_ros2]  # processes: the launch, the node, every `ros2` command

NODE = "/cli_lifecycle/cosmos_reasoner"
CAMERAS_NODE = f"{NODE}_cameras"  # made at configure, destroyed at cleanup
#: (transition, the state it leads to, whether the cameras exist then): configure → ... → shutdown from active.
WALK = [("configure", "inactive", True), ("activate", "active", True), ("deactivate", "inactive", True),
        ("cleanup", "unconfigured", False), ("configure", "inactive", True), ("activate", "active", True),
        ("shutdown", "finalized", False)]


def state() -> str:
    """`ros2 lifecycle get`: the state's label ("unconfigured [1]" → "unconfigured"), "" before the node answers."""
    done = ros2("lifecycle", "get", NODE)
    words = done.stdout.split()
    return words[0] if done.returncode == 0 and len(words) == 2 else ""


def test_lifecycle_set_walks_every_transition_then_ctrl_c(reason1_model, camera_topic):
    with Ros2Process(*LAUNCH, "lifecycle:=true", "autostart:=false", "namespace:=cli_lifecycle",
                     f"model:={reason1_model}", f"camera_topic:={camera_topic}") as launch:
        assert wait_until(state, 60, f"{NODE} to answer `ros2 lifecycle get`") == "unconfigured"
        assert CAMERAS_NODE not in node_names()  # autostart:=false: nothing configured
        had_cameras = False
        for transition, expected, cameras in WALK:
            done = ros2("lifecycle", "set", NODE, transition)
            assert done.stdout.strip() == "Transitioning successful", (transition, done.stdout + done.stderr)
            assert state() == expected, transition
            if cameras != had_cameras:  # made or destroyed by this transition
                wait_until(lambda cameras=cameras: (CAMERAS_NODE in node_names()) == cameras, 10,
                           f"the camera node to {'exist' if cameras else 'be gone'} after {transition}")
                had_cameras = cameras
        assert f"[{NODE[1:].replace('/', '.')}]: shutdown: done" in launch.output, launch.output[-3000:]
        assert launch.running()  # finalized: the process waits for Ctrl-C, as upstream managed nodes do
        assert_clean_exit(launch)
    # rclpy's LifecycleNode kept its handle (in its state machine) past destroy_node: the node stayed in the
    # daemon's graph until the participant's lease ran out. It leaves with the process now.
    wait_until(lambda: NODE not in node_names(), 10, f"{NODE} to leave `ros2 node list`")
