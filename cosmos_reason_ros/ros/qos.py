"""Every QoS profile the package uses, written once (as Nav2's ``qos_profiles.hpp``).

Publishers and subscribers of the package (the node, the behaviour-tree nodes, the tools) take their
profiles from here, so a latched topic and its late subscriber can never drift apart.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

#: Latched: reliable, transient local, depth 1. The last message alone is the current state, and a
#: subscriber that starts late gets it (~/plan, ~/feasibility, ~/detections, ~/markers, ~/annotated_image,
#: ~/watch_states). A volatile or best-effort subscriber (rviz's defaults) matches it too.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

#: Alerts kept for a subscriber that reads slowly (every change matters: reliable, never dropped by a burst).
ALERT_DEPTH = 50
#: ~/alerts: reliable, volatile, ``ALERT_DEPTH`` deep.
ALERTS = QoSProfile(depth=ALERT_DEPTH, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

#: The action's goal, cancel and result services keep this many requests: rclpy's default (10, the services
#: default) silently dropped the rest of a burst of goals sent at once, and their clients waited forever.
#: 100 is max_queue's upper bound.
ACTION_SERVICES = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)

#: /diagnostics: the depth every diagnostic_updater publisher uses.
DIAGNOSTICS_DEPTH = 10

#: What camera drivers publish with: best effort, volatile (the tools that play a camera use it too).
SENSOR_DATA = qos_profile_sensor_data


def camera_subscription(reliable: bool, depth: int) -> QoSProfile:
    """A camera subscription: keep-last ``depth``; reliable, or the sensor-data profile's best effort."""
    if reliable:
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
    return QoSProfile(depth=depth, reliability=SENSOR_DATA.reliability, durability=SENSOR_DATA.durability,
                      history=HistoryPolicy.KEEP_LAST)
