"""Plain data types shared by the core and the ROS shell.

Enum values equal the constants of the package's ROS interfaces (``ReasonAboutTask.Goal.MODE_*``,
``FeasibilityJudgment.VERDICT_*``, ``TaskPlan.COMPLETION_*``), so the shell converts by value; a test
checks that they stay equal.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np


class Mode(enum.IntEnum):
    """What the model is asked to do with the task text."""

    DECOMPOSE = 0  # ordered, checkable subtasks plus a feasibility verdict
    FEASIBILITY = 1  # can this be done physically, and what blocks it
    NEXT_ACTION = 2  # the next immediate action toward the task
    VERIFY_COMPLETION = 3  # has the task been completed in the video
    QUESTION = 4  # free question about the scene
    CRITIC = 5  # judge the physical plausibility of the video (task: optional focus; empty = the whole clip)
    LOCATE = 6  # locate the objects the task names: a box and/or point per object (ParsedAnswer.objects)
    WATCH = 7  # a standing watch's yes/no question about the scene now (watches only; goals refuse it)


class Stage(enum.IntEnum):
    """Where a request is (values equal ReasonAboutTask feedback STAGE_*)."""

    QUEUED = 0
    WAITING_FOR_MODEL = 1
    WAITING_FOR_FRAMES = 2
    ENCODING = 3
    THINKING = 4
    ANSWERING = 5


class Verdict(enum.IntEnum):
    """Feasibility verdict."""

    UNKNOWN = 0  # not judged, or unparseable
    FEASIBLE = 1
    INFEASIBLE = 2
    UNCERTAIN = 3


class Completion(enum.IntEnum):
    """Task-completion judgment (Mode.VERIFY_COMPLETION)."""

    UNKNOWN = 0
    DONE = 1
    NOT_DONE = 2


class Completeness(enum.IntEnum):
    """Whether a plan holds the model's whole answer (values equal TaskPlan COMPLETENESS_*)."""

    NONE = 0  # no answer was recovered: the plan's content fields are empty
    COMPLETE = 1  # the model finished its answer: every element it wrote is there, whole
    PARTIAL = 2  # salvaged from a cut-off answer: every element present is whole, but the rest is missing


#: Sentinel for "the model gave no usable confidence" (matches FeasibilityJudgment.CONFIDENCE_UNKNOWN).
CONFIDENCE_UNKNOWN = -1.0


class ArgumentType(enum.IntEnum):
    """The type of a skill argument (values equal SkillArgument TYPE_*)."""

    UNKNOWN = 0  # not checked against a skill (no library, or the step's skill is unknown)
    OBJECT = 1  # an object in the scene, in words ("red cup")
    LOCATION = 2  # a place in the scene, in words ("tray", "left of the sink")
    NUMBER = 3  # a number in the argument's unit, within its range
    CHOICE = 4  # one of the argument's listed values


@dataclass
class SkillArgument:
    """One argument of a step's skill: ``text`` for objects, locations and choices (and a number as written),
    ``number`` for numbers (0.0 otherwise), in ``unit``."""

    name: str
    type: ArgumentType = ArgumentType.UNKNOWN
    text: str = ""
    number: float = 0.0
    unit: str = ""


class SkillStatus(enum.IntEnum):
    """Whether a step can be dispatched to a declared skill (values equal Subtask SKILL_*)."""

    NOT_CHECKED = 0  # no skill library for this request: the step is free text, as without skills
    OK = 1  # a declared skill (named, or mapped from a synonym or near-miss) with valid arguments
    UNKNOWN = 2  # no declared skill, synonym or unambiguous near-miss matches the step
    INVALID_ARGUMENTS = 3  # a declared skill, but an argument is missing, mistyped, out of range or not listed


class Dispatch(enum.IntEnum):
    """Whether a plan can be handed to an executor as it stands (values equal TaskPlan DISPATCH_*)."""

    NOT_CHECKED = 0  # no skill library, or no steps to check
    READY = 1  # every step is SkillStatus.OK and the answer was complete
    BLOCKED = 2  # a step is not OK, or the plan was cut off (dispatch_problem says which and why)


@dataclass
class Subtask:
    """One step of a plan. Strings are the model's words, trimmed; empty when not given."""

    index: int
    description: str
    action: str = ""
    target_objects: list[str] = field(default_factory=list)
    preconditions: list[str] = field(default_factory=list)
    success_criterion: str = ""
    feasibility_note: str = ""
    object_indices: list[int] = field(default_factory=list)  # per target: index into the located objects, or -1
    skill: str = ""  # the declared skill the step maps to ("" when not checked or unknown)
    skill_written: str = ""  # the skill name as the model wrote it ("" when it wrote none)
    arguments: list[SkillArgument] = field(default_factory=list)  # checked, typed arguments (declared order)
    written_arguments: dict = field(default_factory=dict)  # the model's "arguments" object, as parsed (JSON values)
    skill_status: SkillStatus = SkillStatus.NOT_CHECKED
    skill_problem: str = ""  # why the step is not dispatchable ("" when it is, or when not checked)


#: Subtask.object_indices value of a target the model did not locate (matches Subtask.OBJECT_NOT_LOCATED).
OBJECT_NOT_LOCATED = -1


@dataclass
class ModelLocation:
    """One object as the model located it, in the MODEL's coordinates (see ``core.grounding``): Reason2 0-1000
    normalised per axis, Reason1 pixels of the image as resized for the model; origin top-left, y down.

    ``box`` is (x1, y1, x2, y2) with x1 < x2 and y1 < y2 (swapped corners already repaired), ``point`` (x, y);
    at least one of them is set. ``camera`` is the camera the model named ("" = not said); ``frame`` the index
    it named within that camera's clip (-1 = not said: the newest frame).
    """

    label: str
    box: tuple[float, float, float, float] | None = None
    point: tuple[float, float] | None = None
    confidence: float = CONFIDENCE_UNKNOWN
    camera: str = ""
    frame: int = -1


@dataclass
class Feasibility:
    """A feasibility judgment. ``confidence`` is in [0, 1] or CONFIDENCE_UNKNOWN."""

    verdict: Verdict = Verdict.UNKNOWN
    confidence: float = CONFIDENCE_UNKNOWN
    explanation: str = ""
    blocking_factors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.confidence
        valid = isinstance(c, (int, float)) and not isinstance(c, bool) and not math.isnan(c) and 0.0 <= c <= 1.0
        if not valid:
            self.confidence = CONFIDENCE_UNKNOWN


class Plausibility(enum.IntEnum):
    """The critic's verdict on a clip (values equal Critique VERDICT_*)."""

    UNKNOWN = 0  # not judged: another mode, or no run's answer could be parsed
    PLAUSIBLE = 1  # no anomaly or artifact found (by most runs)
    IMPLAUSIBLE = 2  # an anomaly or artifact found (by half the runs or more)


class CritiqueScale(enum.IntEnum):
    """What a critique's ``score`` measures (values equal Critique SCALE_*)."""

    NONE = 0  # no score
    AGREEMENT = 1  # Reason1 recipe: fraction of runs without anomaly, in [0, 1]
    ONE_TO_FIVE = 2  # Reason2 recipe: mean of the runs' integer plausibility scores, in [1, 5]


#: Sentinel for "no score" (matches Critique.SCORE_UNKNOWN).
SCORE_UNKNOWN = -1.0


@dataclass
class CritiqueFinding:
    """One component the critic analysed ("the cup", "the gripper's motion"), and whether it is anomalous."""

    name: str
    analysis: str = ""
    anomaly: bool = False


@dataclass
class CritiqueRun:
    """One judgment of a clip (one sampled generation)."""

    plausible: Plausibility = Plausibility.UNKNOWN
    score: float = SCORE_UNKNOWN  # this run's integer score (ONE_TO_FIVE), or SCORE_UNKNOWN
    error: str = ""  # why this run gave no verdict ("" when it did)


@dataclass
class Critique:
    """The critic's judgment of one clip, over one or more runs (N-run agreement).

    ``confidence`` is the fraction of judged runs that found no anomaly (the recipe's agreement score),
    CONFIDENCE_UNKNOWN when no run was judged. ``findings`` are those of the first judged run.
    """

    plausible: Plausibility = Plausibility.UNKNOWN
    scale: CritiqueScale = CritiqueScale.NONE
    score: float = SCORE_UNKNOWN
    confidence: float = CONFIDENCE_UNKNOWN
    findings: list[CritiqueFinding] = field(default_factory=list)
    runs: list[CritiqueRun] = field(default_factory=list)
    explanation: str = ""


class Observed(enum.IntEnum):
    """A watch question's answer (Mode.WATCH; values equal Alert/WatchState ANSWER_*)."""

    UNKNOWN = 0  # not answered, or unparseable
    YES = 1
    NO = 2
    UNCERTAIN = 3  # the model said it cannot tell (the watch then is UNKNOWN, never "no alert")


@dataclass
class Observation:
    """What the model said to a watch's yes/no question."""

    answer: Observed = Observed.UNKNOWN
    confidence: float = CONFIDENCE_UNKNOWN
    explanation: str = ""


@dataclass
class ParsedAnswer:
    """The structured content of an answer, whatever the mode asked for.

    Fields a mode does not use keep their defaults (empty list, UNKNOWN verdict/completion).
    """

    subtasks: list[Subtask] = field(default_factory=list)
    feasibility: Feasibility = field(default_factory=Feasibility)
    completion: Completion = Completion.UNKNOWN
    answer: str = ""
    critique: Critique = field(default_factory=Critique)  # Mode.CRITIC only
    objects: list[ModelLocation] = field(default_factory=list)  # Mode.LOCATE, or plan targets when grounded
    observation: Observation = field(default_factory=Observation)  # Mode.WATCH only
    dispatch: Dispatch = Dispatch.NOT_CHECKED  # DECOMPOSE / NEXT_ACTION with a skill library
    dispatch_problem: str = ""  # why the plan is BLOCKED ("" otherwise)


@dataclass
class ParseOutcome:
    """Result of parsing one model output.

    ``ok`` is False when the answer is not usable as it stands; then ``error`` says why. ``parsed`` is the
    empty default, except for a truncated answer: then it holds the salvaged partial plan (only elements
    the model finished) and ``completeness`` is PARTIAL. ``ok`` with PARTIAL happens only when the caller
    opted in to accept salvaged plans. ``warnings`` lists every repair made (e.g. "closed truncated JSON").
    """

    reasoning: str
    answer_text: str
    parsed: ParsedAnswer
    ok: bool = True
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    completeness: Completeness = Completeness.COMPLETE
    truncated: bool = False  # the output was cut off (stop reason max_tokens/deadline, or unclosed JSON)


@dataclass
class Frame:
    """One decoded camera image: ``pixels`` is H×W×3 uint8 RGB; ``stamp`` in seconds (sensor time).

    ``stamp_ns`` keeps the exact integer stamp when the source has one (a float cannot hold today's
    epoch times to the nanosecond), so reports name frames by their exact header stamps.
    """

    pixels: np.ndarray
    stamp: float
    stamp_ns: int | None = None
    #: Source-image px per px of ``pixels``: > 1 when the frame was decoded at a reduced size (a JPEG decode
    #: reduction); locations are mapped back to the camera's own image with it.
    source_scale: float = 1.0


@dataclass
class CameraClip:
    """The frames of one camera chosen for a request, oldest first."""

    camera: str
    frames: list[Frame]
    frame_id: str = ""
    warnings: list[str] = field(default_factory=list)  # what the frame choice fell short of (fewer frames, and why)


@dataclass
class SeenFrames:
    """Which frames of one camera the model actually saw (after budgeting), by their own stamps (s)."""

    camera: str
    stamps: list[float]
    frame_id: str = ""
    stamps_ns: list[int | None] = field(default_factory=list)  # exact stamps where known


@dataclass
class GenerationStats:
    """Cost of one model call; times are wall-clock seconds."""

    time_to_first_token: float = -1.0
    generation_time: float = 0.0
    prompt_tokens: int = 0
    visual_tokens: int = 0
    generated_tokens: int = 0
    tokens_per_second: float = 0.0
    stop_reason: str = ""  # "eos", "max_tokens", "canceled", "deadline" or "error"


@dataclass
class GenerationOutput:
    """The raw text a backend generated, with its cost.

    ``texts`` holds every sequence of a request for several (``GenerationRequest.n`` > 1), ``text`` being
    the first, and ``stop_reasons`` each one's stop reason; for a single sequence both are empty
    (``sequences`` then gives ``[(text, stats.stop_reason)]``).
    """

    text: str
    stats: GenerationStats
    texts: list[str] = field(default_factory=list)
    stop_reasons: list[str] = field(default_factory=list)

    @property
    def sequences(self) -> list[tuple[str, str]]:
        """(text, stop reason) of every generated sequence, in order."""
        if not self.texts:
            return [(self.text, self.stats.stop_reason)]
        reasons = (self.stop_reasons if len(self.stop_reasons) == len(self.texts)
                   else [self.stats.stop_reason] * len(self.texts))
        return list(zip(self.texts, reasons, strict=True))


@dataclass
class ReasoningResult:
    """Everything the core concluded about one request."""

    mode: Mode
    task: str
    outcome: ParseOutcome
    generation: GenerationOutput
    seen: list[SeenFrames]
    model_id: str
    prompt_text: str | None = None
    frame_warnings: list[str] = field(default_factory=list)  # fewer frames than asked, and why; merged cameras
    objects: list = field(default_factory=list)  # core.grounding.ImageLocation per located object (source pixels)
