#!/usr/bin/env bash
# Build if needed, check lint and types, then run the test suite against the install space with real rclpy
# over Fast DDS.
#
#   scripts/test.sh            lint + types, then the whole suite (CI's command), the 25 slowest tests listed
#   scripts/test.sh --fast     the edit-test loop: unit and single-node tests (not marked slow), no lint
#   scripts/test.sh --lint     lint and types only
# Other arguments go to pytest (e.g. scripts/test.sh -k parser -x, or scripts/test.sh --fast test/core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode=full
args=()
for arg in "$@"; do
  case "$arg" in
    --fast) mode=fast ;;
    --lint) mode=lint ;;
    *) args+=("$arg") ;;
  esac
done
if [ "$mode" != fast ]; then
  scripts/lint.sh
  [ "$mode" = lint ] && exit 0
fi
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
# Generated messages check the type and range of every field assignment, as Humble's always do (Jazzy and
# Kilted only with this set): a wrong type that passes here would raise on Humble, inside a callback.
export ROS_PYTHON_CHECK_FIELDS=1
echo "[test] ROS_DOMAIN_ID=$ROS_DOMAIN_ID ($mode)"
if [ "$mode" = fast ]; then
  set -- -m "not slow" "${args[@]+"${args[@]}"}"
else
  set -- --durations=25 "${args[@]+"${args[@]}"}"
fi
# `pytest` (not `python -m pytest`) so the source tree is not on sys.path: the installed package,
# with its generated msg/ and action/ modules, is what gets imported.
exec pytest "$@"
