# Source this file (`. scripts/env.sh`) for a shell with the venv's ROS 2 and this package's install
# space: then `python -c "import cosmos_reason_ros.msg"`, the executables in install/lib/cosmos_reason_ros
# and rclpy all work, and so does `ros2` (launch, run, topic, param, ...) where setup.sh installed the ros2 command
# line kit. Not needed on a real ROS 2 install: source /opt/ros/<distro> and install/setup.bash.
_cosmos_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$_cosmos_root
# shellcheck disable=SC1091
. "$_cosmos_root/scripts/distro.sh"
_cosmos_venv=$venv
unset root venv
# shellcheck disable=SC1091
. "$_cosmos_venv/bin/activate"
case ":${AMENT_PREFIX_PATH:-}:" in *":$_cosmos_venv:"*) ;; *) export AMENT_PREFIX_PATH="$_cosmos_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}";; esac
case ":${CMAKE_PREFIX_PATH:-}:" in *":$_cosmos_venv:"*) ;; *) export CMAKE_PREFIX_PATH="$_cosmos_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}";; esac
# The ROS 2 wheels keep their shared libraries in the venv's lib/ (compiled programs need them too).
case ":${LD_LIBRARY_PATH:-}:" in *":$_cosmos_venv/lib:"*) ;; *) export LD_LIBRARY_PATH="$_cosmos_venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}";; esac
# The ros2 command line kit (scripts/setup.sh installs it where ../shared/ros2cli exists): its `ros2` is in the
# venv's bin/ (on PATH since the activate above); its overlay holds composition_interfaces, which launch_ros needs.
if [ -f "$_cosmos_venv/ros2cli-overlay/setup.bash" ]; then
  # shellcheck disable=SC1091
  . "$_cosmos_venv/ros2cli-overlay/setup.bash"
fi
if [ -f "$_cosmos_root/install$suffix/setup.bash" ]; then
  # shellcheck disable=SC1091
  . "$_cosmos_root/install$suffix/setup.bash"
else
  echo "cosmos_reason_ros is not built yet: run scripts/setup.sh" >&2
fi
unset _cosmos_root _cosmos_venv suffix distro
