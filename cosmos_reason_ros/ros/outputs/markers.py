"""What engineers watch in rviz: what the node concluded, per mode, as text markers and on the camera image.

One headline per mode and outcome, each with its own colour (FEASIBLE / INFEASIBLE / UNCERTAIN, DONE /
NOT DONE, NEXT: <action>, the answer to a question), then the task and the details. While a goal runs, the
markers show what it is working on and its reasoning so far (the text inside ``<think>``, tags and answer
JSON left out); a new goal replaces the previous result at once.

Every MarkerArray starts with a DELETEALL and holds the whole picture, so the last message alone is the
current state: ``~/markers`` and ``~/annotated_image`` are published reliable, transient local, depth 1
(``qos.LATCHED``), and an rviz started late shows the last result. A volatile or best-effort subscriber
(rviz's defaults) matches such a publisher too; only the reverse (a transient-local subscriber of a
volatile publisher) is incompatible. The image itself is drawn in ``annotated_image``.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from cosmos_reason_ros.core.datatypes import Mode, Stage
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan

NAMESPACE = "cosmos_reason"
#: Marker ids: one per text block, so each message replaces the previous one's blocks.
ID_HEADLINE, ID_BODY, ID_REASONING = 0, 1, 2

RGB = tuple[float, float, float]
GREEN: RGB = (0.2, 0.85, 0.3)
RED: RGB = (0.95, 0.25, 0.2)
AMBER: RGB = (1.0, 0.75, 0.1)
ORANGE: RGB = (1.0, 0.5, 0.1)
BLUE: RGB = (0.35, 0.65, 1.0)
VIOLET: RGB = (0.8, 0.6, 1.0)
GREY: RGB = (0.8, 0.8, 0.8)
WORKING: RGB = (0.55, 0.8, 1.0)
BODY: RGB = (0.92, 0.92, 0.92)

VERDICT_TEXT = {
    FeasibilityJudgment.VERDICT_FEASIBLE: "FEASIBLE",
    FeasibilityJudgment.VERDICT_INFEASIBLE: "INFEASIBLE",
    FeasibilityJudgment.VERDICT_UNCERTAIN: "UNCERTAIN",
}
#: RGB in [0, 1] per verdict.
VERDICT_COLOR = {
    FeasibilityJudgment.VERDICT_FEASIBLE: GREEN,
    FeasibilityJudgment.VERDICT_INFEASIBLE: RED,
    FeasibilityJudgment.VERDICT_UNCERTAIN: AMBER,
}
MAX_STEPS = 8  # steps listed in the markers (the image lists as many as fit)
MARKER_WIDTH = 60  # characters per marker text line
MARKER_HEIGHT, HEADLINE_HEIGHT = 0.07, 0.12  # m, text height of body lines and of the headline
REASONING_LINES = 12  # lines of live reasoning shown (its tail)


@dataclass(frozen=True)
class Headline:
    """The one-line conclusion of a plan and its colour (RGB in [0, 1])."""

    text: str
    color: RGB


def headline(plan: TaskPlan) -> Headline:
    """What the node concluded, in the words of the goal's mode."""
    judgment = plan.feasibility
    if plan.mode == Mode.VERIFY_COMPLETION:
        if plan.completion == TaskPlan.COMPLETION_DONE:
            return Headline("DONE", GREEN)
        if plan.completion == TaskPlan.COMPLETION_NOT_DONE:
            return Headline("NOT DONE", ORANGE)
        return Headline("DONE? NOT JUDGED", GREY)
    if plan.mode == Mode.NEXT_ACTION:
        step = plan.subtasks[0] if plan.subtasks else None
        action = (step.description or step.action) if step is not None else plan.answer
        return Headline(f"NEXT: {action or 'no action given'}", BLUE)
    if plan.mode == Mode.QUESTION:
        return Headline(plan.answer or "NO ANSWER", VIOLET if plan.answer else GREY)
    if plan.mode == Mode.LOCATE:
        names = ", ".join(o.label for o in plan.objects)
        return Headline(f"LOCATED: {names}" if names else "NOT FOUND", BLUE if names else GREY)
    if judgment.verdict in VERDICT_TEXT:
        text = VERDICT_TEXT[judgment.verdict]
        if judgment.confidence >= 0:
            text += f" ({judgment.confidence:.0%})"
        if plan.mode == Mode.DECOMPOSE and plan.subtasks:
            text += f": {_count(len(plan.subtasks), 'step')}"
        return Headline(text, VERDICT_COLOR[judgment.verdict])
    if plan.mode == Mode.DECOMPOSE and plan.subtasks:
        return Headline(f"PLAN: {_count(len(plan.subtasks), 'step')}", BLUE)
    return Headline("NOT JUDGED", GREY)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def task_line(plan: TaskPlan) -> str:
    return f"{'question' if plan.mode == Mode.QUESTION else 'task'}: {plan.task}"


def body_lines(plan: TaskPlan, max_steps: int = 0) -> list[str]:
    """The details under the headline, one entry per paragraph (unwrapped); ``max_steps`` 0 = all steps."""
    judgment, lines = plan.feasibility, []
    if plan.mode == Mode.DECOMPOSE:
        steps = plan.subtasks if max_steps <= 0 else plan.subtasks[:max_steps]
        lines += [f"{s.index + 1}. {s.description or s.action}" for s in steps]
        if len(plan.subtasks) > len(steps):
            lines.append(f"... {len(plan.subtasks) - len(steps)} more")
        if not plan.subtasks and plan.answer:
            lines.append(plan.answer)
    elif plan.mode == Mode.NEXT_ACTION and plan.subtasks:
        step = plan.subtasks[0]
        if step.target_objects:
            lines.append(f"objects: {', '.join(step.target_objects)}")
        if step.success_criterion:
            lines.append(f"done when: {step.success_criterion}")
    elif plan.mode == Mode.VERIFY_COMPLETION:
        lines.append(plan.answer or judgment.explanation)
    elif plan.mode == Mode.LOCATE:
        lines.append(plan.answer)
    if plan.mode == Mode.FEASIBILITY:
        lines.append(judgment.explanation or plan.answer)
    elif plan.mode == Mode.DECOMPOSE and judgment.explanation:
        lines.append(f"why: {judgment.explanation}")
    lines += [f"blocked: {b}" for b in judgment.blocking_factors[:3]]
    return [line for line in lines if line]


def clean_reasoning(text: str) -> tuple[str, bool]:
    """The reasoning written so far, without tags, and whether it is finished (``</think>`` seen).

    Only the text before ``</think>`` is reasoning; what follows is the answer (JSON), which the result shows.
    """
    head, closed, _ = text.partition("</think>")
    head = re.sub(r"<[^<>]*$", "", head)  # a tag still being streamed
    head = re.sub(r"</?[A-Za-z_][\w-]*(\s[^<>]*)?>", " ", head)  # <think>, <answer>, <overview>, ...
    return " ".join(head.split()), bool(closed)


def wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def _text_marker(header: Header, marker_id: int, text: str, z: float, color: RGB, height: float) -> Marker:
    return Marker(header=header, ns=NAMESPACE, id=marker_id, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                  pose=Pose(position=Point(x=0.0, y=0.0, z=z), orientation=Quaternion(w=1.0)),
                  scale=Vector3(z=height), color=ColorRGBA(r=color[0], g=color[1], b=color[2], a=1.0),
                  lifetime=Duration(sec=0), text=text)


def _stack(header: Header, blocks: list[tuple[int, list[str], RGB, float]], top: float = 1.8) -> MarkerArray:
    """DELETEALL, then text blocks stacked downwards from ``top`` (a multi-line text is centred on its pose)."""
    markers = [Marker(header=header, ns=NAMESPACE, action=Marker.DELETEALL)]
    z = top
    for marker_id, lines, color, height in blocks:
        if not lines:
            continue
        span = len(lines) * height * 1.2
        markers.append(_text_marker(header, marker_id, "\n".join(lines), z - span / 2, color, height))
        z -= span + height
    return MarkerArray(markers=markers)


def plan_markers(plan: TaskPlan, frame_id: str) -> MarkerArray:
    """The result: headline (its colour), then the task and the details, above the frame's origin."""
    header = Header(stamp=plan.header.stamp, frame_id=frame_id or plan.header.frame_id)
    title = headline(plan)
    details = [line for paragraph in [task_line(plan), *body_lines(plan, MAX_STEPS)]
               for line in wrap(paragraph, MARKER_WIDTH)]
    markers = _stack(header, [(ID_HEADLINE, wrap(title.text, int(MARKER_WIDTH * MARKER_HEIGHT / HEADLINE_HEIGHT)),
                               title.color, HEADLINE_HEIGHT),
                              (ID_BODY, details, GREY, MARKER_HEIGHT)])
    from cosmos_reason_ros.ros.outputs.object_drawing import object_markers

    markers.markers += object_markers(plan.objects, NAMESPACE)  # 3D points of located objects, in their frames
    return markers


def live_markers(text: str, header: Header, task: str = "", mode: int = 0, stage: int = -1,
                 tokens: int = 0, ended: bool = False) -> MarkerArray:
    """A goal in progress: what it works on, its stage, and the tail of its reasoning, wrapped. ``ended``:
    the goal stopped there (a successful one's plan markers follow at once; a failed one's result says why)."""
    try:
        doing = Stage(stage).name.lower().replace("_", " ")
    except ValueError:
        doing = "working"
    reasoning, finished = clean_reasoning(text)
    state = (f"ENDED during {doing}: see the goal's result" if ended else
             f"WORKING: {doing}" + (f" ({_count(tokens, 'token')})" if tokens else ""))
    lines = wrap(reasoning, MARKER_WIDTH)[-REASONING_LINES:] if reasoning else []
    if finished:
        lines.append("(reasoning done; writing the answer)")
    label = "question" if mode == Mode.QUESTION else "task"
    return _stack(header, [(ID_HEADLINE, wrap(state, MARKER_WIDTH), GREY if ended else WORKING, HEADLINE_HEIGHT),
                           (ID_BODY, wrap(f"{label}: {task}", MARKER_WIDTH) if task else [], GREY, MARKER_HEIGHT),
                           (ID_REASONING, lines, WORKING, MARKER_HEIGHT * 0.85)])


def reasoning_marker(text: Any, header: Header) -> MarkerArray:
    """Live markers for the feedback's text; the goal's task, mode, stage and tokens when the text carries
    them (``goal_feedback.LiveText``), else the reasoning alone."""
    return live_markers(str(text), header, task=getattr(text, "task", ""), mode=getattr(text, "mode", 0),
                        stage=getattr(text, "stage", -1), tokens=getattr(text, "tokens", 0),
                        ended=getattr(text, "ended", False))


def annotate(plan: TaskPlan, views: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """The annotated image (RGB) of ``plan`` over the newest frame of each camera: (name, RGB pixels) pairs."""
    from cosmos_reason_ros.ros.outputs.annotated_image import render

    return render(plan, views)
