"""Helpers shared by the CPU benchmarks: environment checks, DDS isolation, statistics, tables, machine facts,
synthetic camera frames and the tiny test models.

The benchmarks import the INSTALLED package (``. scripts/env.sh`` first), never the source tree: the
generated ``cosmos_reason_ros.msg`` / ``.action`` modules exist only in the install space.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def require_installed_package() -> None:
    """Exit with a hint when the built package (with its generated interfaces) is not importable."""
    try:
        import cosmos_reason_ros.action  # noqa: F401
    except ImportError as e:
        sys.exit(f"cannot import the built cosmos_reason_ros ({e}): build with scripts/build.sh, then "
                 "`set +u; . scripts/env.sh` and run the benchmark from that shell")


def isolate_dds() -> None:
    """Keep DDS traffic on this host and off other runs' domains (as scripts/test.sh does), unless set;
    offline and quiet Hugging Face libraries.

    Child processes inherit the environment, so call this before starting any.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


#: The package's Fast DDS profile for camera-sized messages between processes on one host: shared memory
#: with 64 MB segments (the default 512 KB segments lost nearly every best-effort image of 640×480 and
#: larger here, even at a subscriber that does nothing), plus UDPv4 for everything else.
LARGE_SHM_PROFILE_FILE = Path(__file__).resolve().parent.parent / "config" / "fastdds_large_images.xml"


#: The variables Fast DDS reads its profile file from: 2.x (Humble, Jazzy), then 3.x (Kilted).
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def use_dds_profile(profile: str) -> str:
    """Apply ``profile`` ('large-shm' or 'default') to this process and its children; return a description.

    A profile file already set (either variable), or a non-Fast-DDS RMW, is left alone and reported as such.
    """
    given = next((f"{name}={os.environ[name]}" for name in PROFILE_VARIABLES if name in os.environ), None)
    if profile == "default":
        return given or "Fast DDS defaults"
    if "fastrtps" not in os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"):
        return f"{os.environ['RMW_IMPLEMENTATION']} defaults (profile {profile} is for Fast DDS)"
    if given is not None:
        return f"{given} (kept)"
    for name in PROFILE_VARIABLES:
        os.environ[name] = str(LARGE_SHM_PROFILE_FILE)
    return "Fast DDS, shared memory with 64 MB segments + UDPv4 (config/fastdds_large_images.xml)"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table cell; '–' for missing or NaN."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _version(*distributions: str) -> str:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, software versions, settings that matter."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram_gib, 1),
        "load_1min_at_start": round(load, 2),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "rclpy": _version("ros-rclpy", "rclpy"),
        "opencv": _version("opencv-python-headless", "opencv-python"),
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "default (rmw_fastrtps_cpp)"),
        "commit": commit,
    }


def machine_line(info: dict[str, Any]) -> str:
    return (f"{info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; Python {info['python']}, "
            f"torch {info['torch']}, transformers {info['transformers']}, rclpy {info['rclpy']}, "
            f"RMW {info['rmw']}; commit {info['commit']}; {info['date']} (load {info['load_1min_at_start']})")


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str))


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' → (640, 480)."""
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def scene_frame(index: int, width: int, height: int) -> np.ndarray:
    """A camera-like RGB frame: smooth shading, a few objects, sensor noise; changes with ``index``.

    Pure gradients compress to almost nothing and pure noise not at all; this sits between, so JPEG sizes
    are in the range of real scenes (roughly 0.1–0.3 byte per pixel at quality 90).
    """
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.empty((height, width, 3), np.float32)
    frame[..., 0] = 90 + 60 * x / width
    frame[..., 1] = 80 + 70 * y / height
    frame[..., 2] = 120 + 40 * np.sin(x / width * 6.28 + index * 0.2)
    for k in range(6):
        cx, cy = (0.15 + 0.14 * k + 0.01 * index) % 1.0 * width, (0.3 + 0.1 * (k % 3)) * height
        r = (0.04 + 0.02 * k) * min(width, height)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        frame[mask] = (40 * k % 255, 200 - 25 * k, 60 + 30 * k)
    frame += rng.normal(0, 3, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def tiny_model_dir(family: str = "reason1", scenario: str = "reachable", teach: bool = True) -> Path:
    """A tiny model directory from the test suite's cache (built once, shared with the tests): taught to
    give one well-formed answer, or (``teach=False``) random weights that rarely stop.

    COSMOS_TEST_CACHE chooses the cache folder, as for the tests.
    """
    test_dir = str(REPO / "test")
    if test_dir not in sys.path:
        sys.path.append(test_dir)
    from conftest import build_tiny_model  # the suite's cache key: source hash + transformers version

    return build_tiny_model(family, teach=teach, scenario=scenario)
