"""The managed node's ~/change_state over DDS: a transition that does not exist in the current state answers
success=false and the node keeps serving, on Kilted's handler and on one that raises as Humble's does."""
from __future__ import annotations

from lifecycle_msgs.msg import Transition

from helpers.lifecycle import ManagedRig

NO_SUCH_TRANSITION = 99


def test_an_invalid_transition_answers_false_and_the_node_keeps_serving(rclpy_session, reason1_model):
    rig = ManagedRig(rclpy_session, reason1_model, "reasoner_invalid_transition")
    try:
        assert rig.state() == "unconfigured"
        assert not rig.transition(Transition.TRANSITION_ACTIVATE)  # not offered while unconfigured
        assert not rig.transition(NO_SUCH_TRANSITION)
        assert rig.state() == "unconfigured" and rig.thread.is_alive()
        assert rig.transition(Transition.TRANSITION_CONFIGURE)
        # configure again: what a lifecycle manager sends to a node that --autostart already brought up
        assert not rig.transition(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "inactive" and rig.thread.is_alive()
        assert rig.transition(Transition.TRANSITION_CLEANUP)
        assert rig.state() == "unconfigured"
    finally:
        rig.close()


def test_a_handler_that_raises_as_humbles_does_is_answered_false(rclpy_session, reason1_model):
    """Humble's handler lets RCLError escape for such a request and the executor dies with it; under the guard
    the request is answered success=false, the executor keeps spinning and later transitions work."""
    from helpers.part_faults import HumbleChangeState

    rig = ManagedRig(rclpy_session, reason1_model, "reasoner_humble_transition")
    try:
        humble = HumbleChangeState(rig.node)
        assert not rig.transition(Transition.TRANSITION_ACTIVATE)
        assert humble.raised == 1  # the double did raise, as Humble would
        assert rig.state() == "unconfigured" and rig.thread.is_alive()
        assert rig.transition(Transition.TRANSITION_CONFIGURE)
        assert not rig.transition(Transition.TRANSITION_CONFIGURE)
        assert not rig.transition(NO_SUCH_TRANSITION)
        assert humble.raised == 3
        assert rig.state() == "inactive" and rig.thread.is_alive()
        assert rig.transition(Transition.TRANSITION_CLEANUP)
        assert rig.state() == "unconfigured"
        humble.remove()
    finally:
        rig.close()
