"""Test doubles that inject faults into the REAL backend (the model itself still runs).

Each double is named for the fault it causes; none replaces the model's output with canned text.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional

import torch

from cosmos_reason_ros.core.backend_base import ProgressCallback
from cosmos_reason_ros.core.transformers_backend import TransformersBackend, TransformersConfig


class HungLoadBackend(TransformersBackend):
    """Fault: model loading hangs until ``release`` is set (a slow disk, a stuck download)."""

    def __init__(self, config: TransformersConfig) -> None:
        super().__init__(config)
        self.release = threading.Event()

    def load(self, progress: Optional[ProgressCallback] = None) -> None:
        from cosmos_reason_ros.core.backend_base import BackendState

        self.state = BackendState.LOADING
        self.release.wait()
        super().load(progress)


class FailingGenerate:
    """Fault: the real model's ``generate`` raises ``error_factory()`` for the next ``times`` calls."""

    def __init__(self, backend: TransformersBackend, error_factory: Callable[[], BaseException], times: int = 1) -> None:
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
