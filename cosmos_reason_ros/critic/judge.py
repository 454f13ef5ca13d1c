"""One clip → one report record: the core Reasoner in Mode.CRITIC, whichever engine runs it.

``Judge`` owns one loaded backend (the local engine has one; the Ray engine one per actor). Every failure
of one clip (its input, the model, the parse) becomes a record with a named error code, never an exception
that ends the run; only a backend that cannot load at all stops it (``ModelLoadError``).
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode, ReasoningResult
from cosmos_reason_ros.core.errors import (
    BackendUnavailableError,
    CanceledError,
    DeadlineExceededError,
    InvalidRequestError,
    ModelError,
    ModelNotReadyError,
    OutOfMemoryError,
    ParseError,
    ReasonerError,
)
from cosmos_reason_ros.core.models.backend import ModelBackend
from cosmos_reason_ros.core.models.families import DEFAULT_MODEL
from cosmos_reason_ros.core.models.openai_request import OpenAIConfig
from cosmos_reason_ros.core.reasoner import Reasoner, SamplingOverrides, TaskRequest
from cosmos_reason_ros.critic.errors import InputError
from cosmos_reason_ros.critic.inputs import ClipSpec
from cosmos_reason_ros.critic.report import RECORD_VERSION

# Error codes of model-side failures (inputs have theirs in ``inputs``); the most specific class first.
MODEL_ERROR_CODES: tuple[tuple[type, str], ...] = (
    (ParseError, "PARSE_FAILED"), (DeadlineExceededError, "TIMEOUT"), (CanceledError, "CANCELED"),
    (OutOfMemoryError, "OUT_OF_MEMORY"), (BackendUnavailableError, "BACKEND_UNAVAILABLE"),
    (ModelNotReadyError, "MODEL_NOT_READY"), (InvalidRequestError, "INVALID_REQUEST"), (ModelError, "MODEL_ERROR"),
    (ReasonerError, "UNKNOWN"),
)
_VERDICTS = {0: "unknown", 1: "plausible", 2: "implausible"}
_SCALES = {0: "none", 1: "agreement", 2: "1-5"}


@dataclass(frozen=True)
class JudgeConfig:
    """How to reach the model and how to ask it. Picklable: the Ray engine ships it to its actors."""

    backend: str = "transformers"  # transformers | openai
    model: str = DEFAULT_MODEL
    model_family: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    base_url: str = OpenAIConfig.base_url  # the defaults of the node's openai.* parameters, written once there
    api_key_env: str = OpenAIConfig.api_key_env
    media: str = OpenAIConfig.media
    server: str = OpenAIConfig.server
    runs: int = 1  # sampled judgments per clip (N-run agreement)
    focus: str = ""  # what to pay attention to ("" = the whole clip)
    max_new_tokens: int = 2048
    temperature: float | None = None  # None = the family's default
    top_p: float | None = None
    seed: int | None = None
    timeout: float = 0.0  # s per clip; 0 = none
    accept: float | None = None  # score threshold (None: accept what is judged plausible)

    def build_backend(self) -> ModelBackend:
        if self.backend == "openai":
            from cosmos_reason_ros.core.models.openai_backend import OpenAIBackend

            return OpenAIBackend(OpenAIConfig(base_url=self.base_url, model=self.model, api_key_env=self.api_key_env,
                                              model_family=self.model_family, media=self.media, server=self.server))
        from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig

        return TransformersBackend(TransformersConfig(model=self.model, device=self.device, dtype=self.dtype,
                                                      model_family=self.model_family))


def base_record(spec: ClipSpec, config: JudgeConfig) -> dict[str, Any]:
    """The fields every record has, before the verdict."""
    return {"version": RECORD_VERSION, "key": spec.key, "source": spec.source, "kind": spec.kind,
            "topic": spec.topic, "window": [spec.start, spec.end] if spec.end > spec.start else None, "frames": 0,
            "verdict": "unknown", "accepted": False, "score": None, "scale": "none", "confidence": None,
            "runs": [], "findings": [], "explanation": "", "model": config.model, "family": "",
            "focus": config.focus, "timings": {}, "error": None, "warnings": [],
            "judged_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def error_record(spec: ClipSpec, config: JudgeConfig, code: str, message: str,
                 timings: dict[str, float] | None = None) -> dict[str, Any]:
    record = base_record(spec, config)
    record.update(error={"code": code, "message": message}, timings=timings or {})
    return record


class Judge:
    """A loaded model and the Reasoner around it; ``__call__`` judges one decoded clip."""

    def __init__(self, config: JudgeConfig, backend: ModelBackend | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.config = config
        self.cancel = cancel or threading.Event()  # set on Ctrl-C: the clip being judged stops between tokens
        self.backend = backend or config.build_backend()
        if not self.backend.ready:
            self.backend.load()  # ModelLoadError: the caller stops the run, nothing could be judged
        sampling = SamplingOverrides(temperature=config.temperature, top_p=config.top_p, seed=config.seed)
        self.reasoner = Reasoner(self.backend, sampling=sampling)

    def __call__(self, spec: ClipSpec, frames: list[Frame], decode_s: float) -> dict[str, Any]:
        started = time.monotonic()
        timings = {"decode_s": round(decode_s, 4)}
        deadline = started + self.config.timeout if self.config.timeout > 0 else None
        request = TaskRequest(task=self.config.focus, mode=Mode.CRITIC, clips=[CameraClip("video", frames)],
                              max_new_tokens=self.config.max_new_tokens, deadline=deadline, runs=self.config.runs,
                              cancel=self.cancel)
        try:
            result = self.reasoner.run(request)
        except ReasonerError as e:
            code = next(name for kind, name in MODEL_ERROR_CODES if isinstance(e, kind))
            timings.update(model_s=round(time.monotonic() - started, 4), total_s=round(decode_s + time.monotonic()
                                                                                        - started, 4))
            record = error_record(spec, self.config, code, e.message if hasattr(e, "message") else str(e), timings)
            partial = getattr(e, "partial", None)
            if isinstance(partial, ReasoningResult):
                self._fill(record, partial)
                record["verdict"], record["accepted"] = "unknown", False
            record["frames"] = len(frames)
            return record
        timings.update(model_s=round(time.monotonic() - started, 4),
                       generation_s=round(result.generation.stats.generation_time, 4),
                       total_s=round(decode_s + time.monotonic() - started, 4))
        record = base_record(spec, self.config)
        record["frames"], record["timings"] = len(frames), timings
        self._fill(record, result)
        from cosmos_reason_ros.critic.report import is_accepted
        record["accepted"] = is_accepted(record, self.config.accept)
        return record

    def _fill(self, record: dict[str, Any], result: ReasoningResult) -> None:
        critique = result.outcome.parsed.critique
        record.update(
            verdict=_VERDICTS[int(critique.plausible)], scale=_SCALES[int(critique.scale)],
            score=round(critique.score, 4) if critique.score >= 0 else None,
            confidence=round(critique.confidence, 4) if critique.confidence >= 0 else None,
            runs=[{"verdict": _VERDICTS[int(run.plausible)], "score": run.score if run.score >= 0 else None,
                   "error": run.error} for run in critique.runs],
            findings=[asdict(f) for f in critique.findings], explanation=critique.explanation,
            family=self.backend.family.name if self.backend.family else "", warnings=list(result.outcome.warnings),
            generated_tokens=result.generation.stats.generated_tokens, stop_reason=result.generation.stats.stop_reason)

    def close(self) -> None:
        self.backend.close()


def judge_spec(judge: Judge, spec: ClipSpec, settings: Any) -> dict[str, Any]:
    """Decode then judge one clip; an input that cannot be read is a record with its error code."""
    from cosmos_reason_ros.critic.inputs import decode

    started = time.monotonic()
    try:
        frames = decode(spec, settings)
    except InputError as e:
        return error_record(spec, judge.config, e.code, e.message, {"decode_s": round(time.monotonic() - started, 4)})
    except Exception as e:  # OpenCV or a codec failing in a way not foreseen: this clip only
        return error_record(spec, judge.config, "UNREADABLE_INPUT", f"{type(e).__name__}: {e}",
                            {"decode_s": round(time.monotonic() - started, 4)})
    return judge(spec, frames, time.monotonic() - started)
