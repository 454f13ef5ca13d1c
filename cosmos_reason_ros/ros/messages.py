"""Core results → the package's ROS messages (TaskPlan, FeasibilityJudgment, CameraFrames, ...)."""
from __future__ import annotations

from typing import Optional

from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from ..core.types import CONFIDENCE_UNKNOWN, SCORE_UNKNOWN, Critique, Feasibility, GenerationStats, ReasoningResult, SeenFrames, Subtask
from ..msg import CameraFrames, CritiqueFinding, FeasibilityJudgment, GenerationStats as GenerationStatsMsg
from ..msg import Subtask as SubtaskMsg
from ..msg import Critique as CritiqueMsg
from ..msg import TaskPlan
from .grounding_msgs import located_msgs


def to_time(seconds: float, exact_ns: Optional[int] = None) -> Time:
    """Stamp → builtin_interfaces/Time: the exact nanoseconds when known, else the float seconds."""
    nanoseconds = exact_ns if exact_ns is not None else max(0, round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def _stamps(seen: SeenFrames) -> list[Time]:
    exact = seen.stamps_ns if len(seen.stamps_ns) == len(seen.stamps) else [None] * len(seen.stamps)
    return [to_time(t, ns) for t, ns in zip(seen.stamps, exact)]


def subtask_msg(step: Subtask) -> SubtaskMsg:
    return SubtaskMsg(index=step.index, action=step.action, description=step.description,
                      target_objects=list(step.target_objects), preconditions=list(step.preconditions),
                      success_criterion=step.success_criterion, feasibility_note=step.feasibility_note,
                      object_indices=list(step.object_indices))


def feasibility_msg(judgment: Feasibility, header: Header, task: str) -> FeasibilityJudgment:
    confidence = judgment.confidence if judgment.confidence != CONFIDENCE_UNKNOWN else FeasibilityJudgment.CONFIDENCE_UNKNOWN
    return FeasibilityJudgment(header=header, task=task, verdict=int(judgment.verdict), confidence=float(confidence),
                               explanation=judgment.explanation, blocking_factors=list(judgment.blocking_factors))


def critique_msg(critique: Critique) -> CritiqueMsg:
    """The critic's judgment; the core's sentinels are the message's (a test keeps them equal)."""
    return CritiqueMsg(
        verdict=int(critique.plausible), scale=int(critique.scale),
        score=float(critique.score if critique.score != SCORE_UNKNOWN else CritiqueMsg.SCORE_UNKNOWN),
        confidence=float(critique.confidence if critique.confidence != CONFIDENCE_UNKNOWN
                         else CritiqueMsg.CONFIDENCE_UNKNOWN),
        explanation=critique.explanation,
        findings=[CritiqueFinding(name=f.name, analysis=f.analysis, anomaly=bool(f.anomaly)) for f in critique.findings],
        run_verdicts=[int(run.plausible) for run in critique.runs],
        run_scores=[float(run.score) for run in critique.runs],
        run_errors=[run.error for run in critique.runs])


def stats_msg(stats: GenerationStats, total_time: float) -> GenerationStatsMsg:
    return GenerationStatsMsg(
        time_to_first_token=float(stats.time_to_first_token), generation_time=float(stats.generation_time),
        total_time=float(total_time), prompt_tokens=stats.prompt_tokens, visual_tokens=stats.visual_tokens,
        generated_tokens=stats.generated_tokens, tokens_per_second=float(stats.tokens_per_second),
        stop_reason=stats.stop_reason)


def plan_msg(result: ReasoningResult, goal_id: str, total_time: float, include_reasoning: bool) -> TaskPlan:
    """The TaskPlan for a result; the header carries the newest frame the model saw."""
    header = Header()
    newest = -1.0
    for seen in result.seen:
        if seen.stamps and seen.stamps[-1] > newest:
            newest = seen.stamps[-1]
            header = Header(stamp=_stamps(seen)[-1], frame_id=seen.frame_id)
    parsed = result.outcome.parsed
    return TaskPlan(
        header=header,
        goal_id=goal_id,
        task=result.task,
        mode=int(result.mode),
        subtasks=[subtask_msg(s) for s in parsed.subtasks],
        feasibility=feasibility_msg(parsed.feasibility, header, result.task),
        completion=int(parsed.completion),
        answer=parsed.answer,
        completeness=int(result.outcome.completeness),
        critique=critique_msg(parsed.critique),
        objects=located_msgs(result.objects),
        reasoning=result.outcome.reasoning if include_reasoning else "",
        raw_answer=result.outcome.answer_text,
        parse_warnings=list(result.frame_warnings) + list(result.outcome.warnings),  # frames first, then parsing
        cameras=[CameraFrames(camera=s.camera, frame_id=s.frame_id, stamps=_stamps(s)) for s in result.seen],
        model_id=result.model_id,
        stats=stats_msg(result.generation.stats, total_time),
    )
