"""The ROS-free reasoning core: frames in, typed plans out.

Nothing in this package imports rclpy or any ROS message; the node in ``cosmos_reason_ros.ros`` translates
messages to and from these types. Heavy dependencies (torch, transformers) are imported only by the modules
that need them, so the types, prompts and parser import in milliseconds.
"""
