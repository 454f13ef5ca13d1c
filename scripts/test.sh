#!/usr/bin/env bash
# Build if needed, then run the whole test suite against the install space with real rclpy over Fast DDS.
# Extra arguments go to pytest (e.g. scripts/test.sh -k parser -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/build.sh >/dev/null
# colcon's setup scripts read unset variables: source them with -u off.
set +u
# shellcheck disable=SC1091
. scripts/env.sh
set -u
# Keep DDS traffic on this machine and away from other runs: a random domain unless one is given.
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export ROS_LOCALHOST_ONLY=${ROS_LOCALHOST_ONLY:-1}
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "[test] ROS_DOMAIN_ID=$ROS_DOMAIN_ID"
# `pytest` (not `python -m pytest`) so the source tree is not on sys.path: the installed package,
# with its generated msg/ and action/ modules, is what gets imported.
exec pytest "$@"
