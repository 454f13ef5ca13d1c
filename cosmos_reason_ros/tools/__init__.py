"""Command-line tools: ``ask`` (send a task goal, print the plan) and ``replay`` (a video, images or a rosbag2
recording as a camera); the console-script entry points, which say in one line when ROS is missing.
"""
from __future__ import annotations

# ------------------------------------------------------------------------------ console scripts (pip install)
#: What the ROS tools import that only a ROS 2 environment provides: rclpy, and this package's message and
#: action modules, which only a colcon build generates (a pip-installed package has the core alone).
ROS_MODULES = ("rclpy", "cosmos_reason_ros.msg", "cosmos_reason_ros.action")
EXIT_NO_ROS = 69  # EX_UNAVAILABLE


def missing_ros(prog: str) -> str | None:
    """One line saying what is missing and how to get it, or None when the ROS tools can run here."""
    import importlib

    for module in ROS_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as e:
            what = ("ROS 2 (rclpy)" if module == "rclpy" else
                    f"this package's ROS interfaces ({module}), which only a colcon build generates")
            return (f"{prog}: needs {what}: source a ROS 2 environment and a colcon build of cosmos_reason_ros "
                    f"(`source install/setup.bash`, or `. scripts/env.sh` in this repository) first "
                    f"[{type(e).__name__}: {e}]")
    return None


def _ros_tool(prog: str, module: str) -> int:
    import importlib
    import sys

    problem = missing_ros(prog)
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_NO_ROS
    return int(importlib.import_module(module).main() or 0)


def ask_main() -> int:
    """Console script ``cosmos-reason-ask``."""
    return _ros_tool("cosmos-reason-ask", "cosmos_reason_ros.tools.ask")


def replay_main() -> int:
    """Console script ``cosmos-reason-replay``."""
    return _ros_tool("cosmos-reason-replay", "cosmos_reason_ros.tools.replay")


def reasoner_main() -> int:
    """Console script ``cosmos-reasoner``."""
    return _ros_tool("cosmos-reasoner", "cosmos_reason_ros.ros.node.reasoner_node")


def reasoner_lifecycle_main() -> int:
    """Console script ``cosmos-reasoner-lifecycle``."""
    return _ros_tool("cosmos-reasoner-lifecycle", "cosmos_reason_ros.ros.node.lifecycle_node")
