#!/usr/bin/env bash
# From a fresh machine with Python 3.11 and a C++ compiler: create .venv, install the real ROS 2 wheels,
# colcon, torch, transformers and the rest, fix the wheels' CMake paths, and colcon-build this package.
# Safe to re-run: installs happen only when the requirement files changed; the build is incremental.
#
# Environment: PYTHON (interpreter for the venv, default python3), COSMOS_VENV (venv dir, default .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
venv=${COSMOS_VENV:-$root/.venv}

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

stamp="$venv/.cosmos_reason_ros-requirements"
wanted=$(cat scripts/ros-wheels.txt requirements.txt requirements-test.txt scripts/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
  echo "[setup] installing ROS 2 wheels, colcon, torch, transformers (first run: a few minutes, ~6 GB)"
  python -m pip install --quiet --disable-pip-version-check --upgrade pip
  python -m pip install --quiet --disable-pip-version-check \
    -c scripts/constraints.txt \
    -r scripts/ros-wheels.txt -r requirements.txt -r requirements-test.txt
  echo "$wanted" > "$stamp"
else
  echo "[setup] requirements unchanged, skipping installs"
fi

exec "$root/scripts/build.sh"
