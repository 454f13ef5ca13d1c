"""What engineers watch in rviz: text markers of the verdict, steps and live reasoning, and the last
camera frame with the verdict and steps drawn on it."""
from __future__ import annotations

import textwrap

import cv2
import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from ..msg import FeasibilityJudgment, TaskPlan

NAMESPACE = "cosmos_reason"
VERDICT_TEXT = {
    FeasibilityJudgment.VERDICT_UNKNOWN: "NOT JUDGED",
    FeasibilityJudgment.VERDICT_FEASIBLE: "FEASIBLE",
    FeasibilityJudgment.VERDICT_INFEASIBLE: "INFEASIBLE",
    FeasibilityJudgment.VERDICT_UNCERTAIN: "UNCERTAIN",
}
#: RGB in [0, 1] per verdict: green, red, amber, grey.
VERDICT_COLOR = {
    FeasibilityJudgment.VERDICT_FEASIBLE: (0.2, 0.85, 0.3),
    FeasibilityJudgment.VERDICT_INFEASIBLE: (0.95, 0.25, 0.2),
    FeasibilityJudgment.VERDICT_UNCERTAIN: (1.0, 0.75, 0.1),
}
GREY = (0.8, 0.8, 0.8)
#: Marker ids: one per text block, so updates replace them.
ID_VERDICT, ID_STEPS, ID_REASONING = 0, 1, 2


def verdict_line(plan: TaskPlan) -> str:
    judgment = plan.feasibility
    text = VERDICT_TEXT.get(judgment.verdict, "?")
    if judgment.confidence >= 0:
        text += f" ({judgment.confidence:.0%})"
    if plan.completion == TaskPlan.COMPLETION_DONE:
        text += " - task done"
    elif plan.completion == TaskPlan.COMPLETION_NOT_DONE:
        text += " - task not done"
    return text


def step_lines(plan: TaskPlan, limit: int = 8) -> list[str]:
    lines = [f"{s.index + 1}. {s.description or s.action}" for s in plan.subtasks[:limit]]
    if len(plan.subtasks) > limit:
        lines.append(f"... {len(plan.subtasks) - limit} more")
    if not lines and plan.answer:
        lines.append(plan.answer)
    lines.extend(f"blocked: {b}" for b in plan.feasibility.blocking_factors[:3])
    return lines


def _text_marker(header: Header, marker_id: int, text: str, z: float, color: tuple[float, float, float],
                 height: float) -> Marker:
    return Marker(header=header, ns=NAMESPACE, id=marker_id, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                  pose=Pose(position=Point(x=0.0, y=0.0, z=z), orientation=Quaternion(w=1.0)),
                  scale=Vector3(z=height), color=ColorRGBA(r=color[0], g=color[1], b=color[2], a=1.0),
                  lifetime=Duration(sec=0), text=text)


def plan_markers(plan: TaskPlan, frame_id: str) -> MarkerArray:
    """Verdict (coloured) and steps as text markers above the frame's origin."""
    header = Header(stamp=plan.header.stamp, frame_id=frame_id or plan.header.frame_id)
    color = VERDICT_COLOR.get(plan.feasibility.verdict, GREY)
    clear = Marker(header=header, ns=NAMESPACE, action=Marker.DELETEALL)
    title = f"{plan.task}\n{verdict_line(plan)}"
    return MarkerArray(markers=[
        clear,
        _text_marker(header, ID_VERDICT, title, 1.6, color, 0.12),
        _text_marker(header, ID_STEPS, "\n".join(step_lines(plan)), 1.0, GREY, 0.08),
    ])


def reasoning_marker(text: str, header: Header, width: int = 60, max_lines: int = 12) -> MarkerArray:
    """The tail of the live reasoning, wrapped, for watching the model think."""
    lines = textwrap.wrap(text.replace("\n", " "), width)[-max_lines:]
    return MarkerArray(markers=[_text_marker(header, ID_REASONING, "\n".join(lines), 0.4, (0.6, 0.8, 1.0), 0.06)])


def annotate(pixels: np.ndarray, plan: TaskPlan) -> np.ndarray:
    """The frame with a verdict banner and the steps drawn over it (RGB in, RGB out)."""
    out = np.ascontiguousarray(pixels.copy())
    h, w = out.shape[:2]
    scale = max(0.4, w / 1280.0)
    line_h = int(28 * scale) + 4
    lines = [verdict_line(plan), *step_lines(plan)]
    box_h = min(h, line_h * len(lines) + 10)
    overlay = out.copy()
    cv2.rectangle(overlay, (0, 0), (w, box_h), (0, 0, 0), -1)
    out = cv2.addWeighted(overlay, 0.55, out, 0.45, 0)
    color = tuple(int(c * 255) for c in VERDICT_COLOR.get(plan.feasibility.verdict, GREY))
    for i, line in enumerate(lines):
        y = 6 + line_h * (i + 1) - 6
        if y > box_h:
            break
        cv2.putText(out, line[:90], (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, color if i == 0 else (255, 255, 255),
                    max(1, int(2 * scale)), cv2.LINE_AA)
    return out
