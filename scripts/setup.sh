#!/usr/bin/env bash
# From a fresh machine with Python 3.11 and a C++ compiler: create .venv, install the real ROS 2 wheels,
# colcon, torch, transformers and the rest, fix the wheels' CMake paths, install the `ros2` command line from
# ../shared/ros2cli where that kit exists, and colcon-build this package.
# Safe to re-run: installs happen only when the requirement files changed; the build is incremental.
#
# Environment: PYTHON (interpreter for the venv, default python3), COSMOS_VENV (venv dir, default .venv),
# COSMOS_ROS_DISTRO (kilted, the default, or jazzy: the ros-jazzy-* wheels, in .venv-jazzy, built into
# build-jazzy/ and install-jazzy/; for compatibility runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# shellcheck disable=SC1091
. scripts/distro.sh

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

stamp="$venv/.cosmos_reason_ros-requirements"
ros_wheels=$(mktemp)
# Kilted wheels are named ros-<package>; other distros' ros-<distro>-<package>.
constraints=$(mktemp)
trap 'rm -f "$ros_wheels" "$constraints"' EXIT
# Keep the lines meant for this distro (`# only:<distro>` tags).
awk -v d="$distro" 'match($0, /# only:[a-z,]+/) { n = split(substr($0, RSTART + 7, RLENGTH - 7), only, ",");
  keep = 0; for (i = 1; i <= n; i++) if (only[i] == d) keep = 1; if (!keep) next } { print }' \
  scripts/ros-wheels.txt > "$ros_wheels"
if [ "$distro" = kilted ]; then
  cp scripts/constraints.txt "$constraints"
else  # the ros-<distro>-* wheels pin their own ros-* versions: rename, and drop the Kilted pins
  sed -i "s/^ros-/ros-$distro-/" "$ros_wheels"
  grep -v '^ros-' scripts/constraints.txt > "$constraints"
fi
wanted=$(cat "$ros_wheels" requirements.txt requirements-test.txt "$constraints" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
  echo "[setup] installing ROS 2 wheels, colcon, torch, transformers (first run: a few minutes, ~6 GB)"
  python -m pip install --quiet --disable-pip-version-check --upgrade pip
  python -m pip install --quiet --disable-pip-version-check \
    -c "$constraints" \
    -r "$ros_wheels" -r requirements.txt -r requirements-test.txt
  echo "$wanted" > "$stamp"
else
  echo "[setup] requirements unchanged, skipping installs"
fi

# The `ros2` command line (launch, launch_ros, ros2cli and its verbs) is not on the package registry: where the
# ros2cli kit sits beside this clone (../shared/ros2cli), install it into the venv (its stamp makes re-runs
# no-ops; it picks the wheels of the venv's distro). scripts/env.sh then sources its overlay.
kit="$root/../shared/ros2cli/install.sh"
if [ -f "$kit" ]; then
  echo "[setup] installing the ros2 command line kit from $(cd "$(dirname "$kit")" && pwd)" \
    "(ros2 launch, run, node, topic, param, lifecycle, action)"
  bash "$kit" "$venv"
else
  echo "[setup] no ros2 command line kit at ../shared/ros2cli: no \`ros2\` command or launch here;" \
    "the tests that need them will skip (README: the \`ros2\` command)"
fi

"$root/scripts/build.sh"
