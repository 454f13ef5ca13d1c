"""The node shows the model the right frames: tiny models TAUGHT TO SEE (testing.visual_model), real DDS.

Each family's visual model answers "is there a red object?" from the pixels of the newest frame. So these
tests fail when the node feeds it the wrong pixels, and they name the part that did:

=============================================  =====================================================
fault injected (see the report of issue 26)    tests that fail
=============================================  =====================================================
channels swapped in the image conversion       test_every_encoding_shows_the_model_the_same_scene,
                                               test_a_one_token_watch_raises_on_red_and_..., ...
frames reversed in the clip                    test_the_newest_frame_decides
the wrong camera's frames                      test_a_goal_answers_for_the_camera_it_names
stale frames (a cached clip or answer)         test_the_second_goal_sees_the_changed_scene
=============================================  =====================================================

One node per family hosts every camera (10 Hz; the "clip" camera plays given frames on demand) and runs the
goals one after another. Frames are sized into the range the model was taught at by ``node_parameters``
(``video.max_frame_pixels``); decoding is greedy. Waits are deadlines on observed state, never sleeps.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.models.families import FAMILIES
from cosmos_reason_ros.msg import Alert, Watch, WatchState
from cosmos_reason_ros.srv import AddWatch, ListWatches, RemoveWatch
from cosmos_reason_ros.testing import visual_model as vm
from cosmos_reason_ros.testing.tiny_model import TINY_FAMILIES
from helpers.ros_harness import Camera, Collector, Harness

Goal, Result = ReasonAboutTask.Goal, ReasonAboutTask.Result
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
W, H = 320, 240  # the colour cameras
#: The families whose node tests run in the fast loop; the others are marked slow (each builds its model).
FAST_FAMILIES = ("reason2",)


def still(image: np.ndarray) -> Callable[[int], np.ndarray]:
    """A camera scene that shows ``image`` in every frame."""
    return lambda count: image


def red_scene(width: int = W, height: int = H) -> np.ndarray:
    """A red block and a green one on grey (the red is what must be seen)."""
    image = vm.blank(width, height)
    vm.draw_box(image, (0.1, 0.2, 0.4, 0.6), vm.RED)
    return vm.draw_box(image, (0.6, 0.5, 0.9, 0.9), (30, 200, 30))


def blue_scene(width: int = W, height: int = H) -> np.ndarray:
    """The same layout with the red block blue (what swapped channels make of red)."""
    image = vm.blank(width, height)
    vm.draw_box(image, (0.1, 0.2, 0.4, 0.6), (30, 30, 220))
    return vm.draw_box(image, (0.6, 0.5, 0.9, 0.9), (30, 200, 30))


def family_params() -> list:
    return [pytest.param(family, marks=() if family in FAST_FAMILIES else pytest.mark.slow) for family in TINY_FAMILIES]


ENCODED = {"rgb": dict(encoding="rgb8"), "bgr": dict(encoding="bgr8"), "mono": dict(encoding="mono8"),
           "jpeg": dict(compressed=True, codec="jpeg"), "png": dict(compressed=True, codec="png")}


@pytest.fixture(scope="module", params=family_params())
def seeing(request, rclpy_session, visual_models):
    """A node running the family's visual model with every camera these tests look through."""
    family = request.param
    model = visual_models(family)
    node = f"seeing_{family}"
    prefix = f"/{node}"
    red, blue = red_scene(), blue_scene()
    cameras = [Camera(name, f"{prefix}/{name}/image_raw" + ("/compressed" if kw.get("compressed") else ""),
                      rate=10.0, scene=still(red), **kw) for name, kw in ENCODED.items()]
    cameras += [Camera("blue", f"{prefix}/blue/image_raw", rate=10.0, scene=still(blue)),
                Camera("scene", f"{prefix}/scene/image_raw", rate=10.0, scene=still(red)),
                Camera("clip", f"{prefix}/clip/image_raw", rate=2.0, scene=still(red))]
    params = {"model": str(model), **vm.node_parameters(FAMILIES[family]), "markers.frame_id": "",
              "frames.stale_after": 5.0}
    with Harness.started(params, cameras, ready=False, node_name=node) as harness:
        harness.wait_ready(timeout=120.0)
        yield harness


def camera(harness: Harness, name: str) -> Camera:
    return next(c for c in harness.cameras if c.name == name)


def fresh_frames(harness: Harness, name: str, count: int = 12) -> None:
    """Wait until ``name`` has published ``count`` more frames (a changed scene has replaced the old one in
    the window the node looks at: frames.max_frames at 2 Hz)."""
    cam = camera(harness, name)
    target = cam.count + count
    harness.wait_for(lambda: cam.count >= target, 20.0, f"{count} new frames from camera {name}")
    received(harness, name)


def ask(harness: Harness, task: str, mode: int = Goal.MODE_QUESTION, **fields) -> object:
    status, result, _ = harness.run(task, mode=mode, **fields)
    assert result.error_code == Result.NONE, f"{result.error_code}: {result.error_msg}\n{result.plan.raw_answer}"
    return result.plan


def answer(harness: Harness, task: str, cameras: list[str], **fields) -> str:
    """The parsed "answer" of a MODE_QUESTION goal through ``cameras``."""
    return ask(harness, task, cameras=cameras, **fields).answer.strip().lower()


def test_every_encoding_shows_the_model_the_same_scene(seeing):
    """rgb8, bgr8, JPEG and PNG of a red scene all answer "yes"; mono8 has no red; the blue scene "no"."""
    answers = {name: answer(seeing, vm.COLOUR_QUESTION, [name]) for name in (*ENCODED, "blue")}
    assert answers == {"rgb": "yes", "bgr": "yes", "mono": "no", "jpeg": "yes", "png": "yes", "blue": "no"}


def test_a_goal_answers_for_the_camera_it_names(seeing):
    """Two cameras, red and blue: each goal answers for the one it names, in either order."""
    assert [answer(seeing, vm.COLOUR_QUESTION, [name]) for name in ("blue", "rgb", "blue", "rgb")] == [
        "no", "yes", "no", "yes"]


def test_the_second_goal_sees_the_changed_scene(seeing):
    """Red, then the scene turns blue, then red again: each goal answers for the scene it was asked about."""
    scene = camera(seeing, "scene")
    try:
        scene.scene = still(red_scene())
        fresh_frames(seeing, "scene")
        first = answer(seeing, vm.COLOUR_QUESTION, ["scene"])
        scene.scene = still(blue_scene())
        fresh_frames(seeing, "scene")
        second = answer(seeing, vm.COLOUR_QUESTION, ["scene"])
        scene.scene = still(red_scene())
        fresh_frames(seeing, "scene")
        third = answer(seeing, vm.COLOUR_QUESTION, ["scene"])
    finally:
        scene.scene = still(red_scene())
    assert (first, second, third) == ("yes", "no", "yes")


def play(harness: Harness, frames: list[np.ndarray]) -> None:
    """Publish ``frames`` once on the 2 Hz "clip" camera, then stop it: its newest frames are exactly them."""
    cam = camera(harness, "clip")
    cam.enabled = False
    start = cam.count
    cam.scene = lambda count: frames[min(count - start, len(frames) - 1)]
    cam.enabled = True
    harness.wait_for(lambda: cam.count >= start + len(frames), 10.0, "the clip played")
    cam.enabled = False
    received(harness, "clip")


def received(harness: Harness, name: str) -> None:
    """Wait until the node has stored the newest frame camera ``name`` had published when called, or a newer
    one (DDS delivers it a moment after the publisher's counter moves)."""
    cam = camera(harness, name)
    newest = cam.sent[-1] / 1e9
    buffer = harness.node.parts.ingest.cameras[name].buffer
    harness.wait_for(lambda: (latest := buffer.latest()) is not None and latest.stamp >= newest - 1e-6, 10.0,
                     f"the node to store the newest frame of camera {name}")


def test_the_newest_frame_decides(seeing):
    """A two-frame clip, red then blue, answers "no" (the scene now); blue then red answers "yes". Frames
    handed to the model in the wrong order flip both."""
    answers = []
    for frames in ((red_scene(), blue_scene()), (blue_scene(), red_scene()), (red_scene(), blue_scene())):
        play(seeing, list(frames))
        answers.append(answer(seeing, vm.COLOUR_QUESTION, ["clip"], max_frames=2, history_seconds=0.7))
    camera(seeing, "clip").enabled = True
    assert answers == ["no", "yes", "no"]


def call(harness: Harness, kind, service: str, **fields):
    client = harness.helper.create_client(kind, f"/{harness.node.get_name()}/{service}")
    harness.wait_for(client.service_is_ready, 10.0, f"service {service}")
    future = client.call_async(kind.Request(**fields))
    harness.wait_for(future.done, 30.0, f"the {service} response")
    return future.result()


def watch_on_scene(harness: Harness, name: str, reasoning: bool) -> list:
    """A watch asking the colour question of the "scene" camera: RAISED while it shows red, CLEARED after
    clear_after answers once it shows blue. Returns its first two alerts (raised, cleared)."""
    node = harness.node.get_name()
    alerts = Collector(harness, Alert, f"/{node}/alerts", RELIABLE)
    scene = camera(harness, "scene")
    scene.scene = still(red_scene())
    fresh_frames(harness, "scene")

    def state() -> WatchState:
        response = call(harness, ListWatches, "list_watches", names=[name])
        assert response.success, response.error_msg
        return response.watches[0]

    added = call(harness, AddWatch, "add_watch", watch=Watch(name=name, question=vm.COLOUR_QUESTION,
                                                              cameras=["scene"], period=0.3, raise_after=2,
                                                              clear_after=2, reasoning=reasoning))
    assert added.success, added.error_msg
    try:
        harness.wait_for(lambda: state().state == WatchState.STATE_RAISED, 60.0, "the watch raised on red")
        scene.scene = still(blue_scene())
        harness.wait_for(lambda: state().state == WatchState.STATE_CLEARED, 60.0, "the watch cleared on blue")
    finally:
        assert call(harness, RemoveWatch, "remove_watch", name=name).success
        scene.scene = still(red_scene())
    mine = [a for a in list(alerts.messages) if a.watch == name and a.state != Alert.STATE_UNKNOWN]
    assert [a.state for a in mine[:2]] == [Alert.STATE_RAISED, Alert.STATE_CLEARED]
    raised, cleared = mine[:2]
    assert raised.answer == Alert.ANSWER_YES and raised.reason == "2 consecutive answer(s) 'yes'"
    assert cleared.answer == Alert.ANSWER_NO and cleared.reason == "2 consecutive answer(s) 'no'"
    assert [e.camera for e in cleared.evidence] == ["scene"]
    return mine[:2]


def test_a_one_token_watch_raises_on_red_and_clears_on_blue(seeing):
    """The default watch (no reasoning): the answer read from the first token's P(yes) / P(no) follows the
    pixels, and the alert says so."""
    raised, cleared = watch_on_scene(seeing, "red_glance", reasoning=False)
    assert "(one token)" in raised.explanation and "(one token)" in cleared.explanation
    assert raised.confidence > 0.5 and cleared.confidence > 0.5


def test_a_reasoning_watch_raises_on_red_and_clears_on_blue(seeing):
    """A watch with reasoning: the same alerts, carrying the model's explanations."""
    raised, cleared = watch_on_scene(seeing, "red_reasoned", reasoning=True)
    assert raised.explanation == "a red object in the newest frame"
    assert cleared.explanation == "no red object in the newest frame"
