"""The package's exceptions: one type per way a goal can fail.

The ROS layer maps each type to an action result code in exactly one place
(``cosmos_reason_ros.ros.goals.error_codes``). Raise them chained (``raise X(...) from e``) so the original
cause stays in the traceback and the logs.
"""
from __future__ import annotations

from typing import Any


class ReasonerError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str, *, partial: Any = None) -> None:
        super().__init__(message)
        self.message = message
        #: Whatever was produced before the failure (e.g. a GenerationOutput), or None.
        self.partial = partial


class InvalidRequestError(ReasonerError):
    """The request itself is unusable: empty or oversized task, unknown mode or camera, absurd budgets."""


class NoFramesError(ReasonerError):
    """A requested camera has no usable frame in the window."""


class StaleFramesError(ReasonerError):
    """A requested camera's newest frame is older than the staleness threshold."""


class FrameDecodeError(ReasonerError):
    """A stored frame could not be decoded into pixels (malformed or unsupported image)."""


class ModelNotReadyError(ReasonerError):
    """The model is not loaded yet, or loading failed."""


class ModelLoadError(ReasonerError):
    """Loading the model failed (weights, config, device)."""


class ModelNotFoundError(ModelLoadError):
    """The model is neither a local directory nor obtainable from the hub (e.g. offline, not cached)."""


class DependencyMissingError(ModelLoadError):
    """A requested feature needs something absent here (bitsandbytes, CUDA, flash-attn)."""


class ModelError(ReasonerError):
    """The model or its backend failed while generating."""


class OutOfMemoryError(ModelError):
    """The accelerator ran out of memory. Memory has been released; the backend stays usable."""


class BackendUnavailableError(ModelError):
    """A remote model server could not be reached, or refused the request."""


class ParseError(ReasonerError):
    """The model's answer could not be turned into the requested structure. ``raw`` keeps the text."""

    def __init__(self, message: str, *, raw: str = "", partial: Any = None) -> None:
        super().__init__(message, partial=partial)
        self.raw = raw


class DeadlineExceededError(ReasonerError):
    """The request's deadline passed. ``partial`` holds the output generated so far, if any."""


class CanceledError(ReasonerError):
    """The request was canceled by its caller. ``partial`` holds the output generated so far, if any."""
