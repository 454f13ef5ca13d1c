"""What a person sees: the headline per mode and outcome (text and colour), the annotated image (text
wrapped inside it, a font that scales, several cameras tiled and named) and the markers (a new goal
replaces the last result, clean live reasoning), checked on rendered pixels and real messages."""
from __future__ import annotations

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from cosmos_reason_ros.msg import FeasibilityJudgment, Subtask, TaskPlan
from cosmos_reason_ros.ros.goals.feedback import LiveView
from cosmos_reason_ros.ros.outputs import annotated_image, plan_text
from cosmos_reason_ros.ros.outputs import markers as visualization

F = FeasibilityJudgment
LONG = ("grasp the red cup by its handle with the two-finger gripper, keeping it upright so that the water does "
        "not spill, then lift it five centimetres clear of the table before moving")


def make_plan(mode: int, verdict: int = F.VERDICT_UNKNOWN, confidence: float = -1.0, completion: int = 0,
              answer: str = "", steps: tuple[str, ...] = (), task: str = "put the red cup on the tray",
              blocking: tuple[str, ...] = ()) -> TaskPlan:
    plan = TaskPlan(task=task, mode=mode, completion=completion, answer=answer, model_id="/models/tiny")
    plan.feasibility = F(verdict=verdict, confidence=confidence, blocking_factors=list(blocking))
    plan.subtasks = [Subtask(index=i, action=s.split()[0], description=s, target_objects=["red cup"],
                             success_criterion="the cup is lifted") for i, s in enumerate(steps)]
    return plan


CASES = {
    "feasible": (make_plan(1, F.VERDICT_FEASIBLE, 0.9), "FEASIBLE (90%)", plan_text.GREEN),
    "infeasible": (make_plan(1, F.VERDICT_INFEASIBLE, 0.8, blocking=("closed door",)), "INFEASIBLE (80%)",
                   plan_text.RED),
    "uncertain": (make_plan(1, F.VERDICT_UNCERTAIN), "UNCERTAIN", plan_text.AMBER),
    "plan": (make_plan(0, F.VERDICT_FEASIBLE, 0.9, steps=("pick up the red cup", "place it on the tray")),
             "FEASIBLE (90%): 2 steps", plan_text.GREEN),
    "done": (make_plan(3, completion=TaskPlan.COMPLETION_DONE, answer="it rests on the tray"), "DONE",
             plan_text.GREEN),
    "not done": (make_plan(3, completion=TaskPlan.COMPLETION_NOT_DONE, answer="still on the table"), "NOT DONE",
                 plan_text.ORANGE),
    "next": (make_plan(2, steps=("pick up the red cup",)), "NEXT: pick up the red cup", plan_text.BLUE),
    "question": (make_plan(4, answer="The cup is red.", task="what colour is the cup?"), "The cup is red.",
                 plan_text.VIOLET),
}


def scene(width: int, height: int, value: int = 120) -> np.ndarray:
    frame = np.full((height, width, 3), value, np.uint8)
    frame[height // 3: height // 2, width // 4: width // 3] = (220, 40, 40)
    return frame


@pytest.mark.parametrize("name", list(CASES))
def test_headline_per_mode_and_outcome(name):
    plan, text, color = CASES[name]
    title = plan_text.headline(plan)
    assert (title.text, title.color) == (text, color)


def test_outcomes_that_differ_look_different():
    colors = {name: plan_text.headline(plan).color for name, (plan, _, _) in CASES.items()}
    assert colors["done"] != colors["not done"]
    assert len({colors["feasible"], colors["infeasible"], colors["uncertain"]}) == 3
    assert len({colors["next"], colors["question"], colors["feasible"], colors["not done"]}) == 4


def _near(pixels: np.ndarray, rgb: tuple[float, float, float], tolerance: int = 30) -> np.ndarray:
    target = np.array([round(c * 255) for c in rgb], np.int16)
    return np.all(np.abs(pixels.astype(np.int16) - target) <= tolerance, axis=-1)


@pytest.mark.parametrize("name", ["feasible", "infeasible", "done", "not done", "next", "question"])
@pytest.mark.parametrize("size", [(320, 240), (1920, 1080)])
def test_image_headline_is_drawn_in_its_colour(name, size):
    plan, _, color = CASES[name]
    width, height = size
    image = visualization.annotate(plan, [("front", scene(width, height))])
    assert image.shape[1] == width and image.shape[0] > height  # the frame, then the panel under it
    lines, _ = annotated_image.layout(plan, width)
    top, bottom = height + lines[0].y, height + lines[0].y + lines[0].height
    band = image[top:bottom + 1]
    assert _near(band, color).mean() > 0.01  # the headline's ink (measured: 3-12 % of its band)
    others = {plan_text.headline(p).color for p, _, _ in CASES.values()} - {color}
    assert all(_near(band, other, 10).sum() == 0 for other in others)  # in no other outcome's colour
    rest = image[height + lines[1].y:]
    assert _near(rest, color, 10).sum() < 0.2 * _near(band, color, 10).sum()  # only the headline has it
    assert np.array_equal(image[height // 2, width // 2], scene(width, height)[height // 2, width // 2])


@pytest.mark.parametrize("width", [320, 640, 1280, 1920])
def test_text_lines_fit_the_image_and_nothing_is_cut(width):
    plan = make_plan(0, F.VERDICT_FEASIBLE, 0.9, steps=(LONG, "x" * 300, "place it on the tray"),
                     task="bring me a cold glass of water from the fridge in the kitchen, " * 3)
    lines, panel_height = annotated_image.layout(plan, width, footer="cameras: front, wrist")
    for line in lines:
        assert line.x >= 0 and line.x + line.width <= width, (line.text, line.width, width)
        assert 0 <= line.y and line.y + line.height <= panel_height
    drawn = " ".join(line.text for line in lines)
    assert " ".join(LONG.split()) in drawn  # wrapped, every word kept
    assert "x" * 300 in drawn.replace(" ", "")  # a word wider than the image is split, not dropped
    tops = [line.y for line in lines]
    assert tops == sorted(tops) and len(set(tops)) == len(tops)  # one line under the other, no overlap


def test_font_scales_with_the_image():
    small, large = annotated_image.text_height(320), annotated_image.text_height(1920)
    assert small >= 12 and large >= 3 * small
    plan = CASES["not done"][0]
    assert annotated_image.layout(plan, 1920)[0][0].height > 2.5 * annotated_image.layout(plan, 320)[0][0].height


def test_long_details_end_with_a_count_not_a_cut():
    plan = make_plan(0, F.VERDICT_FEASIBLE, steps=tuple(f"step number {i} of a long plan" for i in range(40)))
    lines, _ = annotated_image.layout(plan, 320)
    assert lines[-1].text.startswith("... ") and "more lines" in lines[-1].text


def test_several_cameras_are_tiled_and_named():
    plan = CASES["plan"][0]
    front, wrist = scene(640, 480, 100), scene(320, 240, 200)
    image = visualization.annotate(plan, [("front", front), ("wrist", wrist)])
    assert image.shape[1] == 320 + 320  # a common height, the smaller frame's: the front frame scaled to 320x240
    assert image[120, 160 + 100].tolist() != image[120, 320 + 100].tolist()  # two different frames side by side
    label = annotated_image.PANEL_RGB
    assert image[2, 2].tolist() == list(label) and image[2, 322].tolist() == list(label)  # a name box on each
    assert (image[5:15, 322:360] > 200).any()  # the name's light text in the wrist box
    assert visualization.annotate(plan, [("a", scene(1920, 1080)), ("b", scene(1920, 1080))]).shape[1] == 1920


def test_clean_reasoning_drops_tags_and_the_answer():
    text = "<think>\nThe red cup stands <b>upright</b>\n on the table.\n</think>\n<answer>\n{\"subtasks\": []}"
    reasoning, finished = visualization.clean_reasoning(text)
    assert reasoning == "The red cup stands upright on the table." and finished
    assert visualization.clean_reasoning("<think>\nThe cup is</th") == ("The cup is", False)


def test_live_markers_supersede_the_result_with_clean_wrapped_reasoning():
    text = LiveView.of("<think>\n" + "the cup is near the tray and the gripper is open; " * 10, _Request(), 4, 57)
    markers = visualization.reasoning_marker(text, Header(frame_id="map")).markers
    assert markers[0].action == Marker.DELETEALL  # the previous goal's verdict and steps go
    by_id = {m.id: m for m in markers[1:]}
    assert by_id[visualization.ID_HEADLINE].text == "WORKING: thinking (57 tokens)"
    assert by_id[visualization.ID_BODY].text == "task: bring me the red cup"
    reasoning = by_id[visualization.ID_REASONING].text.splitlines()
    assert 1 < len(reasoning) <= visualization.REASONING_LINES
    assert all(len(line) <= visualization.MARKER_WIDTH for line in reasoning)
    assert not any("<" in m.text or "{" in m.text for m in markers[1:])
    heights = [m.pose.position.z for m in markers[1:]]
    assert heights == sorted(heights, reverse=True)  # headline on top, then task, then reasoning


def test_live_markers_during_the_answer_and_after_the_end():
    answering = LiveView.of("<think>ok</think>\n<answer>{\"a\": 1}", _Request(), 5, 9)
    texts = [m.text for m in visualization.reasoning_marker(answering, Header()).markers]
    assert "(reasoning done; writing the answer)" in texts[-1] and "{" not in "".join(texts)
    ended = LiveView.of("", _Request(), 2, 0, ended=True)
    headline = visualization.reasoning_marker(ended, Header()).markers[1]
    assert headline.text == "ENDED during waiting for frames: see the goal's result"


def test_plan_markers_per_mode_colour_and_wrapping():
    for _name, (plan, text, color) in CASES.items():
        markers = visualization.plan_markers(plan, "cosmos_reasoner").markers
        assert markers[0].action == Marker.DELETEALL
        head = markers[1]
        assert head.id == visualization.ID_HEADLINE and head.text.replace("\n", " ") == text
        assert (head.color.r, head.color.g, head.color.b) == pytest.approx(color)
        assert all(len(line) <= visualization.MARKER_WIDTH for line in markers[2].text.splitlines())
        assert visualization.ID_REASONING not in [m.id for m in markers]


class _Request:
    task = "bring me the red cup"
    mode = 0
