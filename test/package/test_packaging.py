"""setup.py: the pip-style wheel carries the Python package, the version from package.xml, the dependencies
from requirements.txt and the console scripts; its core imports and runs with ROS unavailable."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from helpers.paths import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the files setup.py uses (keeps setuptools' build/ out of colcon's)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.py", "package.xml", "requirements.txt", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "cosmos_reason_ros", src / "cosmos_reason_ros",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (built,) = out.glob("cosmos_reason_ros-*.whl")
    return built


def _read(whl: zipfile.ZipFile, suffix: str) -> str:
    (name,) = [n for n in whl.namelist() if n.endswith(suffix)]
    return whl.read(name).decode()


def test_wheel_metadata_comes_from_the_single_sources(wheel):
    version = re.search(r"<version>([^<]+)</version>", (REPO / "package.xml").read_text()).group(1).strip()
    assert wheel.name.startswith(f"cosmos_reason_ros-{version}-")
    with zipfile.ZipFile(wheel) as whl:
        metadata = _read(whl, ".dist-info/METADATA")
        requires = {str(Requirement(line.split(":", 1)[1]))
                    for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line}
        extras = {str(Requirement(line.split(":", 1)[1])) for line in metadata.splitlines()
                  if line.startswith("Requires-Dist:") and "extra ==" in line}
        assert extras == {'ray[data]>=2.9; extra == "ray"'}  # the critic's optional Ray engine
        wanted = {str(Requirement(line.split("#", 1)[0]))
                  for line in (REPO / "requirements.txt").read_text().splitlines() if line.split("#", 1)[0].strip()}
        assert requires == wanted
        scripts = _read(whl, ".dist-info/entry_points.txt")
        for script in ("cosmos-reasoner", "cosmos-reasoner-lifecycle", "cosmos-reason-ask", "cosmos-reason-replay",
                       "cosmos-reason-make-tiny-model", "cosmos-reason-critic"):
            assert re.search(rf"^{script} = cosmos_reason_ros\.", scripts, re.M), script
        names = set(whl.namelist())
    # Every module of every subpackage (core/answers/..., ros/node/..., watches, grounding) and the template.
    source = REPO / "cosmos_reason_ros"
    modules = sorted(p.relative_to(source).as_posix() for p in source.rglob("*")
                     if p.suffix in (".py", ".jinja") and "__pycache__" not in p.parts)
    assert len(modules) > 60
    missing = [m for m in modules if f"cosmos_reason_ros/{m}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert not any(n.startswith(("test/", "benchmarks/")) for n in names)


def test_installed_wheel_core_runs_without_ros(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = f"""
import sys
sys.path.insert(0, {str(target)!r})
for name in ("rclpy", "rosidl_runtime_py", "sensor_msgs"):
    sys.modules[name] = None  # importing any of these now raises ImportError
import numpy as np
import cosmos_reason_ros
assert cosmos_reason_ros.__file__.startswith({str(target)!r}), cosmos_reason_ros.__file__
from cosmos_reason_ros.core.models.families import REASON1
from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
frames = [Frame(pixels=np.zeros((480, 640, 3), np.uint8), stamp=float(i)) for i in range(4)]
clips = prepare_clips([CameraClip(camera="front", frames=frames)], REASON1, VideoBudget(max_visual_tokens=1024))
print("tokens", clips[0].visual_tokens)
answer = '<think>x</think>\\n<answer>{{"feasible": "yes", "confidence": 0.9}}</answer>'
outcome = parse_output(answer, REASON1, Mode.FEASIBILITY)
print("verdict", outcome.ok, outcome.parsed.feasibility.verdict.name)
from cosmos_reason_ros.core.grounding.depth_projection import project_location  # grounding needs no ROS either
from cosmos_reason_ros.core.grounding.coordinates import locate
from cosmos_reason_ros.core.datatypes import Observed
from cosmos_reason_ros.core.modes.watches import CheckResult, WatchSpec, WatchTracker
tracker = WatchTracker(WatchSpec("w", "q", raise_after=1))
print("watch", tracker.observe(CheckResult(Observed.YES), 0.0).state.name)
"""
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    tokens = int(re.search(r"tokens (\d+)", run.stdout).group(1))
    assert 0 < tokens <= 1024
    assert "verdict True FEASIBLE" in run.stdout
    assert "watch RAISED" in run.stdout  # the standing-watch core runs without ROS too
