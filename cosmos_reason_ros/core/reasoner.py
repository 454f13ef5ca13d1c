"""The reasoning pipeline without ROS: validate → prepare video → prompt → generate → parse.

``Reasoner.run`` is what the node's action callback calls on its worker thread. It reports progress
through a callback, honours a cancel event and a deadline between decoding steps, and fails only with
the package's error types; failures that still produced text (cancel, deadline, unparseable answer)
carry a ``ReasoningResult`` in the error's ``partial`` so callers can return what the model said.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import CameraClip, Mode, ReasoningResult, SeenFrames, Stage
from cosmos_reason_ros.core.errors import (
    CanceledError,
    DeadlineExceededError,
    InvalidRequestError,
    ModelNotReadyError,
    ParseError,
)
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.grounding.coordinates import ground_outcome
from cosmos_reason_ros.core.models.backend import GenerationRequest, ModelBackend, SamplingParams, StreamEvent
from cosmos_reason_ros.core.models.families import ModelFamily
from cosmos_reason_ros.core.modes.plausibility import combine_runs
from cosmos_reason_ros.core.modes.prompts import GROUNDABLE, build_prompt
from cosmos_reason_ros.core.modes.skills import NO_CONTEXT, PlanContext, validate_context
from cosmos_reason_ros.core.text_safety import has_visible_text, sanitize_text


@dataclass(frozen=True)
class SamplingOverrides:
    """Sampling settings that replace the family's defaults; None keeps the family's value."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None

    def apply(self, family: ModelFamily, max_new_tokens: int) -> SamplingParams:
        base = family.sampling
        pick = lambda value, default: default if value is None else value  # noqa: E731
        return SamplingParams(
            temperature=pick(self.temperature, base.temperature),
            top_p=pick(self.top_p, base.top_p),
            top_k=pick(self.top_k, base.top_k),
            repetition_penalty=pick(self.repetition_penalty, base.repetition_penalty),
            max_new_tokens=max_new_tokens,
            seed=self.seed,
            presence_penalty=base.presence_penalty,
        )


@dataclass(frozen=True)
class ReasonerLimits:
    """Bounds on what a request may ask for (anything outside is INVALID_GOAL)."""

    max_task_chars: int = 2000
    max_new_tokens: int = 16384  # an absurd token budget beyond this is refused, not clamped
    max_critic_runs: int = 16  # Mode.CRITIC: most runs (sampled judgments) one request may ask for


@dataclass
class Progress:
    """A progress report: the stage and, while generating, the text so far."""

    stage: Stage
    tokens: int = 0
    delta: str = ""
    text: str = ""
    elapsed: float = 0.0


ProgressCallback = Callable[[Progress], None]


@dataclass
class TaskRequest:
    """One task for the model, with the frames already chosen per camera."""

    task: str
    mode: Mode
    clips: Sequence[CameraClip]
    max_new_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None  # time.monotonic() value
    on_progress: ProgressCallback | None = None
    runs: int = 1  # Mode.CRITIC: judge the clip this many times (sampled), one batched call; 0 = 1
    ground_targets: bool = False  # DECOMPOSE / NEXT_ACTION: locate the steps' target objects too
    #: Skill library, history and current plan (DECOMPOSE / NEXT_ACTION), a step's criterion (VERIFY_COMPLETION).
    context: PlanContext = NO_CONTEXT


def clean_task_text(task: str, max_chars: int, allow_empty: bool = False) -> str:
    """Collapse whitespace and control characters and remove invisible ones (zero-width, bidi controls), as
    the prompt will; check emptiness and length. A task that shows nothing is empty (refused unless
    ``allow_empty``: the critic's task only names a focus)."""
    if not isinstance(task, str):
        raise InvalidRequestError("task must be a string")
    cleaned = sanitize_text(task)
    if not has_visible_text(cleaned) and allow_empty:
        return ""
    if not has_visible_text(cleaned):
        raise InvalidRequestError("task is empty (nothing visible once whitespace, control and invisible "
                                  "characters are removed)")
    if len(cleaned) > max_chars:
        raise InvalidRequestError(f"task is {len(cleaned)} characters; the limit is {max_chars}")
    return cleaned


class Reasoner:
    """Turns a task and camera clips into a parsed ReasoningResult using a ModelBackend."""

    def __init__(self, backend: ModelBackend, budget: VideoBudget = VideoBudget(),
                 sampling: SamplingOverrides = SamplingOverrides(), limits: ReasonerLimits = ReasonerLimits(),
                 accept_partial: bool = False, frame_cache: FrameCache | None = None) -> None:
        self.backend = backend
        #: Resized frames shared by goals and watch checks (the node's cameras part owns it); None = resize anew.
        self.frame_cache = frame_cache
        self.budget = budget
        self.sampling = sampling
        self.limits = limits
        #: Opt-in: a truncated answer whose finished part has what the mode needs succeeds, marked
        #: Completeness.PARTIAL. Off by default: a truncated answer is a ParseError with the partial plan.
        self.accept_partial = accept_partial

    def validate(self, task: str, mode: int, max_new_tokens: int) -> tuple[str, Mode]:
        """Check a request's own fields (no frames or model needed); return the cleaned task and mode."""
        try:
            mode_value = Mode(mode)
        except ValueError as e:
            raise InvalidRequestError(f"unknown mode {mode}; valid modes are 0..{max(Mode)}") from e
        cleaned = clean_task_text(task, self.limits.max_task_chars, allow_empty=mode_value is Mode.CRITIC)
        if not 1 <= max_new_tokens <= self.limits.max_new_tokens:
            raise InvalidRequestError(
                f"max_new_tokens {max_new_tokens} is outside 1..{self.limits.max_new_tokens}"
            )
        return cleaned, mode_value

    def validate_runs(self, runs: int, mode: Mode) -> int:
        """The number of sampled runs (0 = 1); more than one only for the critic."""
        runs = int(runs or 1)
        if runs > 1 and mode is not Mode.CRITIC:
            raise InvalidRequestError(f"critic_runs {runs} is only for MODE_CRITIC (mode {mode.name} runs once)")
        if not 1 <= runs <= self.limits.max_critic_runs:
            raise InvalidRequestError(f"critic_runs {runs} is outside 0..{self.limits.max_critic_runs}")
        return runs

    def validate_ground_targets(self, ground_targets: bool, mode: Mode) -> bool:
        """ground_targets only where steps have targets (MODE_LOCATE always locates)."""
        if ground_targets and mode not in GROUNDABLE:
            raise InvalidRequestError(f"ground_targets is only for MODE_DECOMPOSE and MODE_NEXT_ACTION (mode "
                                      f"{mode.name}{' always locates' if mode is Mode.LOCATE else ' has no targets'})")
        return bool(ground_targets)

    def validate_context(self, context: PlanContext, mode: Mode) -> PlanContext:
        """History, current plan and a step's criterion only where they apply, within the text limit."""
        return validate_context(context, mode, self.limits.max_task_chars)

    def run(self, request: TaskRequest) -> ReasoningResult:
        task, mode = self.validate(request.task, request.mode, request.max_new_tokens)
        runs = self.validate_runs(request.runs, mode)
        ground_targets = self.validate_ground_targets(request.ground_targets, mode)
        context = self.validate_context(request.context, mode)
        if not self.backend.ready or self.backend.family is None:
            raise ModelNotReadyError(self.backend.not_ready_message())
        family = self.backend.family
        started = time.monotonic()
        report = request.on_progress or (lambda progress: None)
        report(Progress(Stage.ENCODING, elapsed=0.0))
        # Frames sent as separate images cost a full image each: budget them that way.
        geometry = dataclasses.replace(family, temporal_patch_size=1) if self.backend.frames_as_images else family
        prepared = prepare_clips(request.clips, geometry, self.budget, cache=self.frame_cache)
        # The backend's own control tokens (its tokenizer's specials) are neutralised in user text too.
        prompt = build_prompt(family, mode, task, prepared, reserved=getattr(self.backend, "control_tokens", ()),
                              ground_targets=ground_targets, context=context)

        def on_stream(event: StreamEvent) -> None:
            stage = Stage.ANSWERING if event.answering else Stage.THINKING
            report(Progress(stage, event.tokens, event.delta, event.text, time.monotonic() - started))

        generation = self.backend.generate(GenerationRequest(
            prompt=prompt,
            sampling=self.sampling.apply(family, request.max_new_tokens),
            cancel=request.cancel,
            deadline=request.deadline,
            on_stream=on_stream,
            n=runs,
        ))
        stats = generation.stats
        outcomes = [parse_output(text, family, mode, stop_reason=stop, generated_tokens=stats.generated_tokens,
                                 max_new_tokens=request.max_new_tokens, accept_partial=self.accept_partial,
                                 context=context)
                    for text, stop in generation.sequences]
        outcome = outcomes[0] if mode is not Mode.CRITIC else combine_runs(outcomes)
        objects = ground_outcome(outcome, prepared, family, mode, ground_targets)
        seen = [SeenFrames(c.camera, list(c.source_stamps), c.frame_id, list(c.source_stamps_ns)) for c in prepared]
        frame_warnings = [w for c in request.clips for w in c.warnings]
        frame_warnings += [f"camera {c.camera}: {note}" for c in prepared for note in c.notes]
        result = ReasoningResult(mode=mode, task=task, outcome=outcome, generation=generation,
                                 seen=seen, model_id=self.backend.model_id,
                                 prompt_text=prompt.user_text(), frame_warnings=frame_warnings, objects=objects)
        stop = generation.stats.stop_reason
        if stop == "canceled":
            raise CanceledError(f"canceled after {generation.stats.generated_tokens} tokens", partial=result)
        if stop == "deadline":
            raise DeadlineExceededError(
                f"deadline passed after {generation.stats.generated_tokens} tokens "
                f"({time.monotonic() - started:.2f} s)", partial=result)
        if not outcome.ok:
            detail = outcome.error or "unparseable answer"
            if stop == "max_tokens" and "max_new_tokens=" not in detail:
                detail += f" (generation hit max_new_tokens={request.max_new_tokens}; raise it for longer reasoning)"
            raise ParseError(detail, raw=generation.text, partial=result)
        return result
