"""The one place where the package's exceptions become ReasonAboutTask result codes."""
from __future__ import annotations

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core import errors

_Result = ReasonAboutTask.Result

#: Most specific first: the first matching type wins.
_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (errors.InvalidRequestError, _Result.INVALID_GOAL),
    (errors.NoFramesError, _Result.NO_FRAMES),
    (errors.FrameDecodeError, _Result.NO_FRAMES),
    (errors.StaleFramesError, _Result.STALE_FRAMES),
    (errors.ModelNotReadyError, _Result.MODEL_NOT_READY),
    (errors.ModelLoadError, _Result.MODEL_NOT_READY),
    (errors.OutOfMemoryError, _Result.OUT_OF_MEMORY),
    (errors.BackendUnavailableError, _Result.BACKEND_UNAVAILABLE),
    (errors.ModelError, _Result.MODEL_ERROR),
    (errors.ParseError, _Result.PARSE_FAILED),
    (errors.DeadlineExceededError, _Result.TIMEOUT),
    (errors.CanceledError, _Result.CANCELED),
)

#: Code → constant name, for logs and for the `ask` tool's exit message.
CODE_NAMES: dict[int, str] = {
    getattr(_Result, name): name for name in dir(_Result)
    if name.isupper() and isinstance(getattr(_Result, name), int)
}


def error_code_for(error: BaseException) -> int:
    """The result code for an exception; UNKNOWN for anything the core did not raise on purpose."""
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return code
    return _Result.UNKNOWN


def code_name(code: int) -> str:
    return CODE_NAMES.get(code, f"code {code}")
