"""What every model backend offers, whether it runs the model here (transformers) or asks a server.

A backend takes a family-formatted Prompt plus sampling settings and returns the generated text with its
cost. It streams text as it is generated, and stops between decoding steps when the request's cancel
event is set or its deadline passes; it then returns what it has, with ``stop_reason`` saying why. It
raises only the package's own errors (``core.errors``).
"""
from __future__ import annotations

import abc
import dataclasses
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cosmos_reason_ros.core.datatypes import GenerationOutput
from cosmos_reason_ros.core.models.families import THINK_CLOSE, ModelFamily
from cosmos_reason_ros.core.modes.prompts import Prompt


class BackendState(enum.Enum):
    """Lifecycle of a backend."""

    UNLOADED = "unloaded"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class SamplingParams:
    """Sampling for one request. temperature 0 means greedy decoding."""

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    repetition_penalty: float = 1.05
    max_new_tokens: int = 1024
    seed: int | None = None  # fixed seed for reproducible sampling; None = nondeterministic
    ignore_eos: bool = False  # generate exactly max_new_tokens (benchmarks: a fixed output length)
    presence_penalty: float = 0.0  # servers only (vLLM, NIM); the local backend has none


@dataclass
class StreamEvent:
    """Progress of a generation, delivered after each decoded token."""

    tokens: int  # tokens generated so far
    delta: str  # text added by this token (may be "" while a multi-byte character is incomplete)
    text: str  # all text generated so far
    elapsed: float  # s since the request started

    @property
    def answering(self) -> bool:
        """Whether the reasoning is over (the answer is being written)."""
        return THINK_CLOSE in self.text


def stop_reason(cancel: threading.Event, deadline: float | None) -> str | None:
    """"canceled" when ``cancel`` is set, "deadline" once ``deadline`` (a time.monotonic() value) passed, else None."""
    if cancel.is_set():
        return "canceled"
    if deadline is not None and time.monotonic() >= deadline:
        return "deadline"
    return None


@dataclass
class GenerationRequest:
    """One call to the model."""

    prompt: Prompt
    sampling: SamplingParams
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None  # time.monotonic() value after which generation stops
    on_stream: Callable[[StreamEvent], None] | None = None
    #: Sequences to sample for this prompt (the critic's N-run agreement), in one call where the backend can
    #: batch. 1 = the single streamed sequence; with more, ``on_stream`` may report only the first sequence
    #: (transformers: one event when all are done; a server: the first sequence as it streams), and
    #: ``GenerationOutput.texts`` holds them all.
    n: int = 1
    #: Servers only: ask for this many most likely alternatives of each generated token (OpenAI
    #: ``logprobs``/``top_logprobs``); 0 = none. A one-token yes/no check reads P(yes) and P(no) from them.
    top_logprobs: int = 0

    def stop_reason(self) -> str | None:
        """"canceled" or "deadline" when generation must stop now, else None. Cheap: called every step."""
        return stop_reason(self.cancel, self.deadline)


ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class YesNoRequest:
    """Several yes/no questions about the same media, each answered by one token without reasoning.

    ``prompt`` is everything the questions share (system text, camera labels and clips, the watch instruction,
    ``reasoning`` False); each question is the one text part that follows it. Sharing the prompt is what
    lets a local backend prefill the video once for all of them."""

    prompt: Prompt
    questions: tuple[str, ...]
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None

    def stop_reason(self) -> str | None:
        """"canceled" or "deadline" when the checks must stop now, else None."""
        return stop_reason(self.cancel, self.deadline)

    def prompt_for(self, index: int) -> Prompt:
        """The whole prompt of question ``index`` (the shared prompt and the question as its last part)."""
        return dataclasses.replace(self.prompt, parts=[*self.prompt.parts, self.questions[index]])


@dataclass(frozen=True)
class YesNoScore:
    """One question's answer read from the first generated token.

    ``p_yes`` / ``p_no``: the probability mass of the tokenizer's spellings of yes / no as the first token
    (from logits locally, from top logprobs on a server). Without probabilities (a server that returns no
    logprobs), the generated ``text`` decides and the one it names gets 1.0. ``tokens``: tokens generated."""

    p_yes: float
    p_no: float
    tokens: int = 1
    text: str = ""
    from_text: bool = False  # True: read from generated text, not probabilities


@dataclass
class YesNoOutput:
    """The scores of a YesNoRequest, in question order, with what they cost."""

    scores: list[YesNoScore]
    stop_reason: str | None = None  # "canceled" / "deadline" when stopped before every question was scored
    prefills: int = 0  # forward passes over the shared media (1 when the questions shared one prefill)
    prompt_tokens: int = 0  # tokens of one question's whole prompt
    visual_tokens: int = 0
    elapsed: float = 0.0  # s
    note: str = ""  # how the scores were read ("shared prefill", "separate forwards: ...", "logprobs", ...)


def first_word_answer(text: str) -> str:
    """"yes", "no" or "" from the first word of a short generated answer ("Yes." -> "yes")."""
    from cosmos_reason_ros.core.models.families import THINK_CLOSE

    tail = text.split(THINK_CLOSE)[-1].strip().lower()
    word = tail.split(maxsplit=1)[0].strip(" .,!:;\"'") if tail else ""
    return word if word in ("yes", "no") else ""


#: Tokens a text-only yes/no check may generate (a server without logprobs): "Yes", "." and an end mark.
YES_NO_TEXT_TOKENS = 4


class ModelBackend(abc.ABC):
    """A way to run a Cosmos Reason model."""

    def __init__(self) -> None:
        self.state = BackendState.UNLOADED
        self.load_error: str | None = None
        self.family: ModelFamily | None = None

    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """The model's name as users configured it (hub id, local path or served name)."""

    @property
    def ready(self) -> bool:
        return self.state is BackendState.READY

    def not_ready_message(self) -> str:
        """Why the model cannot answer now, as one sentence naming it (for ModelNotReadyError and logs)."""
        name = repr(self.model_id)
        if self.state is BackendState.FAILED:
            return f"model {name} failed to load" + (f": {self.load_error}" if self.load_error else "")
        if self.state is BackendState.LOADING:
            return f"model {name} is still loading"
        return f"model {name} is not loaded (state: {self.state.value})"

    @abc.abstractmethod
    def load(self, progress: ProgressCallback | None = None) -> None:
        """Load (or connect to) the model; raise ModelLoadError (or a subclass) on failure."""

    @abc.abstractmethod
    def generate(self, request: GenerationRequest) -> GenerationOutput:
        """Generate an answer; raise ModelError / OutOfMemoryError / BackendUnavailableError on failure."""

    def answer_yes_no(self, request: YesNoRequest) -> YesNoOutput:
        """Score each question by one generated token, without reasoning. This default generates a few
        tokens greedily per question and reads the first word (backends that see probabilities override it:
        the local one reads logits after one shared prefill, a server its top logprobs)."""
        started = time.monotonic()
        scores: list[YesNoScore] = []
        prompt_tokens = visual = 0
        for index in range(len(request.questions)):
            stopped = request.stop_reason()
            if stopped is not None:
                return YesNoOutput(scores, stopped, len(scores), prompt_tokens, visual, time.monotonic() - started)
            output = self.generate(GenerationRequest(
                prompt=request.prompt_for(index), cancel=request.cancel, deadline=request.deadline,
                sampling=SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=YES_NO_TEXT_TOKENS)))
            if output.stats.stop_reason in ("canceled", "deadline"):
                return YesNoOutput(scores, output.stats.stop_reason, len(scores) + 1, prompt_tokens, visual,
                                   time.monotonic() - started)
            word = first_word_answer(output.text)
            scores.append(YesNoScore(float(word == "yes"), float(word == "no"), output.stats.generated_tokens,
                                     output.text, from_text=True))
            prompt_tokens, visual = output.stats.prompt_tokens, output.stats.visual_tokens
        return YesNoOutput(scores, None, len(scores), prompt_tokens, visual, time.monotonic() - started,
                           "generated text, one request per question")

    @property
    def frames_as_images(self) -> bool:
        """Whether clips reach the model as separate images (each frame costs a full image's visual tokens)
        rather than as videos (two frames share one temporal patch)."""
        return False

    def memory_stats(self) -> dict[str, float]:
        """Accelerator memory in bytes ({} when not applicable)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional on purpose: a backend with nothing to release keeps it
        """Release the model: weights, connections, accelerator memory. Idempotent; ``load()`` may follow
        (a managed node unloads on deactivate and loads again on activate). The node calls it for a
        backend it built, on destroy and on deactivate, after its loader thread ended."""
