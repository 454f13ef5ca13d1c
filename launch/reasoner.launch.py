"""Start the cosmos_reason_ros reasoner node (and, with rviz:=true, rviz with its display config).

    ros2 launch cosmos_reason_ros reasoner.launch.py camera_topic:=/camera/color/image_raw
    ros2 launch cosmos_reason_ros reasoner.launch.py cameras:="front=/cam0/image_raw,wrist=/cam1/image_raw/compressed"
    ros2 launch cosmos_reason_ros reasoner.launch.py model:=/models/Cosmos3-Nano quantization:=4bit rviz:=true
    ros2 launch cosmos_reason_ros reasoner.launch.py lifecycle:=true autostart:=false   # managed node

Arguments left empty keep the value of the parameters file; every other node parameter is set there.

- The node gets the package's large-image Fast DDS profile (config/fastdds_large_images.xml) unless
  ``fastdds_profile:=''`` or the environment already names one; camera drivers publishing raw images to
  it need the same profile (see the README).
- rviz starts only where rviz2 is installed (otherwise a warning); rviz ending, or failing, never ends or
  orphans the reasoner: only the reasoner's own exit ends the launch.
- ``respawn:=true`` restarts the reasoner after it exits (2 s later), as Nav2's bringup does.
- Ctrl-C: the reasoner ends every goal (SHUTDOWN, result sent) and exits 0 within 2 s.
"""
from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from ament_index_python.packages import get_package_share_directory

if TYPE_CHECKING:  # launch is imported where it is used, so the helpers below import without it (tests)
    from launch.actions import DeclareLaunchArgument

    from launch import LaunchContext, LaunchDescription

PACKAGE = "cosmos_reason_ros"
NODE_NAME = "cosmos_reasoner"
#: Environment variables naming a Fast DDS XML profile (Fast DDS 2.x reads the first, 3.x the second).
FASTDDS_PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def _share() -> str:
    return get_package_share_directory(PACKAGE)


def _arguments() -> list[DeclareLaunchArgument]:
    from launch.actions import DeclareLaunchArgument

    share = _share()
    return [
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "reasoner.yaml"),
                              description="YAML file with the node's parameters."),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics."),
        DeclareLaunchArgument("camera_topic", default_value="",
                              description="Image topic of the default camera 'front' (sensor_msgs/Image, or "
                                          "CompressedImage when it ends in /compressed); empty = params file."),
        DeclareLaunchArgument("cameras", default_value="",
                              description="Several cameras as name=topic pairs separated by commas, e.g. "
                                          "front=/cam0/image_raw,wrist=/cam1/image_raw/compressed; "
                                          "empty = params file."),
        DeclareLaunchArgument("backend", default_value="", choices=["", "local", "openai"],
                              description="local (transformers here) or openai (a model server); empty = params file."),
        DeclareLaunchArgument("model", default_value="",
                              description="Hugging Face id or local directory of the model (served name for "
                                          "the openai backend); empty = params file (nvidia/Cosmos3-Edge)."),
        DeclareLaunchArgument("quantization", default_value="", choices=["", "none", "4bit", "8bit"],
                              description="bitsandbytes quantization of the local model; empty = params file."),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="Use /clock for stamps and staleness (bags, simulators)."),
        DeclareLaunchArgument("log_level", default_value="info", choices=["debug", "info", "warn", "error", "fatal"],
                              description="Logging level of the node."),
        DeclareLaunchArgument("respawn", default_value="false", choices=["true", "false"],
                              description="Restart the reasoner 2 s after it exits (crash or kill), Nav2 style."),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=os.path.join(share, "config", "fastdds_large_images.xml"),
                              description="Fast DDS XML profile set for the reasoner (shared memory with 64 MB "
                                          "segments: raw camera images arrive whole); empty = none. An "
                                          "existing FASTRTPS_/FASTDDS_DEFAULT_PROFILES_FILE is kept."),
        DeclareLaunchArgument("lifecycle", default_value="false", choices=["true", "false"],
                              description="Run the managed node (reasoner_lifecycle) instead of the plain one."),
        DeclareLaunchArgument("autostart", default_value="true", choices=["true", "false"],
                              description="With lifecycle:=true: configure and activate at start (as Nav2's "
                                          "lifecycle manager with autostart); false = wait for ChangeState calls."),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"],
                              description="Also start rviz2 with config/reasoner.rviz (skipped with a warning "
                                          "where rviz2 is not installed)."),
    ]


def parse_cameras(spec: str) -> dict[str, str]:
    """"front=/a,wrist=/b" → {"front": "/a", "wrist": "/b"}; raises ValueError on a malformed pair."""
    cameras: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, topic = pair.partition("=")
        if not sep or not name.strip() or not topic.strip():
            raise ValueError(f"cameras: expected name=topic, got {pair!r}")
        cameras[name.strip()] = topic.strip()
    return cameras


def profile_environment(profile: str, environment: dict[str, str]) -> dict[str, str]:
    """The variables that give the reasoner ``profile`` (none when empty or when one is already set)."""
    if not profile or any(environment.get(name) for name in FASTDDS_PROFILE_VARIABLES):
        return {}
    return {name: profile for name in FASTDDS_PROFILE_VARIABLES}


def rviz_available() -> bool:
    """Whether an rviz2 executable can be started (its package installed, or rviz2 on PATH)."""
    try:
        get_package_share_directory("rviz2")
        return True
    except Exception:  # PackageNotFoundError (a LookupError subclass in some releases, ValueError in others)
        return shutil.which("rviz2") is not None


def _reasoner(context: LaunchContext) -> list:
    from launch.actions import LogInfo, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node

    value = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides: dict[str, object] = {"use_sim_time": value("use_sim_time") == "true"}
    for argument, parameter in (("backend", "backend"), ("model", "model"), ("quantization", "local.quantization")):
        if value(argument):
            overrides[parameter] = value(argument)
    if value("camera_topic"):
        overrides["cameras.front.topic"] = value("camera_topic")
    cameras = parse_cameras(value("cameras"))
    if cameras:
        overrides["cameras.names"] = list(cameras)
        overrides.update({f"cameras.{name}.topic": topic for name, topic in cameras.items()})
    environment = profile_environment(value("fastdds_profile"), dict(os.environ))
    lifecycle = value("lifecycle") == "true"
    arguments = ["--autostart"] if lifecycle and value("autostart") == "true" else []
    common = dict(
        package=PACKAGE, name=NODE_NAME, namespace=value("namespace"),
        parameters=[value("params_file"), overrides],
        arguments=arguments + ["--ros-args", "--log-level", value("log_level")],
        additional_env=environment, respawn=value("respawn") == "true", respawn_delay=2.0,
        sigterm_timeout="5", output="screen", emulate_tty=True,
    )
    reasoner = (LifecycleNode(executable="reasoner_lifecycle", **common) if lifecycle
                else Node(executable="reasoner", **common))
    actions: list = [reasoner]
    if environment:
        actions.insert(0, LogInfo(msg=f"reasoner: Fast DDS profile {value('fastdds_profile')}"))
    if value("respawn") != "true":
        # The reasoner's exit ends the launch (auxiliary processes such as rviz are stopped with it).
        actions.append(RegisterEventHandler(OnProcessExit(target_action=reasoner, on_exit=_end_launch)))
    return actions


def _end_launch(event: object, context: LaunchContext) -> list:
    """Shut the launch down after the reasoner exited, unless it is shutting down already (Ctrl-C): a second
    Shutdown event makes launch_ros stop its ROS adapter twice (with lifecycle:=true), which fails the launch
    with "Cannot shutdown a ROS adapter that is not running" and exit status 1."""
    from launch.actions import EmitEvent
    from launch.events import Shutdown

    if getattr(context, "is_shutdown", False):
        return []
    return [EmitEvent(event=Shutdown(reason="the reasoner exited"))]


def _rviz(context: LaunchContext) -> list:
    import launch.logging
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    if LaunchConfiguration("rviz").perform(context) != "true":
        return []
    if not rviz_available():
        # At warning level (LogInfo logs at info, and launch has no action for warnings): rviz was asked for.
        launch.logging.get_logger("launch.user").warning(
            "rviz:=true but rviz2 is not installed: starting the reasoner without it (install ros-$ROS_DISTRO-rviz2)")
        return []
    rviz_config = os.path.join(_share(), "config", "reasoner.rviz")
    # No on_exit: rviz closing, or failing, leaves the reasoner running.
    return [Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_config],
                 parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time").perform(context) == "true"}],
                 output="log")]


def generate_launch_description() -> LaunchDescription:
    from launch.actions import OpaqueFunction

    from launch import LaunchDescription

    return LaunchDescription([
        *_arguments(),
        OpaqueFunction(function=_reasoner),
        OpaqueFunction(function=_rviz),
    ])
