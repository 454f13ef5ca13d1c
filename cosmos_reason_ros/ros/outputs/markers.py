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
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from cosmos_reason_ros.core.datatypes import Mode
from cosmos_reason_ros.core.names import stage_name
from cosmos_reason_ros.msg import TaskPlan
from cosmos_reason_ros.ros.goals.feedback import LiveView
from cosmos_reason_ros.ros.outputs.annotated_image import render
from cosmos_reason_ros.ros.outputs.object_drawing import object_markers
from cosmos_reason_ros.ros.outputs.plan_text import GREY, RGB, body_lines, counted, headline, task_line

NAMESPACE = "cosmos_reason"
#: Marker ids: one per text block, so each message replaces the previous one's blocks.
ID_HEADLINE, ID_BODY, ID_REASONING = 0, 1, 2
WORKING: RGB = (0.55, 0.8, 1.0)  # the colour of a goal in progress
MAX_STEPS = 8  # steps listed in the markers (the image lists as many as fit)
MARKER_WIDTH = 60  # characters per marker text line
MARKER_HEIGHT, HEADLINE_HEIGHT = 0.07, 0.12  # m, text height of body lines and of the headline
REASONING_LINES = 12  # lines of live reasoning shown (its tail)


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
    markers.markers += object_markers(plan.objects, NAMESPACE)  # 3D points of located objects, in their frames
    return markers


def live_markers(text: str, header: Header, task: str = "", mode: int = 0, stage: int = -1,
                 tokens: int = 0, ended: bool = False) -> MarkerArray:
    """A goal in progress: what it works on, its stage, and the tail of its reasoning, wrapped. ``ended``:
    the goal stopped there (a successful one's plan markers follow at once; a failed one's result says why)."""
    doing = stage_name(stage, unknown="working")
    reasoning, finished = clean_reasoning(text)
    state = (f"ENDED during {doing}: see the goal's result" if ended else
             f"WORKING: {doing}" + (f" ({counted(tokens, 'token')})" if tokens else ""))
    lines = wrap(reasoning, MARKER_WIDTH)[-REASONING_LINES:] if reasoning else []
    if finished:
        lines.append("(reasoning done; writing the answer)")
    label = "question" if mode == Mode.QUESTION else "task"
    return _stack(header, [(ID_HEADLINE, wrap(state, MARKER_WIDTH), GREY if ended else WORKING, HEADLINE_HEIGHT),
                           (ID_BODY, wrap(f"{label}: {task}", MARKER_WIDTH) if task else [], GREY, MARKER_HEIGHT),
                           (ID_REASONING, lines, WORKING, MARKER_HEIGHT * 0.85)])


def reasoning_marker(view: LiveView, header: Header) -> MarkerArray:
    """Live markers for a running goal: its reasoning so far, task, mode, stage and tokens."""
    return live_markers(view.text, header, task=view.task, mode=view.mode, stage=view.stage, tokens=view.tokens,
                        ended=view.ended)


def annotate(plan: TaskPlan, views: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """The annotated image (RGB) of ``plan`` over the newest frame of each camera: (name, RGB pixels) pairs."""
    return render(plan, views)
