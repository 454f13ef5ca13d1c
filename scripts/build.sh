#!/usr/bin/env bash
# colcon-build this package against the ROS 2 in .venv (run scripts/setup.sh once first).
# Extra arguments go to colcon build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# shellcheck disable=SC1091
. scripts/distro.sh
if [ ! -x "$venv/bin/python" ]; then
  echo "no virtual environment at $venv: run scripts/setup.sh first" >&2
  exit 2
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
python scripts/fix_ros_wheel_cmake_paths.py "$venv"
# The rosidl typesupport lookup reads the ament index: point it at the venv's ROS.
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
echo "[build] colcon build"
colcon --log-base "$root/log$suffix" build \
  --base-paths "$root" --build-base "$root/build$suffix" --install-base "$root/install$suffix" \
  --cmake-args -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=ON \
  "$@"
