"""Why a clip cannot be judged: the error codes of a clip record (the report's "error.code"), one name per
way an input can fail, and the exception that carries one.

Its own module because both readers raise them: ``inputs`` (videos, image folders) and ``bags`` (rosbag2
recordings), which ``inputs`` calls.
"""
from __future__ import annotations

NOT_FOUND = "NOT_FOUND"  # the path does not exist
UNSUPPORTED_INPUT = "UNSUPPORTED_INPUT"  # not a video, image folder or rosbag2 recording
EMPTY_INPUT = "EMPTY_INPUT"  # a zero-length file, a video without frames, a folder without images
UNREADABLE_INPUT = "UNREADABLE_INPUT"  # the file exists but cannot be opened or parsed as what it claims to be
NO_TOPIC = "NO_TOPIC"  # the recording has no image topic of that name (or no --topic was given)
NO_FRAMES_IN_WINDOW = "NO_FRAMES_IN_WINDOW"  # the window holds no frame
CORRUPT_FRAME = "CORRUPT_FRAME"  # a frame in the window cannot be decoded


class InputError(Exception):
    """A clip that cannot be read, with its code (one of the codes above)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
