"""Test doubles that inject faults into the REAL backend (the model itself still runs).

Each double is named for the fault it causes; none replaces the model's output with canned text.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import torch

from cosmos_reason_ros.core.models.backend import ProgressCallback
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig


class HungLoadBackend(TransformersBackend):
    """Fault: model loading hangs until ``release`` is set (a slow disk, a stuck download)."""

    def __init__(self, config: TransformersConfig) -> None:
        super().__init__(config)
        self.release = threading.Event()

    def load(self, progress: ProgressCallback | None = None) -> None:
        from cosmos_reason_ros.core.models.backend import BackendState

        self.state = BackendState.LOADING
        self.release.wait()
        super().load(progress)


class FailingGenerate:
    """Fault: the real model's ``generate`` raises ``error_factory()`` for the next ``times`` calls."""

    def __init__(self, backend: TransformersBackend, error_factory: Callable[[], BaseException],
                 times: int = 1) -> None:
        self._model = backend._model
        self._original = self._model.generate
        self._error_factory = error_factory
        self.remaining = times
        self.raised = 0
        self._model.generate = self._generate  # type: ignore[method-assign]

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        if self.remaining > 0:
            self.remaining -= 1
            self.raised += 1
            raise self._error_factory()
        return self._original(*args, **kwargs)

    def remove(self) -> None:
        self._model.generate = self._original  # type: ignore[method-assign]


def out_of_memory() -> BaseException:
    """What CUDA raises when an allocation fails."""
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fault injected by the test)")


class GarbageOutput:
    """Fault: the backend's real generation runs (tokens, stop reason and timing are the model's), but the
    text it returns is replaced by ``garbage`` for the next ``times`` calls: a model answering nonsense,
    independent of what random weights happen to emit."""

    def __init__(self, backend: TransformersBackend, garbage: str, times: int = 1) -> None:
        self._backend = backend
        self._original = backend.generate
        self.garbage = garbage
        self.remaining = times
        self.replaced = 0
        backend.generate = self._generate  # type: ignore[method-assign]

    def _generate(self, request: Any) -> Any:
        output = self._original(request)
        if self.remaining > 0:
            self.remaining -= 1
            self.replaced += 1
            output.text = self.garbage
        return output

    def remove(self) -> None:
        del self._backend.generate  # the instance attribute: the class's method shows through again


class ScriptedWatchAnswers:
    """Fault: the backend's real generation runs for every watch check (Mode.WATCH prompts), but the text it
    returns is replaced by the next scripted answer for that check's question (``script[question]``; once
    those are used up, ``defaults[question]``; for a question in neither, the model's own text is kept): a
    model whose yes/no answers follow a script (flapping, a run of yes, garbage). Goals are left alone.

    ``hold`` names questions whose checks are held before generating, until the check is canceled or the
    question leaves ``hold``: a check that takes long, so a test can have a goal arrive while it runs. A held
    check then runs the real model, which sees the cancel at its first decoding step."""

    def __init__(self, backend: TransformersBackend, script: dict | None = None,
                 defaults: dict | None = None) -> None:
        self._backend = backend
        self._original = backend.generate
        self.script = {q: list(a) for q, a in (script or {}).items()}
        self.defaults = dict(defaults or {})
        self.hold: set[str] = set()
        self.holding = threading.Event()  # set while a check is held
        self.calls: dict[str, int] = {}  # watch generations per question
        self.lock = threading.Lock()
        backend.generate = self._generate  # type: ignore[method-assign]

    def _question(self, request: Any) -> str | None:
        from cosmos_reason_ros.core.datatypes import Mode

        if getattr(request.prompt, "mode", None) is not Mode.WATCH:
            return None
        text = request.prompt.user_text()
        known = [*self.script, *self.defaults, *self.hold]
        return next((q for q in known if json.dumps(q) in text), "")

    def _generate(self, request: Any) -> Any:
        question = self._question(request)
        while question and question in self.hold and not request.cancel.is_set():
            self.holding.set()
            request.cancel.wait(0.01)
        self.holding.clear()
        output = self._original(request)
        if question is None or output.stats.stop_reason == "canceled":
            return output
        with self.lock:
            self.calls[question] = self.calls.get(question, 0) + 1
            answers = self.script.get(question)
            if answers:
                output.text = answers.pop(0)
            elif question in self.defaults:
                output.text = self.defaults[question]
        return output

    def remove(self) -> None:
        del self._backend.generate


def watch_answer(observed: str, explanation: str = "the frames show it", confidence: float = 0.9) -> str:
    """A well-formed Reason1 watch answer (what ScriptedWatchAnswers hands back)."""
    body = json.dumps({"observed": observed, "confidence": confidence, "explanation": explanation})
    return f"<think>\nI look at the last frames.\n</think>\n\n<answer>\n{body}\n</answer>"
