"""Core results → the package's ROS messages (TaskPlan, FeasibilityJudgment, CameraFrames, LocatedObject, ...),
located objects → vision_msgs' Detection2DArray where vision_msgs is installed, and ROS time ↔ seconds.

The one place where stamps are converted (``to_time``, ``seconds``, ``now_seconds``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, PointStamped
from std_msgs.msg import Header

from cosmos_reason_ros.core.datatypes import (
    CONFIDENCE_UNKNOWN,
    SCORE_UNKNOWN,
    Critique,
    Feasibility,
    GenerationStats,
    ReasoningResult,
    SeenFrames,
    Subtask,
)
from cosmos_reason_ros.core.grounding.coordinates import ImageLocation
from cosmos_reason_ros.msg import (
    CameraFrames,
    CritiqueFinding,
    FeasibilityJudgment,
    LocatedObject,
    SkillArgument,
    TaskPlan,
)
from cosmos_reason_ros.msg import Critique as CritiqueMsg
from cosmos_reason_ros.msg import GenerationStats as GenerationStatsMsg
from cosmos_reason_ros.msg import Subtask as SubtaskMsg


def to_time(seconds: float, exact_ns: int | None = None) -> Time:
    """Stamp → builtin_interfaces/Time: the exact nanoseconds when known, else the float seconds."""
    nanoseconds = exact_ns if exact_ns is not None else max(0, round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def seconds(stamp: Any) -> float:
    """builtin_interfaces/Time (or anything with ``sec`` and ``nanosec``) → float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time → integer nanoseconds (exact)."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def now_seconds(node: Any) -> float:
    """The node's clock now (ROS time: simulated time when ``use_sim_time`` is set), in seconds."""
    return node.get_clock().now().nanoseconds * 1e-9


def frame_stamps(seen: SeenFrames) -> list[Time]:
    """The stamps of the frames a model saw, exact to the nanosecond where the core kept them."""
    exact = seen.stamps_ns if len(seen.stamps_ns) == len(seen.stamps) else [None] * len(seen.stamps)
    return [to_time(t, ns) for t, ns in zip(seen.stamps, exact, strict=True)]


def seen_msgs(seen: Sequence[SeenFrames], header: Header) -> tuple[Header, list[CameraFrames]]:
    """The frames a model saw, per camera, and the header of the newest of them (``header`` when it saw
    none): what a plan and an alert both carry as their evidence."""
    cameras, newest = [], -1.0
    for frames in seen:
        stamps = frame_stamps(frames)
        cameras.append(CameraFrames(camera=frames.camera, frame_id=frames.frame_id, stamps=stamps))
        if frames.stamps and frames.stamps[-1] > newest:
            newest, header = frames.stamps[-1], Header(stamp=stamps[-1], frame_id=frames.frame_id)
    return header, cameras


def subtask_msg(step: Subtask) -> SubtaskMsg:
    """One step; the skill fields keep their defaults when no library checked it."""
    return SubtaskMsg(index=step.index, action=step.action, description=step.description,
                      target_objects=list(step.target_objects), preconditions=list(step.preconditions),
                      success_criterion=step.success_criterion, feasibility_note=step.feasibility_note,
                      object_indices=list(step.object_indices), skill=step.skill, skill_written=step.skill_written,
                      arguments=[SkillArgument(name=a.name, type=int(a.type), text=a.text, number=float(a.number),
                                               unit=a.unit) for a in step.arguments],
                      skill_status=int(step.skill_status), skill_problem=step.skill_problem)


def feasibility_msg(judgment: Feasibility, header: Header, task: str) -> FeasibilityJudgment:
    confidence = (judgment.confidence if judgment.confidence != CONFIDENCE_UNKNOWN
                  else FeasibilityJudgment.CONFIDENCE_UNKNOWN)
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
        findings=[CritiqueFinding(name=f.name, analysis=f.analysis, anomaly=bool(f.anomaly))
                  for f in critique.findings],
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
    header, cameras = seen_msgs(result.seen, Header())
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
        dispatch=int(parsed.dispatch),
        dispatch_problem=parsed.dispatch_problem,
        critique=critique_msg(parsed.critique),
        objects=located_msgs(result.objects),
        reasoning=result.outcome.reasoning if include_reasoning else "",
        raw_answer=result.outcome.answer_text,
        parse_warnings=list(result.frame_warnings) + list(result.outcome.warnings),  # frames first, then parsing
        cameras=cameras,
        model_id=result.model_id,
        stats=stats_msg(result.generation.stats, total_time),
    )


# ----------------------------------------------------------------------------- located objects
def located_msg(obj: ImageLocation, index: int) -> LocatedObject:
    """One located object; unset box, point or position keep zeros with their has_* flag false."""
    confidence = obj.confidence if obj.confidence != CONFIDENCE_UNKNOWN else LocatedObject.CONFIDENCE_UNKNOWN
    msg = LocatedObject(header=Header(stamp=to_time(obj.stamp, obj.stamp_ns), frame_id=obj.frame_id),
                        id=f"{obj.camera}/{index}", label=obj.label, camera=obj.camera, frame_index=obj.frame_index,
                        image_width=obj.image_width, image_height=obj.image_height, class_id=obj.label,
                        score=float(confidence), confidence=float(confidence))
    if obj.box is not None:
        x1, y1, x2, y2 = obj.box
        msg.has_box = True
        msg.bbox_center_x, msg.bbox_center_y = (x1 + x2) / 2, (y1 + y2) / 2
        msg.bbox_size_x, msg.bbox_size_y = x2 - x1, y2 - y1
    if obj.point is not None:
        msg.has_point, msg.point_x, msg.point_y = True, float(obj.point[0]), float(obj.point[1])
    if obj.position is not None:
        msg.has_position = True
        header = Header(stamp=to_time(0.0, obj.position_stamp_ns), frame_id=obj.position_frame_id)
        msg.position = PointStamped(header=header, point=Point(x=obj.position[0], y=obj.position[1], z=obj.position[2]))
    msg.position_status = obj.position_status
    return msg


def located_msgs(objects: Sequence[ImageLocation]) -> list[LocatedObject]:
    return [located_msg(obj, i) for i, obj in enumerate(objects)]


def detection_type() -> Any | None:
    """vision_msgs/Detection2DArray, or None where vision_msgs is not installed (it is not a dependency)."""
    try:
        from vision_msgs.msg import Detection2DArray
    except ImportError:
        return None
    return Detection2DArray


def detections(plan: TaskPlan) -> Any:
    """The plan's boxed objects as a vision_msgs/Detection2DArray (header: the plan's)."""
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    array = Detection2DArray(header=plan.header)
    for obj in plan.objects:
        if not obj.has_box:
            continue
        detection = Detection2D(header=obj.header, id=obj.id)
        center = detection.bbox.center
        if hasattr(center, "position"):  # vision_msgs 4 (Humble and later): Pose2D with a position
            center.position.x, center.position.y = obj.bbox_center_x, obj.bbox_center_y
        else:
            center.x, center.y = obj.bbox_center_x, obj.bbox_center_y
        center.theta = obj.bbox_theta
        detection.bbox.size_x, detection.bbox.size_y = obj.bbox_size_x, obj.bbox_size_y
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = obj.class_id, obj.score
        if obj.has_position:
            hypothesis.pose.pose.position = obj.position.point
        detection.results.append(hypothesis)
        array.detections.append(detection)
    return array
