"""The ROS 2 shell around the core: the reasoner node and its message conversions."""
