"""Start the cosmos_reason_ros reasoner node (and, with rviz:=true, rviz with its display config).

    ros2 launch cosmos_reason_ros reasoner.launch.py camera_topic:=/camera/color/image_raw
    ros2 launch cosmos_reason_ros reasoner.launch.py cameras:="front=/cam0/image_raw,wrist=/cam1/image_raw/compressed"
    ros2 launch cosmos_reason_ros reasoner.launch.py model:=/models/Cosmos-Reason1-7B quantization:=4bit rviz:=true

Arguments left empty keep the value of the parameters file; every other node parameter is set there.
"""
from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "cosmos_reason_ros"


def _arguments() -> list[DeclareLaunchArgument]:
    share = FindPackageShare(PACKAGE)
    return [
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "reasoner.yaml"]),
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
                                          "the openai backend); empty = params file (nvidia/Cosmos-Reason1-7B)."),
        DeclareLaunchArgument("quantization", default_value="", choices=["", "none", "4bit", "8bit"],
                              description="bitsandbytes quantization of the local model; empty = params file."),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="Use /clock for stamps and staleness (bags, simulators)."),
        DeclareLaunchArgument("log_level", default_value="info", choices=["debug", "info", "warn", "error", "fatal"],
                              description="Logging level of the node."),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"],
                              description="Also start rviz2 with config/reasoner.rviz."),
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


def _reasoner(context: LaunchContext) -> list[Node]:
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
    return [Node(
        package=PACKAGE, executable="reasoner", name="cosmos_reasoner", namespace=value("namespace"),
        parameters=[value("params_file"), overrides],
        arguments=["--ros-args", "--log-level", value("log_level")],
        output="screen", emulate_tty=True,
    )]


def generate_launch_description() -> LaunchDescription:
    rviz_config = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "reasoner.rviz"])
    return LaunchDescription([
        *_arguments(),
        OpaqueFunction(function=_reasoner),
        Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_config],
             parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
             condition=IfCondition(LaunchConfiguration("rviz")), output="log"),
    ])
