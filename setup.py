"""pip-style install of the Python package, for use outside a colcon workspace.

colcon builds this repository as an ament_cmake package (package.xml): CMake generates the interfaces and
installs the Python modules and the executables in ``lib/cosmos_reason_ros``. This file serves the other
way in: ``pip install .`` (or a wheel) gives the ROS-free core (``cosmos_reason_ros.core``: video budget,
prompts, backends, parsing) to any Python program, plus console scripts that run the ROS tools where a
built workspace is sourced (the generated ``msg``/``action`` modules come only from the colcon build).

Single sources: the version is read from package.xml, the Python dependencies from requirements.txt.
"""
from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def package_version() -> str:
    match = re.search(r"<version>\s*([^<\s]+)\s*</version>", (HERE / "package.xml").read_text())
    if match is None:
        raise RuntimeError("package.xml has no <version>")
    return match.group(1)


def requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


setup(
    name="cosmos_reason_ros",
    version=package_version(),
    description="ROS 2 action server that gives robots physical reasoning with NVIDIA Cosmos Reason",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["cosmos_reason_ros", "cosmos_reason_ros.*"]),
    package_data={"cosmos_reason_ros.testing": ["*.jinja"]},
    install_requires=requirements(),
    # The critic's scale-out engine (`critic --engine ray`): Ray Data for decoding, an actor pool for models.
    extras_require={"ray": ["ray[data]>=2.9"]},
    entry_points={
        "console_scripts": [
            # The ROS tools start through a check that says in one line what is missing without ROS.
            "cosmos-reasoner = cosmos_reason_ros.tools:reasoner_main",
            "cosmos-reason-ask = cosmos_reason_ros.tools:ask_main",
            "cosmos-reason-replay = cosmos_reason_ros.tools:replay_main",
            "cosmos-reasoner-lifecycle = cosmos_reason_ros.tools:reasoner_lifecycle_main",
            "cosmos-reason-critic = cosmos_reason_ros.critic.cli:main",  # needs no ROS
            "cosmos-reason-make-tiny-model = cosmos_reason_ros.testing.tiny_model:main",
        ],
    },
)
