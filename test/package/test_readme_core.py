"""The README's pip path: its ROS-free core example run as written (with the tiny model and rclpy made
unimportable), the pins it points at, and the console scripts' one-line answer where ROS is missing."""
from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from helpers.paths import REPO

NO_ROS = "import sys\nfor _name in ('rclpy', 'rosidl_runtime_py', 'sensor_msgs'):\n    sys.modules[_name] = None\n"


def core_section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split("<!-- core-example:start -->", 1)[1].split("<!-- core-example:end -->", 1)[0]


def write_scene(path: Path) -> None:
    """The quickstart's video: a red cup sliding across a table towards a tray (5 s at 10 fps)."""
    import cv2
    import numpy as np

    video = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(50):
        frame = np.full((480, 640, 3), (90, 120, 140), np.uint8)
        cv2.rectangle(frame, (420, 330), (600, 350), (60, 60, 60), -1)
        cv2.rectangle(frame, (100 + 5 * i, 260), (160 + 5 * i, 340), (40, 40, 220), -1)
        video.write(frame)
    video.release()


@pytest.mark.slow  # a Python process without ROS
def test_core_example_turns_a_video_into_a_plan_without_ros(reason1_model, tmp_path):
    [example] = re.findall(r"```python\n(.*?)```", core_section(), re.S)
    assert len(example.strip().splitlines()) <= 20
    write_scene(tmp_path / "scene.mp4")
    (tmp_path / "example.py").write_text(NO_ROS + example)
    env = dict(os.environ, MODEL=str(reason1_model), HF_HUB_OFFLINE="1")
    run = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines() == ["FEASIBLE 0.9", "1. pick: pick up the red cup",
                                       "2. place: place the red cup on the tray"]


def test_pip_path_gets_cpu_torch_and_the_tested_pins():
    [commands] = re.findall(r"```bash\n(.*?)```", core_section(), re.S)
    assert "--index-url https://download.pytorch.org/whl/cpu" in commands
    assert "-c cosmos_reason_ros/scripts/constraints.txt ./cosmos_reason_ros" in commands
    pins = {}
    for line in (REPO / "scripts" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    for wanted in re.findall(r"(torch|torchvision)==(\S+)", commands):
        assert pins[wanted[0]] == wanted[1], "the CPU torch line must install the pinned version"
    for line in (REPO / "requirements.txt").read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        requirement = Requirement(spec)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in scripts/constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"the pin {name}=={pins[name]} is outside {spec}"
        installed = importlib.metadata.version(requirement.name)
        assert installed.split("+")[0] == pins[name], f"{name}: tested with {installed}, pinned {pins[name]}"


def _function(entry: str) -> str:
    """The tools function behind a console script: cosmos-reasoner-lifecycle → reasoner_lifecycle_main."""
    return f"{entry.replace('cosmos-reason-', '').replace('cosmos-', '')}_main".replace("-", "_")


def _console_script(entry: str, blocked: tuple[str, ...]) -> subprocess.CompletedProcess:
    script = ("import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
              + f"sys.argv = ['{entry}', '--help']\nfrom cosmos_reason_ros import tools\n"
              f"sys.exit(tools.{_function(entry)}())\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent)  # not the repository root: its source tree has no msg module


def test_console_scripts_say_in_one_line_that_they_need_ros():
    entries = re.findall(r'"(cosmos-reason\w*(?:-\w+)*) = cosmos_reason_ros\.tools:(\w+)"',
                         (REPO / "setup.py").read_text())
    assert {e for e, _ in entries} == {"cosmos-reasoner", "cosmos-reason-ask", "cosmos-reason-replay",
                                       "cosmos-reasoner-lifecycle"}
    for entry, function in entries:
        assert function == _function(entry)
        run = _console_script(entry, ("rclpy",))
        assert run.returncode == 69, run.stderr
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
        assert run.stderr.startswith(f"{entry}: needs ROS 2 (rclpy): source a ROS 2 environment")
    run = _console_script("cosmos-reason-ask", ("cosmos_reason_ros.action",))  # rclpy but no colcon build
    assert run.returncode == 69 and "only a colcon build generates" in run.stderr, run.stderr


def test_console_script_runs_the_tool_where_ros_is_there():
    run = _console_script("cosmos-reason-replay", ())
    assert run.returncode == 0, run.stderr
    assert "rosbag2" in run.stdout and "usage: replay" in run.stdout


@pytest.mark.slow  # the snippet as a process
def test_watch_snippet_prints_the_plan_and_saves_the_image(make_harness, reason1_model, tmp_path):
    """The README's stand-in for `ros2 topic echo` and rviz, against a node under the default name."""
    from helpers.ros_harness import Camera
    from helpers.tools import StreamReader

    readme = (REPO / "README.md").read_text()
    section = readme.split("### The `ros2` command in the setup script's environment", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.*?)```", section, re.S)
    h = make_harness({"model": str(reason1_model), "generation.max_new_tokens": 64},
                     [Camera("front", "/test_watch/front/image_raw")])
    process = None
    try:
        status, result, _ = h.run("put the red cup on the tray")
        assert result.error_code == 0, result.error_msg
        (tmp_path / "watch.py").write_text(snippet)
        process = subprocess.Popen([sys.executable, "watch.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        out = StreamReader(process.stdout)
        image = tmp_path / "annotated.png"
        line = "put the red cup on the tray -> Pick up the red cup, then place it on the tray."
        h.wait_for(lambda: (image.is_file() and image.stat().st_size > 1000 and line in out.text)
                   or process.poll() is not None, 30, "the snippet to print the latched plan and save the image")
        assert process.poll() is None, process.stderr.read()
    finally:
        if process is not None:
            process.kill()
            process.wait(timeout=10)
    import cv2

    saved = cv2.imread(str(image))
    assert saved.shape[1] == 320 and saved.shape[0] > 240
