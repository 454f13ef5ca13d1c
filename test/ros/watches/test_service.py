"""Standing watches over real DDS: hysteresis, cool-down, UNKNOWN on stale cameras and unparseable answers, goals
preempting checks, the services, the latched states, the alerts and diagnostics.

These watches ask for reasoning (``reasoning`` true: the check a watch made before one-token checks became the
default), so each check runs the taught reasoning model's generation, which the script can replace; one-token
checks have their own node test (test_one_token.py).

The tiny taught model runs every check for real; ``ScriptedWatchAnswers`` (a fault double) replaces its text by
a scripted yes/no per question where a test needs a sequence. A question without a script keeps the model's own
text, which has no "observed" answer: a real parse failure.
"""
from __future__ import annotations

import time

import pytest
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.msg import Alert, Watch, WatchState, WatchStates
from cosmos_reason_ros.srv import AddWatch, ListWatches, RemoveWatch, SetWatchEnabled

Goal, Result = ReasonAboutTask.Goal, ReasonAboutTask.Result
NODE = "reasoner_watches"
PREFIX = f"/{NODE}"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
DECLARED = "is anyone inside the arm's workspace?"


@pytest.fixture(scope="module")
def harness(rclpy_session, reason1_model):
    from helpers.fault_injection import ScriptedWatchAnswers
    from helpers.ros_harness import Camera, Collector, Harness

    cameras = [Camera("front", f"{PREFIX}/front/image_raw"), Camera("side", f"{PREFIX}/side/image_raw", rate=15.0)]
    with Harness.started({
        "model": str(reason1_model), "generation.max_new_tokens": 400, "generation.temperature": 0.0,
        "frames.max_frames": 2, "frames.history_seconds": 1.0, "frames.stale_after": 0.6,
        "frames.wait_timeout": 0.3, "diagnostics_period": 0.2,
        "watches.names": ["workspace"], "watches.workspace.question": DECLARED, "watches.workspace.period": 0.5,
        "watches.workspace.cameras": ["front"], "watches.workspace.severity": "critical",
        "watches.workspace.reasoning": True,
    }, cameras, node_name=NODE) as h:
        h.script = ScriptedWatchAnswers(h.node.parts.model.backend)
        h.alerts = Collector(h, Alert, f"{PREFIX}/alerts", RELIABLE)
        h.services = {name: h.helper.create_client(kind, f"{PREFIX}/{name}") for name, kind in (
            ("add_watch", AddWatch), ("remove_watch", RemoveWatch), ("set_watch_enabled", SetWatchEnabled),
            ("list_watches", ListWatches))}
        yield h
        h.script.remove()


def call(h, service: str, **fields):
    client = h.services[service]
    h.wait_for(lambda: client.service_is_ready(), 10.0, f"service {service}")
    future = client.call_async(client.srv_type.Request(**fields))
    h.wait_for(future.done, 30.0, f"the {service} response")
    return future.result()


def add(h, name: str, question: str, **fields):
    fields.setdefault("cameras", ["front"])
    fields.setdefault("period", 0.2)
    fields.setdefault("reasoning", True)
    response = call(h, "add_watch", watch=Watch(name=name, question=question, **fields))
    assert response.success, response.error_msg
    return response


def listed(h, name: str) -> WatchState:
    response = call(h, "list_watches", names=[name])
    assert response.success, response.error_msg
    return response.watches[0]


def alerts_of(h, name: str) -> list:
    return [a for a in list(h.alerts.messages) if a.watch == name]


def test_declared_watch_is_listed_and_cleared_by_the_taught_answers(harness):
    """The declared watch runs on the taught model, which answers "no": CLEARED after clear_after (2) answers."""
    harness.wait_for(lambda: listed(harness, "workspace").state == WatchState.STATE_CLEARED, 60.0,
                     "the declared watch cleared by the model")
    state = listed(harness, "workspace")
    assert state.watch.question == DECLARED and list(state.watch.cameras) == ["front"]
    assert state.watch.period == pytest.approx(0.5) and state.watch.severity == Watch.SEVERITY_CRITICAL
    assert state.watch.raise_after == 2 and state.watch.clear_after == 2 and state.watch.enabled
    assert state.last_answer == WatchState.ANSWER_NO and state.checks >= 2 and state.last_check.sec > 0
    assert state.last_explanation == "the cup is within reach and nothing blocks it"  # the taught explanation
    assert state.reason == "2 consecutive answer(s) 'no'" and state.last_confidence == pytest.approx(0.9)


def test_raise_after_n_clear_after_m_flapping_damped_then_unknown(harness):
    from helpers.fault_injection import watch_answer

    q = "has the liquid spilled?"
    yes, no = (watch_answer(a, f"answer {a}") for a in ("yes", "no"))
    unparseable = "<think>\nlooking\n</think>\n<answer>{\"observed\": \"maybe later\"}</answer>"
    harness.script.script[q] = [no, no, yes, yes, no, yes, yes, yes, no, yes, no, no, unparseable]
    add(harness, "spill", q, raise_after=3, clear_after=2, severity=Watch.SEVERITY_ERROR)
    harness.wait_for(lambda: len(alerts_of(harness, "spill")) >= 4, 90.0, "four alerts of the spill watch")
    alerts = alerts_of(harness, "spill")[:4]
    assert [a.state for a in alerts] == [Alert.STATE_CLEARED, Alert.STATE_RAISED, Alert.STATE_CLEARED,
                                         Alert.STATE_UNKNOWN]
    assert [a.previous_state for a in alerts] == [Alert.STATE_UNKNOWN, Alert.STATE_CLEARED, Alert.STATE_RAISED,
                                                  Alert.STATE_CLEARED]
    raised = alerts[1]
    assert raised.answer == Alert.ANSWER_YES and raised.explanation == "answer yes"
    assert raised.confidence == pytest.approx(0.9)
    assert raised.reason == "3 consecutive answer(s) 'yes'" and raised.severity == Watch.SEVERITY_ERROR
    assert raised.question == q and raised.model_id and raised.check_time > 0
    assert [e.camera for e in raised.evidence] == ["front"] and raised.evidence[0].stamps
    assert raised.header.stamp == raised.evidence[0].stamps[-1] and raised.header.frame_id == "front_optical_frame"
    assert raised.stats.generated_tokens > 0  # the real model ran
    assert alerts[3].answer == Alert.ANSWER_NONE
    assert "ParseError" in alerts[3].reason and '"observed"' in alerts[3].reason
    call(harness, "remove_watch", name="spill")


def test_cool_down_holds_back_a_new_raise(harness):
    from helpers.fault_injection import watch_answer

    q = "has the pallet tipped over?"
    harness.script.script[q] = [watch_answer("yes"), watch_answer("no")]
    harness.script.defaults[q] = watch_answer("yes")
    received: list = []  # (monotonic time of receipt, alert)
    harness.helper.create_subscription(Alert, f"{PREFIX}/alerts", lambda a: received.append(
        (time.monotonic(), a)) if a.watch == "pallet" else None, RELIABLE)
    add(harness, "pallet", q, raise_after=1, clear_after=1, cooldown=2.0)
    harness.wait_for(lambda: len(received) >= 3, 60.0, "raise, clear and raise again")
    (_, raised), (cleared_at, cleared), (again_at, again) = received[:3]
    assert [raised.state, cleared.state, again.state] == [Alert.STATE_RAISED, Alert.STATE_CLEARED, Alert.STATE_RAISED]
    # The new raise came only once the cool-down was over (the margin covers the delivery of the CLEARED alert),
    # though every answer after the clear raised.
    assert again_at - cleared_at >= 1.5
    assert harness.node.parts.watches.entry("pallet").tracker.suppressed >= 1
    call(harness, "remove_watch", name="pallet")


def test_stale_camera_makes_the_watch_unknown_and_a_restarted_one_brings_it_back(harness):
    from helpers.fault_injection import watch_answer

    q = "is the side door open?"
    harness.script.defaults[q] = watch_answer("no")
    add(harness, "door", q, cameras=["side"], raise_after=1, clear_after=1)
    harness.wait_for(lambda: listed(harness, "door").state == WatchState.STATE_CLEARED, 60.0, "the door watch cleared")
    side = next(c for c in harness.cameras if c.name == "side")
    side.enabled = False  # the camera stops publishing
    try:
        harness.wait_for(lambda: listed(harness, "door").state == WatchState.STATE_UNKNOWN, 30.0,
                         "UNKNOWN on a stale camera")
        state = listed(harness, "door")
        assert "StaleFramesError" in state.reason and "side" in state.reason
        unknown = alerts_of(harness, "door")[-1]
        assert unknown.state == Alert.STATE_UNKNOWN and unknown.previous_state == Alert.STATE_CLEARED
        assert not unknown.evidence and not unknown.model_id  # no frame seen, no model run
    finally:
        side.enabled = True
    harness.wait_for(lambda: listed(harness, "door").state == WatchState.STATE_CLEARED, 60.0,
                     "CLEARED once the camera is back")
    call(harness, "remove_watch", name="door")


def test_a_lying_camera_makes_the_watch_unknown_until_it_sends_good_frames_again(harness):
    """The side camera's driver starts sending malformed images (freshly stamped): none is stored, so the
    watch cannot see the scene and says so; good frames bring it back."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from cosmos_reason_ros.testing.malformed_cameras import bad_images
    from helpers.fault_injection import watch_answer

    q = "is the conveyor jammed?"
    harness.script.defaults[q] = watch_answer("no")
    add(harness, "conveyor", q, cameras=["side"], raise_after=1, clear_after=1)
    harness.wait_for(lambda: listed(harness, "conveyor").state == WatchState.STATE_CLEARED, 60.0, "cleared")
    side = next(c for c in harness.cameras if c.name == "side")
    lies = [b.msg for b in bad_images() if "stamp" not in b.kind]
    liar = harness.helper.create_publisher(Image, side.topic, qos_profile_sensor_data)
    sent = []

    def lie() -> None:
        if side.enabled:
            return
        msg = lies[len(sent) % len(lies)]
        msg.header.stamp = harness.helper.get_clock().now().to_msg()
        liar.publish(msg)
        sent.append(1)

    timer = harness.helper.create_timer(1 / 15, lie)
    side.enabled = False
    try:
        harness.wait_for(lambda: listed(harness, "conveyor").state == WatchState.STATE_UNKNOWN, 30.0,
                         "UNKNOWN while the camera lies")
        assert "StaleFramesError" in listed(harness, "conveyor").reason and len(sent) > 5
        assert harness.node.parts.ingest.cameras["side"].buffer.counters.rejected > 0  # the lies were refused at ingest
    finally:
        side.enabled = True
        timer.cancel()
    harness.wait_for(lambda: listed(harness, "conveyor").state == WatchState.STATE_CLEARED, 60.0,
                     "CLEARED once the camera tells the truth again")
    call(harness, "remove_watch", name="conveyor")


def test_a_goal_preempts_a_running_check_which_resumes_at_its_next_period(harness):
    from helpers.fault_injection import watch_answer

    q = "is a person without a helmet in the danger zone?"
    harness.script.hold.add(q)  # its checks take long (until canceled)
    harness.script.defaults[q] = watch_answer("yes")
    add(harness, "helmet", q, raise_after=1, clear_after=1)
    harness.wait_for(harness.script.holding.is_set, 60.0, "a helmet check on the model")
    status, result, _ = harness.run("is the cup on the table?", mode=Goal.MODE_QUESTION, cameras=["front"])
    assert status == GoalStatus.STATUS_SUCCEEDED and result.error_code == Result.NONE, result.error_msg
    skipped = harness.node.parts.watches.entry("helmet").stats.skipped
    assert skipped.get("preempted_by_a_goal", 0) >= 1, skipped
    harness.script.hold.discard(q)
    harness.wait_for(lambda: listed(harness, "helmet").state == WatchState.STATE_RAISED, 60.0, "the check resumed")
    assert listed(harness, "helmet").checks_skipped >= 1
    call(harness, "remove_watch", name="helmet")


def test_services_add_refuse_enable_list_remove(harness):
    from helpers.fault_injection import watch_answer

    q = "is the gripper holding anything?"
    harness.script.defaults[q] = watch_answer("no")
    before = [w.watch.name for w in call(harness, "list_watches").watches]
    added = add(harness, "gripper", q, raise_on=Watch.RAISE_ON_NO, period=0.0)
    assert added.state.watch.period == pytest.approx(2.0) and added.state.watch.raise_on == Watch.RAISE_ON_NO
    assert added.state.state == WatchState.STATE_UNKNOWN and added.state.reason == "not checked yet"
    duplicate = call(harness, "add_watch", watch=Watch(name="gripper", question=q))
    assert not duplicate.success and duplicate.error_code == AddWatch.Response.ALREADY_EXISTS
    replaced = call(harness, "add_watch", watch=Watch(name="gripper", question=q, period=0.2, raise_after=1,
                                                      raise_on=Watch.RAISE_ON_NO, cameras=["front"], reasoning=True),
                    replace=True)
    assert replaced.success and replaced.state.watch.period == pytest.approx(0.2) and replaced.state.watch.reasoning
    for bad, fragment in ((dict(name="x", question=q, cameras=["nope"]), "unknown camera"),
                          (dict(name="x", question=" \u200b"), "question is empty"),
                          (dict(name="9x", question=q), "must start with a letter"),
                          (dict(name="x", question=q, period=0.01), "period"),
                          (dict(name="x", question=q, raise_on=9), "raise_on"),
                          (dict(name="x", question=q, history_seconds=1e6), "history_seconds")):
        response = call(harness, "add_watch", watch=Watch(**bad))
        assert not response.success and response.error_code == AddWatch.Response.INVALID_WATCH
        assert fragment in response.error_msg, response.error_msg
    assert [w.watch.name for w in call(harness, "list_watches").watches] == before + ["gripper"]  # nothing else changed
    # "no" raises this watch
    harness.wait_for(lambda: listed(harness, "gripper").state == WatchState.STATE_RAISED, 60.0,
                     "gripper raised on 'no'")
    off = call(harness, "set_watch_enabled", name="gripper", enabled=False)
    assert off.success
    state = listed(harness, "gripper")
    assert state.state == WatchState.STATE_UNKNOWN and state.reason == "disabled" and not state.watch.enabled
    assert alerts_of(harness, "gripper")[-1].state == Alert.STATE_UNKNOWN
    checks = harness.node.parts.watches.entry("gripper").stats.checks
    workspace = listed(harness, "workspace").checks
    harness.wait_for(lambda: listed(harness, "workspace").checks >= workspace + 2, 60.0, "other watches keep running")
    assert harness.node.parts.watches.entry("gripper").stats.checks == checks  # a disabled watch is not checked
    assert call(harness, "set_watch_enabled", name="gripper", enabled=True).success
    harness.wait_for(lambda: listed(harness, "gripper").state == WatchState.STATE_RAISED, 60.0, "raised again")
    missing = call(harness, "list_watches", names=["gripper", "nope"])
    assert not missing.success and missing.error_code == ListWatches.Response.NOT_FOUND and "nope" in missing.error_msg
    assert [w.watch.name for w in missing.watches] == ["gripper"]
    assert call(harness, "remove_watch", name="gripper").success
    # removing a raised watch says so: no subscriber keeps acting on a state that no longer exists
    harness.wait_for(lambda: alerts_of(harness, "gripper")[-1].reason == "removed", 10.0, "the removal alert")
    assert alerts_of(harness, "gripper")[-1].state == Alert.STATE_UNKNOWN
    assert "gripper" not in [w.watch.name for w in call(harness, "list_watches").watches]
    gone = call(harness, "remove_watch", name="gripper")
    assert not gone.success and gone.error_code == RemoveWatch.Response.NOT_FOUND
    assert not call(harness, "set_watch_enabled", name="gripper", enabled=True).success


def test_late_subscriber_gets_every_watch_state_at_once(harness):
    from helpers.ros_harness import Collector

    add(harness, "late", "is the floor wet?")
    late = Collector(harness, WatchStates, f"{PREFIX}/watch_states", LATCHED)
    harness.wait_for(lambda: late.messages, 10.0, "the latched watch states")
    names = [w.watch.name for w in late.messages[0].watches]
    assert "workspace" in names and "late" in names
    call(harness, "remove_watch", name="late")


def test_diagnostics_report_each_watch(harness):
    from helpers.ros_harness import Collector

    diagnostics = Collector(harness, DiagnosticArray, "/diagnostics", 10)

    def entry():
        for array in reversed(list(diagnostics.messages)):
            for status in array.status:
                if status.name == f"{PREFIX}: watch workspace":
                    return {kv.key: kv.value for kv in status.values}, status
        return None

    harness.wait_for(lambda: entry() is not None and float(entry()[0]["achieved_period_s"]) > 0, 30.0,
                     "a diagnostics entry of the declared watch")
    values, status = entry()
    assert values["period_s"] == "0.5" and int(values["checks"]) >= 2 and values["severity"] == "critical"
    assert values["check"] == "reasoning"  # the declared watch asks for reasoning
    assert {"skipped", "period_met", "suppressed_by_cooldown", "last_error", "achieved_period_s"} <= set(values)
    harness.wait_for(lambda: entry()[0]["state"] == "CLEARED", 30.0, "diagnostics of the cleared watch")
    values, status = entry()
    assert status.level == status.OK and status.message == "cleared"


def test_a_period_that_cannot_be_met_says_so_in_diagnostics(harness):
    """A check that holds the model (a slow one) keeps the declared 0.5 s watch from its turn: its achieved
    period grows and its diagnostics entry says the period is not met."""
    from helpers.ros_harness import Collector

    q = "is the emergency stop pressed?"
    harness.script.hold.add(q)
    diagnostics = Collector(harness, DiagnosticArray, "/diagnostics", 10)
    workspace = harness.node.parts.watches.entry("workspace").stats
    try:
        add(harness, "estop", q)
        harness.wait_for(harness.script.holding.is_set, 60.0, "the slow check on the model")
        harness.wait_for(lambda: time.monotonic() - workspace.last_started > 2.0, 30.0, "the workspace watch held off")
    finally:
        harness.script.hold.discard(q)

    def entry():
        for array in reversed(list(diagnostics.messages)):
            for status in array.status:
                if status.name == f"{PREFIX}: watch workspace":
                    return status
        return None

    harness.wait_for(lambda: entry() is not None and "period not met" in entry().message, 30.0, "period not met")
    values = {kv.key: kv.value for kv in entry().values}
    assert values["period_met"] == "False" and float(values["achieved_period_s"]) > 0.75
    assert entry().level == entry().WARN
    call(harness, "remove_watch", name="estop")


def test_a_goal_in_watch_mode_is_refused(harness):
    status, result, _ = harness.run("is anyone there?", mode=Goal.MODE_WATCH, cameras=["front"])
    assert result.error_code == Result.INVALID_GOAL and "add_watch" in result.error_msg


def test_raised_watches_are_shown_on_the_markers_and_the_annotated_image(harness):
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import Marker, MarkerArray

    from cosmos_reason_ros.ros.qos import LATCHED as VISUAL_QOS
    from cosmos_reason_ros.ros.watches.visuals import WATCH_NAMESPACE
    from helpers.fault_injection import watch_answer
    from helpers.ros_harness import Collector

    q = "is smoke rising from the machine?"
    harness.script.defaults[q] = watch_answer("yes", "grey smoke above the machine")
    markers = Collector(harness, MarkerArray, f"{PREFIX}/markers", VISUAL_QOS)
    images = Collector(harness, Image, f"{PREFIX}/annotated_image", RELIABLE)

    def watch_markers() -> list:
        """The raised-watch marker of every MarkerArray received, in order (None where it has none)."""
        return [next((m for m in array.markers if m.ns == WATCH_NAMESPACE), None) for array in list(markers.messages)]

    def shown() -> int:
        """Index of the first array that shows the smoke watch raised (-1: none yet)."""
        return next((i for i, m in enumerate(watch_markers())
                     if m is not None and m.action == Marker.ADD and "RAISED smoke" in m.text), -1)

    add(harness, "smoke", q, raise_after=1, clear_after=1, severity=Watch.SEVERITY_CRITICAL)
    harness.wait_for(lambda: shown() >= 0, 60.0, "the raised-watch marker")
    assert "RAISED smoke (critical): grey smoke above the machine" in watch_markers()[shown()].text

    def red_banner(image) -> bool:
        import numpy as np

        pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3)
        top = pixels[:4].reshape(-1, 3).mean(axis=0)
        return top[0] > 120 and top[1] < 100 and top[2] < 100

    harness.wait_for(lambda: any(red_banner(i) for i in list(images.messages)), 30.0, "the image with a red banner")
    # a goal's plan markers keep the raised watch on screen (after their DELETEALL)
    status, result, _ = harness.run("is the cup on the table?", mode=Goal.MODE_QUESTION, cameras=["front"])
    assert result.error_code == Result.NONE
    harness.wait_for(lambda: any(a.markers[0].action == Marker.DELETEALL and any(
        m.ns == WATCH_NAMESPACE and "RAISED smoke" in m.text for m in a.markers) for a in list(markers.messages)),
        10.0, "plan markers with the raised watch")
    harness.script.defaults[q] = watch_answer("no")
    harness.wait_for(lambda: any(m is not None and m.action == Marker.DELETE for m in watch_markers()[shown():]), 60.0,
                     "the marker deleted once cleared")
    call(harness, "remove_watch", name="smoke")
