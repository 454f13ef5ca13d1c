"""What every model backend offers, whether it runs the model here (transformers) or asks a server.

A backend takes a family-formatted Prompt plus sampling settings and returns the generated text with its
cost. It streams text as it is generated, and stops between decoding steps when the request's cancel
event is set or its deadline passes; it then returns what it has, with ``stop_reason`` saying why. It
raises only the package's own errors (``core.errors``).
"""
from __future__ import annotations

import abc
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

    def stop_reason(self) -> str | None:
        """"canceled" or "deadline" when generation must stop now, else None. Cheap: called every step."""
        if self.cancel.is_set():
            return "canceled"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "deadline"
        return None


ProgressCallback = Callable[[str], None]


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
