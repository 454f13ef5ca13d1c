"""The installed params file and launch file agree with the node's parameter table, and the launch file
runs under `ros2 launch` where the ros2 command line is installed (test/cli drives it further)."""
from __future__ import annotations

import ast
import dataclasses
import os
import signal
from pathlib import Path

import pytest
import yaml

from cosmos_reason_ros.ros.node.parameters import PARAMETERS
from helpers.paths import REPO
from helpers.ros2_cli import (
    EXIT_WITHIN,
    LAUNCH,
    MODEL_READY,
    Ros2Process,
    load_launch_module,
    requires_ros2,
    ros2,
    wait_until,
)


def installed_share() -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("cosmos_reason_ros"))


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def test_installed_params_file_lists_every_parameter_with_its_default():
    config = yaml.safe_load((installed_share() / "config" / "reasoner.yaml").read_text())
    values = flatten(config["/**"]["ros__parameters"])
    for spec in PARAMETERS:
        assert spec.name in values, f"{spec.name} missing from config/reasoner.yaml"
        assert values[spec.name] == spec.default and type(values[spec.name]) is type(spec.default), spec.name
    keys = ("topic", "transport", "depth_topic", "camera_info_topic")
    cameras = {f"cameras.{n}.{k}" for n in values["cameras.names"] for k in keys}
    # Standing watches: watches.names (none by default) and each named watch's fields (watch_parameters).
    from cosmos_reason_ros.ros.watches.parameters import WATCH_FIELDS

    assert values.pop("watches.names") == [""]
    assert values.pop("skills.names") == [""]  # the robot's skills: none by default (ros/goals/skills.py)
    assert set(values) == {s.name for s in PARAMETERS} | cameras
    assert all(f.description.endswith(".") for f in WATCH_FIELDS)


def test_every_parameter_is_documented_with_constraints():
    text = (installed_share() / "config" / "reasoner.yaml").read_text()
    assert text.count("(read-only)\n") == sum(s.read_only for s in PARAMETERS)  # one per read-only entry
    for spec in PARAMETERS:
        assert spec.description.endswith("."), spec.name
        descriptor = spec.descriptor()
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool) and spec.low is not None:
            assert descriptor.integer_range or descriptor.floating_point_range, spec.name
        assert descriptor.read_only == spec.read_only
        if spec.read_only:
            assert "(read-only)" in text
    readme = (REPO / "README.md").read_text() if (REPO / "README.md").exists() else ""
    missing = [s.name for s in PARAMETERS if f"`{s.name}`" not in readme]
    assert not missing, f"parameters not documented in README.md: {missing}"


def test_every_watch_field_is_in_the_readme_table_with_its_default():
    """README "Standing watches" lists each watches.<name>.* field with the default the node declares."""
    import json

    from cosmos_reason_ros.ros.watches.parameters import WATCH_FIELDS

    readme = (REPO / "README.md").read_text()
    for field in WATCH_FIELDS:
        default = json.dumps(field.default) if isinstance(field.default, (str, list, bool)) else repr(field.default)
        assert f"| `{field.name}` | `{default}` |" in readme, field.name
        assert field.description in readme, field.name


def test_launch_file_describes_itself():
    """Typed entry point; every argument has a default and a description (checked without importing launch);
    path defaults are plain paths, so `ros2 launch ... --show-args` prints them readably."""
    tree = ast.parse((installed_share() / "launch" / "reasoner.launch.py").read_text())
    entry = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description")
    assert ast.unparse(entry.returns) == "LaunchDescription"
    declared = [n for n in ast.walk(tree)
                if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DeclareLaunchArgument"]
    names = {n.args[0].value for n in declared}
    assert {"params_file", "namespace", "camera_topic", "cameras", "model", "quantization", "use_sim_time",
            "log_level", "rviz", "backend", "respawn", "fastdds_profile", "lifecycle", "autostart"} <= names
    for call in declared:
        keywords = {k.arg: k.value for k in call.keywords}
        assert {"default_value", "description"} <= keywords.keys(), call.args[0].value
        default = ast.unparse(keywords["default_value"])
        assert "Substitution" not in default and "FindPackageShare" not in default, (call.args[0].value, default)
        if call.args[0].value in ("params_file", "fastdds_profile"):
            assert default.startswith("os.path.join(share"), default


def test_launch_helpers_without_launch():
    module = load_launch_module()
    assert module.parse_cameras("front=/a, wrist=/b/compressed") == {"front": "/a", "wrist": "/b/compressed"}
    with pytest.raises(ValueError):
        module.parse_cameras("front")
    profile = str(installed_share() / "config" / "fastdds_large_images.xml")
    assert Path(profile).is_file()
    # Set by default for the node, for Fast DDS 2.x and 3.x; an argument turns it off; a user's own profile wins.
    assert module.profile_environment(profile, {}) == {"FASTRTPS_DEFAULT_PROFILES_FILE": profile,
                                                       "FASTDDS_DEFAULT_PROFILES_FILE": profile}
    assert module.profile_environment("", {}) == {}
    assert module.profile_environment(profile, {"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"}) == {}
    # rviz2 is not installed here: the launch file must notice instead of failing (and orphaning the reasoner).
    import shutil

    from ament_index_python.packages import get_package_share_directory
    try:
        get_package_share_directory("rviz2")
        installed = True
    except Exception:
        installed = shutil.which("rviz2") is not None
    assert module.rviz_available() is installed
    assert module._share() == str(installed_share())


@pytest.mark.slow  # `ros2 launch` and the node as processes
@requires_ros2
def test_launch_file_starts_the_node(reason1_model):
    """`ros2 launch` with a namespace, a model and a camera topic: the node comes up where asked and subscribes
    the topic; when the reasoner itself ends (SIGTERM to it alone), it ends the launch, cleanly."""
    with Ros2Process(*LAUNCH, f"model:={reason1_model}", "namespace:=launch_test",
                     "camera_topic:=/launch_test/cam") as launch:
        # --no-daemon: a fresh look at the graph each time, and no daemon left behind by this test
        wait_until(lambda: "/launch_test/cosmos_reasoner" in ros2("node", "list", "--no-daemon").stdout.split(), 60,
                   "/launch_test/cosmos_reasoner in `ros2 node list`")
        wait_until(lambda: "Subscription count: 1" in ros2("topic", "info", "--no-daemon", "/launch_test/cam").stdout,
                   30, "the reasoner's subscription to /launch_test/cam")
        launch.wait_for(MODEL_READY, 120)
        reasoner_pid = int(launch.wait_for(r"\[reasoner-1\]: process started with pid \[(\d+)\]", 1).group(1))
        os.kill(reasoner_pid, signal.SIGTERM)
        output = launch.finish(EXIT_WITHIN)
    assert launch.process.returncode == 0, output[-4000:]
    assert "Traceback" not in output and "[ERROR]" not in output, output[-4000:]
    assert "[reasoner-1]: process has finished cleanly" in output, output[-4000:]


# ------------------------------------------------------------------------- one source for parameters
def test_backend_configs_and_parameters_share_their_defaults():
    """Every backend config field is a parameter with the same default (the parameters take them from the
    configs; a field added without a parameter fails here)."""
    from cosmos_reason_ros.core.models.openai_backend import OpenAIConfig
    from cosmos_reason_ros.core.models.transformers_backend import TransformersConfig
    from cosmos_reason_ros.ros.node.model import TOP_LEVEL_FIELDS
    from cosmos_reason_ros.ros.node.parameters import SPECS

    for config_type, prefix in ((TransformersConfig, "local"), (OpenAIConfig, "openai")):
        config = config_type()
        for field in dataclasses.fields(config_type):
            name = field.name if field.name in TOP_LEVEL_FIELDS else f"{prefix}.{field.name}"
            assert name in SPECS, f"{config_type.__name__}.{field.name} has no parameter {name}"
            assert getattr(config, field.name) == SPECS[name].default, (name, getattr(config, field.name))
    assert SPECS["openai.base_url"].default == "http://127.0.0.1:8000/v1"
    assert (SPECS["openai.jpeg_quality"].low, SPECS["openai.jpeg_quality"].high) == (10, 100)


def test_settings_are_generated_from_the_parameter_table():
    from cosmos_reason_ros.ros.node.parameters import Settings

    assert [f.name for f in dataclasses.fields(Settings)] == [s.name.replace(".", "_") for s in PARAMETERS]
    for field, spec in zip(dataclasses.fields(Settings), PARAMETERS, strict=False):
        assert field.type is type(spec.default), spec.name


def _source_literals() -> tuple[dict[str, list[str]], dict[tuple, list[str]]]:
    """String constants (outside tuples and lists) and all-constant tuple/list literals of the package source."""
    strings: dict[str, list[str]] = {}
    sequences: dict[tuple, list[str]] = {}
    for path in sorted((REPO / "cosmos_reason_ros").rglob("*.py")):
        tree = ast.parse(path.read_text())
        inside: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(
                    isinstance(e, ast.Constant) for e in node.elts):
                key = tuple(e.value for e in node.elts)
                sequences.setdefault(key, []).append(f"{path.name}:{node.lineno}")
                inside.update(id(e) for e in node.elts)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside:
                strings.setdefault(node.value, []).append(f"{path.name}:{node.lineno}")
    return strings, sequences


def test_no_default_range_or_choice_list_is_written_twice():
    """A parameter's choice list, range and distinctive default exist once in the package's source: restating
    one (as the backends once did) makes the copies drift."""
    strings, sequences = _source_literals()
    for spec in PARAMETERS:
        if spec.choices:
            copies = [where for key, found in sequences.items() if set(key) == set(spec.choices) for where in found]
            assert len(copies) <= 1, f"choices of {spec.name} written {len(copies)} times: {copies}"
        if spec.low is not None and not isinstance(spec.default, bool):
            copies = sorted(set(sequences.get((spec.low, spec.high), []))
                            | set(sequences.get((float(spec.low), float(spec.high)), [])))
            assert len(copies) <= 1, f"range of {spec.name} written {len(copies)} times: {copies}"
        if isinstance(spec.default, str) and len(spec.default) >= 8 and "/" in spec.default or (
                isinstance(spec.default, str) and spec.default.isupper()):
            copies = strings.get(spec.default, [])
            assert len(copies) <= 1, f"default of {spec.name} ({spec.default!r}) written {len(copies)} times: {copies}"


def test_every_skill_field_is_in_the_readme_table_with_its_default():
    """README "Plans in the robot's skills" lists each skills.<name>.* field with the default the node declares."""
    import json

    from cosmos_reason_ros.ros.goals.skills import SKILL_FIELDS

    readme = (REPO / "README.md").read_text()
    for field in SKILL_FIELDS:
        assert f"| `{field.name}` | `{json.dumps(field.default)}` | {field.description} |" in readme, field.name
