"""A configure that fails after the cameras were created cleans up everything it made, for the plain node (its
constructor, and its parts configured again) and the managed node (on_configure FAILURE): then a configure
makes exactly one of each node, topic, subscription, action server and timer."""
from __future__ import annotations

import threading

import pytest
from rclpy.parameter import Parameter

from cosmos_reason_ros.ros.node.diagnostics import DiagnosticsPart
from cosmos_reason_ros.ros.node.reasoner_node import ConfigureError, ReasonerNode
from helpers.part_faults import FailingConfigure
from helpers.ros_harness import Harness

ONE_OF_EACH = (1, 1, 1, 1, 1)


def overrides(model, name: str, topic: str | None = None) -> list[Parameter]:
    return [Parameter("model", value=str(model)), Parameter("cameras.names", value=["front"]),
            Parameter("cameras.front.topic", value=topic or f"/{name}/front/image_raw")]


def graph(observer, name: str) -> tuple[int, ...]:
    """Seen over DDS now: (nodes named ``name``, its camera companions, ~/plan publishers, camera subscribers,
    ~/reason action servers)."""
    nodes = observer.get_node_names_and_namespaces()
    return (nodes.count((name, "/")), nodes.count((f"{name}_cameras", "/")), observer.count_publishers(f"/{name}/plan"),
            observer.count_subscribers(f"/{name}/front/image_raw"),
            observer.count_publishers(f"/{name}/reason/_action/status"))


def entities(node) -> tuple[int, ...]:
    """What the node object holds now: (timers, publishers, subscriptions, services, waitables incl. the action
    server, camera companion threads)."""
    companions = [t for t in threading.enumerate() if t.name == f"{node.get_name()}-camera-ingest" and t.is_alive()]
    return (len(list(node.timers)), len(list(node.publishers)), len(list(node.subscriptions)),
            len(list(node.services)), len(list(node.waitables)), len(companions))


def companion_threads(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == f"{name}-camera-ingest" and t.is_alive())


def test_plain_node_configure_failing_after_the_cameras_leaves_nothing_and_configures_again(
        rclpy_session, reason1_model):
    name = "reasoner_half_built"
    observer = rclpy_session.create_node(f"{name}_observer")
    node = None
    try:
        # The constructor's configure fails in the last part, after every other part made its entities.
        with FailingConfigure(DiagnosticsPart) as fault, pytest.raises(ConfigureError) as raised:
            ReasonerNode(node_name=name, parameter_overrides=overrides(reason1_model, name))
        assert fault.raised == 1
        assert str(raised.value).startswith("the diagnostics part failed to configure: RuntimeError: fault injected")
        assert isinstance(raised.value.__cause__, RuntimeError)
        Harness.wait_for(lambda: companion_threads(name) == 0, 5, "the camera companion's thread to end")

        node = ReasonerNode(node_name=name, parameter_overrides=overrides(reason1_model, name))
        Harness.wait_for(lambda: graph(observer, name) == ONE_OF_EACH, 15, f"one of each in the graph ({name})")
        configured = entities(node)
        assert configured[0] == 3 and configured[-1] == 1  # goals: queue check + memory trim; diagnostics

        # Configured again on the same node: cleanup, a configure that fails, then one that works.
        node.parts.deactivate()
        node.parts.cleanup()
        unconfigured = entities(node)
        assert unconfigured[0] == 0 and unconfigured[-1] == 0
        with FailingConfigure(DiagnosticsPart), pytest.raises(ConfigureError):
            node.parts.configure()
        assert not node.parts.configured and node.parts.ingest is None
        Harness.wait_for(lambda: entities(node) == unconfigured, 5, "what the failed configure made to be gone")
        Harness.wait_for(lambda: graph(observer, name) == (1, 0, 0, 0, 0), 15, "only the node itself in the graph")
        node.parts.configure()
        node.parts.activate()
        assert entities(node) == configured
        Harness.wait_for(lambda: graph(observer, name) == ONE_OF_EACH, 15, "one of each again")
    finally:
        if node is not None:
            node.destroy_node()
        observer.destroy_node()


def test_a_camera_that_cannot_be_subscribed_leaves_no_companion(rclpy_session, reason1_model):
    """A fault inside the cameras part, after its companion node and thread were made: a topic rclpy refuses."""
    name = "reasoner_bad_topic"
    with pytest.raises(ConfigureError, match="the cameras part failed to configure"):
        ReasonerNode(node_name=name, parameter_overrides=overrides(reason1_model, name, topic="/front/bad topic!"))
    Harness.wait_for(lambda: companion_threads(name) == 0, 5, "the camera companion's thread to end")


def test_managed_node_configure_failing_after_the_cameras_returns_failure_and_configures_again(
        rclpy_session, reason1_model):
    from lifecycle_msgs.msg import Transition

    from helpers.lifecycle import ManagedRig

    rig = ManagedRig(rclpy_session, reason1_model, "reasoner_managed_half_built")
    try:
        unconfigured = entities(rig.node)
        with FailingConfigure(DiagnosticsPart) as fault:
            assert not rig.transition(Transition.TRANSITION_CONFIGURE)
        assert fault.raised == 1 and rig.state() == "unconfigured"
        Harness.wait_for(lambda: entities(rig.node) == unconfigured, 5, "what the failed configure made to be gone")
        Harness.wait_for(lambda: graph(rig.helper, rig.name) == (1, 0, 0, 0, 0), 15, "only the node in the graph")

        assert rig.transition(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "inactive"
        Harness.wait_for(lambda: graph(rig.helper, rig.name) == ONE_OF_EACH, 15, "one of each in the graph")
        configured = entities(rig.node)
        assert configured[0] == unconfigured[0] + 3 and configured[-1] == 1
        assert rig.transition(Transition.TRANSITION_CLEANUP)
        assert entities(rig.node) == unconfigured
    finally:
        rig.close()
