"""What a plan says in words, for rviz and the annotated image alike: the headline per mode and outcome
(with its colour), the task line and the details under them.

Its own module so that the markers (``markers``) and the image (``annotated_image``) say the same thing and
neither imports the other for it.
"""
from __future__ import annotations

from dataclasses import dataclass

from cosmos_reason_ros.core.datatypes import Mode
from cosmos_reason_ros.msg import FeasibilityJudgment, TaskPlan

#: A colour as rviz takes it: red, green, blue in [0, 1].
RGB = tuple[float, float, float]
GREEN: RGB = (0.2, 0.85, 0.3)
RED: RGB = (0.95, 0.25, 0.2)
AMBER: RGB = (1.0, 0.75, 0.1)
ORANGE: RGB = (1.0, 0.5, 0.1)
BLUE: RGB = (0.35, 0.65, 1.0)
VIOLET: RGB = (0.8, 0.6, 1.0)
GREY: RGB = (0.8, 0.8, 0.8)

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
            text += f": {counted(len(plan.subtasks), 'step')}"
        return Headline(text, VERDICT_COLOR[judgment.verdict])
    if plan.mode == Mode.DECOMPOSE and plan.subtasks:
        return Headline(f"PLAN: {counted(len(plan.subtasks), 'step')}", BLUE)
    return Headline("NOT JUDGED", GREY)


def counted(n: int, noun: str) -> str:
    """"1 step", "3 steps": the count and its noun, plural unless one."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def task_line(plan: TaskPlan) -> str:
    """The line under the headline: what the goal asked ("task: ..." or "question: ...")."""
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
