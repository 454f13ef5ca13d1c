# Sourced by the other scripts (with $root set): which ROS 2 distro's wheels, which venv, which build dirs.
# COSMOS_ROS_DISTRO=kilted (default): .venv, build/, install/, log/ (what the README and CI use).
# COSMOS_ROS_DISTRO=jazzy: .venv-jazzy, build-jazzy/, install-jazzy/, log-jazzy/ (a compatibility run).
distro=${COSMOS_ROS_DISTRO:-kilted}
case "$distro" in
  kilted) suffix="" ;;
  jazzy) suffix="-jazzy" ;;
  *) echo "COSMOS_ROS_DISTRO must be kilted or jazzy (the distros with wheels), got '$distro'" >&2; return 2 ;;
esac
venv=${COSMOS_VENV:-$root/.venv$suffix}
# Tests find the build tree (compiled C++ check) through this.
export COSMOS_BUILD_BASE="$root/build$suffix"
