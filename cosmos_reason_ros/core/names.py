"""Short names of modes, stages and verdicts, as typed on a command line or in a behaviour tree.

One table for the tools (``ask``, ``replay``), the behaviour-tree nodes and the rviz text, so a mode reads
the same everywhere. Goal-only modes are listed; MODE_CRITIC and MODE_WATCH have their own entry points
(the critic tool, the ~/add_watch service) but print by name too.
"""
from __future__ import annotations

from cosmos_reason_ros.core.datatypes import Mode, Stage, Verdict

#: Short mode names → ReasonAboutTask goal MODE_* values (the modes a goal may ask for by name).
MODE_NAMES: dict[str, int] = {
    "decompose": int(Mode.DECOMPOSE),
    "feasibility": int(Mode.FEASIBILITY),
    "next": int(Mode.NEXT_ACTION),
    "verify": int(Mode.VERIFY_COMPLETION),
    "question": int(Mode.QUESTION),
    "locate": int(Mode.LOCATE),
}


def mode_value(mode: str | int) -> int:
    """A MODE_* value from a short name (``"next"``) or a number; ValueError for anything else."""
    if isinstance(mode, int) and mode in MODE_NAMES.values():
        return mode
    if isinstance(mode, str) and mode.lower() in MODE_NAMES:
        return MODE_NAMES[mode.lower()]
    numbers = sorted(MODE_NAMES.values())
    raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODE_NAMES)} "
                     f"(or their numbers: {', '.join(map(str, numbers))})")


def mode_name(mode: int) -> str:
    """``2`` → ``"next"``; unknown values print as numbers."""
    return next((name for name, value in MODE_NAMES.items() if value == mode), str(mode))


def stage_name(stage: int, unknown: str | None = None) -> str:
    """``4`` → ``"thinking"``; unknown values print as numbers, or as ``unknown`` when given."""
    try:
        return Stage(stage).name.lower().replace("_", " ")
    except ValueError:
        return f"stage {stage}" if unknown is None else unknown


def verdict_name(verdict: int) -> str:
    """``2`` → ``"INFEASIBLE"``; unknown values print as numbers."""
    try:
        return Verdict(verdict).name
    except ValueError:
        return f"verdict {verdict}"
