"""The skill library as parameters (``skills.names``, ``skills.<name>.*``) and a goal's planning fields
(``skills``, ``history``, ``current_plan``, ``success_criterion``) as the core's ``PlanContext``.

The grammar, the checks and the prompt text are the core's (``core.modes.skills``); this module only reads
ROS values. Skill parameters are read-only: the library is fixed at start-up; a goal extends it for itself.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from cosmos_reason_ros.core.datatypes import ArgumentType, SkillArgument, SkillStatus, Subtask
from cosmos_reason_ros.core.errors import InvalidRequestError
from cosmos_reason_ros.core.modes.skills import (
    ExecutedStep,
    PlanContext,
    SkillLibrary,
    StepOutcome,
    make_skill,
    normal_name,
)
from cosmos_reason_ros.msg import ExecutedStep as ExecutedStepMsg
from cosmos_reason_ros.msg import Skill as SkillMsg
from cosmos_reason_ros.msg import SkillArgument as SkillArgumentMsg
from cosmos_reason_ros.msg import Subtask as SubtaskMsg
from cosmos_reason_ros.ros.node.parameters import ParamSpec

#: Per-skill parameters ``skills.<name>.<field>`` (lists: [""] = none, as ROS cannot type an empty list).
SKILL_FIELDS: tuple[ParamSpec, ...] = (
    ParamSpec("description", "", "What the skill does, shown to the model.", True),
    ParamSpec("arguments", [""], "Typed arguments, one per entry: '<name>: object', '<name>: location', "
              "'<name>: number [unit] [low..high]' or '<name>: choice a|b|c' ('?' after the name: optional).", True),
    ParamSpec("preconditions", [""], "Conditions that must hold before the skill runs, shown to the model.", True),
    ParamSpec("synonyms", [""], "Other names the model may use for the skill (mapped, with a parse warning).", True),
)


def declare_skill_parameters(node: Node) -> SkillLibrary:
    """Declare ``skills.names`` and every named skill's fields; the library they declare. A malformed skill
    stops the node at start-up (ValueError naming it), as a malformed camera does."""
    names = node.declare_parameter("skills.names", [""], ParameterDescriptor(
        description="The robot's skills; [''] = none (plans are free text). Each reads skills.<name>.description, "
                    ".arguments, .preconditions and .synonyms (README 'Plans in the robot's skills').",
        read_only=True)).value
    skills = []
    for name in [n for n in names if n]:
        values: dict[str, Any] = {field.name: node.declare_parameter(f"skills.{name}.{field.name}", field.default,
                                                                     field.descriptor()).value
                                  for field in SKILL_FIELDS}
        try:
            skills.append(make_skill(name, **values))
        except InvalidRequestError as e:
            raise ValueError(f"parameter skills.{name}: {e.message}") from e
    try:
        return SkillLibrary(tuple(skills))
    except InvalidRequestError as e:
        raise ValueError(f"parameters skills.*: {e.message}") from e


def subtask_from_msg(msg: Any) -> Subtask:
    """A Subtask message (a history entry's step, a current-plan step) as the core's step."""
    arguments = [SkillArgument(a.name, ArgumentType(a.type) if a.type in tuple(ArgumentType) else ArgumentType.UNKNOWN,
                               a.text, a.number, a.unit) for a in msg.arguments]
    written = {a.name: a.number if a.type == ArgumentType.NUMBER else a.text for a in msg.arguments}
    status = SkillStatus(msg.skill_status) if msg.skill_status in tuple(SkillStatus) else SkillStatus.NOT_CHECKED
    return Subtask(index=msg.index, description=msg.description, action=msg.action,
                   target_objects=list(msg.target_objects), preconditions=list(msg.preconditions),
                   success_criterion=msg.success_criterion, feasibility_note=msg.feasibility_note,
                   skill=msg.skill, skill_written=msg.skill_written or msg.skill, arguments=arguments,
                   written_arguments=written, skill_status=status, skill_problem=msg.skill_problem)


def plan_context(goal: Any, library: SkillLibrary) -> PlanContext:
    """The goal's planning fields with the node's library (extended by the goal's skills); InvalidRequestError
    for a malformed skill or a history outcome that is neither SUCCEEDED nor FAILED. Where each field applies
    is checked by the core (``Reasoner.validate_context``)."""
    extra = [make_skill(s.name, s.description, s.arguments, s.preconditions, s.synonyms) for s in goal.skills]
    skills = library.extended(extra) if extra else library
    history = []
    for number, entry in enumerate(goal.history):
        if entry.outcome not in tuple(StepOutcome):
            raise InvalidRequestError(f"history[{number}].outcome {entry.outcome} is not OUTCOME_SUCCEEDED (1) or "
                                      "OUTCOME_FAILED (2)")
        history.append(ExecutedStep(subtask_from_msg(entry.step), StepOutcome(entry.outcome), entry.reason.strip()))
    return PlanContext(skills=skills, history=tuple(history),
                       current_plan=tuple(subtask_from_msg(s) for s in goal.current_plan),
                       success_criterion=goal.success_criterion.strip())


def skill_msgs(library: SkillLibrary) -> list[Any]:
    """A library as goal ``skills`` (Skill messages), arguments written back in the declaration grammar."""
    return [SkillMsg(name=s.name, description=s.description, arguments=[a.grammar() for a in s.arguments],
                     preconditions=list(s.preconditions), synonyms=list(s.synonyms)) for s in library.skills]


_OUTCOME_WORDS = {"succeeded": StepOutcome.SUCCEEDED, "success": StepOutcome.SUCCEEDED,
                  "failed": StepOutcome.FAILED, "failure": StepOutcome.FAILED}


def executed_step_msgs(entries: Any) -> list[Any]:
    """Executed steps written as plain data (a YAML list: ``skill``, ``arguments``, ``description``,
    ``outcome`` succeeded|failed, ``reason``) as goal ``history`` (ExecutedStep messages)."""
    if not isinstance(entries, list):
        raise InvalidRequestError("a history is a list of executed steps")
    steps = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidRequestError(f"history[{number}]: expected a mapping, got {type(entry).__name__}")
        unknown = set(entry) - {"skill", "arguments", "description", "outcome", "reason"}
        outcome = _OUTCOME_WORDS.get(str(entry.get("outcome", "")).strip().lower())
        arguments = entry.get("arguments") or {}
        if unknown or outcome is None or not isinstance(arguments, dict):
            raise InvalidRequestError(f"history[{number}]: needs outcome succeeded or failed, arguments as a mapping, "
                                      f"and no other keys than skill, arguments, description, reason (got {entry})")
        typed = [SkillArgumentMsg(name=str(k), type=SkillArgumentMsg.TYPE_NUMBER, number=float(v), text=str(v))
                 if isinstance(v, (int, float)) and not isinstance(v, bool)
                 else SkillArgumentMsg(name=str(k), text=str(v)) for k, v in arguments.items()]
        step = SubtaskMsg(index=number, skill=normal_name(entry.get("skill", "")), description=str(
            entry.get("description", "")), arguments=typed)
        steps.append(ExecutedStepMsg(step=step, outcome=int(outcome), reason=str(entry.get("reason", "") or "")))
    return steps
