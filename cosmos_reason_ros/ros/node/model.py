"""The model part: the backend the settings ask for, loaded on a thread of its own and released on deactivate.

Settings → backend (local transformers or a remote server): each backend config field is the parameter
``<prefix>.<field>`` (``local.`` or ``openai.``), except
``model`` and ``model_family``, which are top-level: the mapping is by name, so a config field without a
parameter fails here at once instead of silently keeping a default of its own.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus

from cosmos_reason_ros.core.errors import BackendUnavailableError, ReasonerError
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.core.frames.video import VideoBudget
from cosmos_reason_ros.core.models.backend import ModelBackend
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.core.reasoner import Reasoner, ReasonerLimits, SamplingOverrides
from cosmos_reason_ros.ros.node import diagnostics
from cosmos_reason_ros.ros.node.parameters import Settings

TOP_LEVEL_FIELDS = ("model", "model_family")


def config_from_settings(config_type: type, prefix: str, s: Any) -> Any:
    """Build ``config_type`` from the settings fields ``<prefix>_<field>`` (top-level ones as they are)."""
    values = {}
    for f in dataclasses.fields(config_type):
        name = f.name if f.name in TOP_LEVEL_FIELDS else f"{prefix}_{f.name}"
        values[f.name] = getattr(s, name)
    return config_type(**values)


def make_backend(s: Any) -> ModelBackend:
    """Build (not load) the backend; loading happens on the node's loader thread."""
    if s.backend == "openai":
        from cosmos_reason_ros.core.models.openai_backend import OpenAIBackend, OpenAIConfig

        return OpenAIBackend(config_from_settings(OpenAIConfig, "openai", s))
    return TransformersBackend(config_from_settings(TransformersConfig, "local", s))


#: s to wait for a loading model on deactivate (a load in progress cannot be interrupted; the loader closes
#: the backend itself when it finishes later).
LOADER_JOIN_TIMEOUT = 2.0


def make_reasoner(backend: ModelBackend, s: Settings, frame_cache: FrameCache | None = None) -> Reasoner:
    """The core pipeline with the current dynamic settings (cheap: plain dataclasses), for goals and watches;
    ``frame_cache``: the cameras' cache of prepared frames, shared by every goal and check."""
    pick = lambda value: None if value < 0 else value  # noqa: E731  (-1 = family default)
    return Reasoner(
        backend,
        VideoBudget(max_visual_tokens=s.video_max_visual_tokens, max_frame_pixels=s.video_max_frame_pixels,
                    min_frame_pixels=min(s.video_min_frame_pixels, s.video_max_frame_pixels),
                    timestamp_overlay=s.video_timestamp_overlay),
        SamplingOverrides(temperature=pick(s.generation_temperature), top_p=pick(s.generation_top_p),
                          top_k=pick(s.generation_top_k), repetition_penalty=pick(s.generation_repetition_penalty),
                          seed=pick(s.generation_seed)),
        ReasonerLimits(max_task_chars=s.max_task_chars),
        accept_partial=s.accept_partial_answers,
        frame_cache=frame_cache,
    )


class ModelPart:
    """Owns the backend: built at configure (or handed in), loaded at activate, released at deactivate.

    A backend handed in by the caller (tests, benchmarks) is the caller's to close; one built here is
    closed here. Loading runs on a thread so the node is up, and answering MODEL_NOT_READY, at once.
    """

    def __init__(self, logger: Any, frame_cache: Callable[[], FrameCache | None] = lambda: None) -> None:
        self._log = logger
        self._frame_cache = frame_cache  # the cameras part's cache of prepared frames (None while unconfigured)
        self._backend: ModelBackend | None = None
        self._owns_backend = False
        self._loader: threading.Thread | None = None
        self._closing = threading.Event()
        self.load_seconds: float | None = None
        self._retry_period = 0.0

    def configure(self, s: Settings, backend: ModelBackend | None = None, owned: bool | None = None) -> None:
        """Build the backend from ``s`` unless one is given; ``owned``: whether this part closes it (default:
        only when it built it)."""
        self._backend = backend if backend is not None else make_backend(s)
        self._owns_backend = backend is None if owned is None else owned
        self._retry_period = s.model_load_retry_period

    def activate(self) -> None:
        self._closing.clear()
        self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._loader.start()

    def deactivate(self) -> None:
        """Stop the loader (joined, bounded) and close the backend if this part built it."""
        self._closing.set()
        if self._loader is not None and self._loader is not threading.current_thread():
            self._loader.join(timeout=LOADER_JOIN_TIMEOUT)
        if self._owns_backend and self._backend is not None:
            self._backend.close()
        self.load_seconds = None

    def cleanup(self) -> None:
        if self._owns_backend:
            self._backend = None

    @property
    def backend(self) -> ModelBackend | None:
        """The backend of the current configuration (None when unconfigured)."""
        return self._backend

    @property
    def loading(self) -> bool:
        """True while the loader thread runs."""
        return self._loader is not None and self._loader.is_alive()

    def reasoner(self, s: Settings) -> Reasoner:
        """The core pipeline on this backend with the settings ``s``."""
        if self._backend is None:
            raise RuntimeError("the model part is not configured")
        return make_reasoner(self._backend, s, self._frame_cache())

    def status(self, prefix: str, backend_kind: str) -> DiagnosticStatus:
        return diagnostics.model_status(prefix, self._backend, backend_kind, self.load_seconds)

    def _load(self) -> None:
        """Load on the loader thread; a model server that is not up yet is retried every period."""
        started = time.monotonic()
        log, backend, period = self._log, self._backend, self._retry_period
        if backend is None:
            return
        while not self._closing.is_set():
            try:
                backend.load(progress=lambda message: log.info(f"model: {message}"))
                break
            except BackendUnavailableError as e:
                if period <= 0:
                    log.error(f"model {backend.model_id!r} failed to load: {e.message}")
                    return
                log.warning(f"model {backend.model_id!r} not reachable, retrying in {period:.1f} s: {e.message}")
                if self._closing.wait(period):
                    return
            except ReasonerError as e:
                log.error(f"model {backend.model_id!r} failed to load: {e.message}")
                return
            except Exception as e:  # a bug: say so with the traceback; the node keeps serving (MODEL_NOT_READY)
                log.error(f"model {backend.model_id!r} failed to load unexpectedly: {type(e).__name__}: {e}\n"
                          f"{traceback.format_exc().rstrip()}")
                return
        if self._closing.is_set():  # torn down while loading: release what the load just took
            if self._owns_backend:
                backend.close()
            return
        self.load_seconds = time.monotonic() - started
        log.info(f"model {backend.model_id!r} ready in {self.load_seconds:.1f} s")

