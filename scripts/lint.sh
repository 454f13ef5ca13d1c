#!/usr/bin/env bash
# Lint (ruff) and type-check (mypy, the ROS-free core) with the settings in pyproject.toml; one line per tool
# when it passes, its findings when not. Exits non-zero on any finding. Needs no build and no ROS.
# Extra arguments go to ruff check (e.g. scripts/lint.sh --fix).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# shellcheck disable=SC1091
. scripts/distro.sh
if [ -x "$venv/bin/python" ]; then
  # shellcheck disable=SC1091
  . "$venv/bin/activate"
fi
# bin/ holds Python scripts without a suffix: pyproject.toml's extend-include takes them in.
paths=(cosmos_reason_ros test benchmarks docs/images bin scripts setup.py)
status=0
if ruff check --quiet --output-format concise "$@" "${paths[@]}"; then
  echo "[lint] ruff: passed (${paths[*]})"
else
  echo "[lint] ruff: findings above" >&2
  status=1
fi
if out=$(mypy 2>&1); then
  echo "[lint] mypy: passed (cosmos_reason_ros/core)"
else
  echo "$out"
  echo "[lint] mypy: findings above" >&2
  status=1
fi
exit "$status"
