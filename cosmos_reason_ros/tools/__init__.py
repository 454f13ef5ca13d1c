"""Command-line tools: ``ask`` (send a task goal, print the plan) and ``replay`` (a video as a camera).

The names below are shared with the behaviour-tree nodes so that modes, stages and verdicts read the same
everywhere.
"""
from __future__ import annotations

from ..core.types import Mode, Stage, Verdict

#: Short mode names (as typed on the command line or in a tree) → ReasonAboutTask goal MODE_* values.
MODE_NAMES: dict[str, int] = {
    "decompose": int(Mode.DECOMPOSE),
    "feasibility": int(Mode.FEASIBILITY),
    "next": int(Mode.NEXT_ACTION),
    "verify": int(Mode.VERIFY_COMPLETION),
    "question": int(Mode.QUESTION),
}


def mode_value(mode: str | int) -> int:
    """A MODE_* value from a short name (``"next"``) or a number; ValueError for anything else."""
    if isinstance(mode, int) and mode in MODE_NAMES.values():
        return mode
    if isinstance(mode, str) and mode.lower() in MODE_NAMES:
        return MODE_NAMES[mode.lower()]
    raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODE_NAMES)} (or 0-4)")


def mode_name(mode: int) -> str:
    """``2`` → ``"next"``; unknown values print as numbers."""
    return next((name for name, value in MODE_NAMES.items() if value == mode), str(mode))


def stage_name(stage: int) -> str:
    """``4`` → ``"thinking"``; unknown values print as numbers."""
    try:
        return Stage(stage).name.lower().replace("_", " ")
    except ValueError:
        return f"stage {stage}"


def verdict_name(verdict: int) -> str:
    """``2`` → ``"INFEASIBLE"``; unknown values print as numbers."""
    try:
        return Verdict(verdict).name
    except ValueError:
        return f"verdict {verdict}"
