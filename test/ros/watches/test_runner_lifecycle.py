"""Standing watches through the node's phases: a model that is not ready, a declared watch that is invalid, and
the managed node's lifecycle (checks stop on deactivate, every watch announced UNKNOWN, resume on activate), and
the model taught "yes" raising a watch with no double."""
from __future__ import annotations

import pytest

from cosmos_reason_ros.msg import Watch
from cosmos_reason_ros.srv import AddWatch


def test_model_not_ready_is_unknown_and_an_invalid_declared_watch_is_left_out(make_harness, reason1_model):
    from cosmos_reason_ros.core.models.transformers_backend import TransformersConfig
    from helpers.fault_injection import HungLoadBackend
    from helpers.ros_harness import Camera

    backend = HungLoadBackend(TransformersConfig(model=str(reason1_model)))
    h = make_harness({"watches.names": ["ok", "bad"], "watches.ok.question": "is it on fire?", "watches.ok.period": 0.2,
                      "watches.bad.question": "is it wet?", "watches.bad.cameras": ["nope"]},
                     [Camera("front", "/watch_loading/front/image_raw")], ready=False, backend=backend,
                     node_name="watch_loading")
    try:
        h.wait_for(lambda: h.node.parts.watches.entry("ok") is not None
                   and h.node.parts.watches.entry("ok").stats.checks >= 1, 30.0, "a check")
        tracker = h.node.parts.watches.entry("ok").tracker
        assert tracker.state.name == "UNKNOWN" and tracker.reason.startswith("model not ready")
        assert h.node.parts.watches.entry("bad") is None  # refused at start-up (logged), the rest serves
    finally:
        backend.release.set()  # before make_harness closes the node: a hung load would hold up its teardown


def test_the_lifecycle_stops_and_restarts_the_checks(rclpy_session, reason1_model):
    """Managed node: watches are added while active; deactivate stops the check thread, activate starts it
    again, cleanup drops the watches and their services."""
    from lifecycle_msgs.msg import Transition

    from helpers.lifecycle import ManagedRig
    from helpers.ros_harness import Harness

    rig = ManagedRig(rclpy_session, reason1_model, "watch_managed")
    try:
        assert rig.transition(Transition.TRANSITION_CONFIGURE)
        client = rig.helper.create_client(AddWatch, "/watch_managed/add_watch")
        Harness.wait_for(client.service_is_ready, 10, "the add_watch service")
        refused = client.call_async(AddWatch.Request(watch=Watch(name="w", question="is the floor wet?")))
        Harness.wait_for(refused.done, 10, "add_watch while inactive")
        assert refused.result().error_code == AddWatch.Response.NOT_ACTIVE
        assert rig.transition(Transition.TRANSITION_ACTIVATE)
        added = client.call_async(AddWatch.Request(watch=Watch(name="w", question="is the floor wet?", period=0.2,
                                                               reasoning=True)))  # the taught model reasons
        Harness.wait_for(added.done, 10, "add_watch")
        assert added.result().success, added.result().error_msg
        stats = lambda: rig.node.parts.watches.entry("w").stats  # noqa: E731
        parts = rig.node.parts
        cleared = lambda: parts.watches.entry("w").tracker.state.name == "CLEARED"  # noqa: E731
        Harness.wait_for(lambda: parts.model.backend.ready and cleared(), 60, "the watch cleared while active")
        assert rig.transition(Transition.TRANSITION_DEACTIVATE)
        assert not rig.node.parts.watches.runner.running  # joined: nothing checks while inactive
        tracker = rig.node.parts.watches.entry("w").tracker  # the taught "no" had cleared it; now nobody checks
        assert tracker.state.name == "UNKNOWN" and tracker.reason == "not checked: the node is inactive"
        checks = stats().checks
        assert rig.transition(Transition.TRANSITION_ACTIVATE)
        Harness.wait_for(lambda: parts.model.backend.ready and stats().checks > checks, 60, "checks after reactivating")
        assert rig.transition(Transition.TRANSITION_DEACTIVATE) and rig.transition(Transition.TRANSITION_CLEANUP)
        assert not rig.node.parts.watches.entries()
        Harness.wait_for(lambda: not client.service_is_ready(), 10, "the watch services gone")
    finally:
        rig.close()


def test_the_model_taught_yes_raises_a_declared_watch_end_to_end(make_harness, blocked_model):
    """No double at all: the tiny model taught the "blocked" scene answers "yes" to any watch question, and a
    declared watch is raised after raise_after answers, the alert carrying the model's own explanation."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from cosmos_reason_ros.msg import Alert
    from helpers.ros_harness import Camera, Collector

    h = make_harness({"model": str(blocked_model), "generation.max_new_tokens": 400, "frames.max_frames": 2,
                      "watches.names": ["cabinet"], "watches.cabinet.question": "is the cup shut away?",
                      "watches.cabinet.period": 0.2, "watches.cabinet.raise_after": 2,
                      "watches.cabinet.reasoning": True},  # the reasoning check, with the taught explanation
                     [Camera("front", "/watch_taught/front/image_raw")], ready=False, node_name="watch_taught")
    # Subscribed before the node is ready, so no alert is missed.
    alerts = Collector(h, Alert, "/watch_taught/alerts", QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    h.wait_ready()
    h.wait_for(lambda: any(a.state == Alert.STATE_RAISED for a in list(alerts.messages)), 60.0, "the raise")
    raised = next(a for a in alerts.messages if a.state == Alert.STATE_RAISED)
    assert raised.answer == Alert.ANSWER_YES and raised.reason == "2 consecutive answer(s) 'yes'"
    assert raised.explanation == "a closed door blocks the only path to the cup"  # the taught explanation
    assert raised.confidence == pytest.approx(0.8) and raised.stats.stop_reason == "eos"
