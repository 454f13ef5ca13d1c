"""Standing watches as parameters and as messages: ``watches.names`` and ``watches.<name>.*``, Watch.msg.

Defaults and bounds come from the core (``core.watches.WatchSpec`` and ``RANGES``), written once; the
parameters are declared with descriptors like the per-camera ones and are read-only (watches change at
run time through the services, not through ``ros2 param set``).
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from cosmos_reason_ros.core.datatypes import Observed
from cosmos_reason_ros.core.modes.watches import RAISE_ON, RANGES, SEVERITIES, WatchSpec
from cosmos_reason_ros.msg import Watch, WatchState
from cosmos_reason_ros.ros.node.parameters import ParamSpec

_DEFAULT = WatchSpec(name="", question="")
#: Per-watch parameters ``watches.<name>.<field>``: the field's default, meaning and bounds.
WATCH_FIELDS: tuple[ParamSpec, ...] = (
    ParamSpec("question", "", "The yes/no question asked of the cameras (required).", True),
    ParamSpec("cameras", [""], "Cameras to look through; [''] or empty = every configured camera.", True),
    ParamSpec("history_seconds", _DEFAULT.history_seconds, "s of recent video per check; 0 = "
              "frames.history_seconds.", True, *RANGES["history_seconds"]),
    ParamSpec("max_frames", _DEFAULT.max_frames, "Frames per camera per check; 0 = frames.max_frames.", True,
              *RANGES["max_frames"]),
    ParamSpec("period", _DEFAULT.period, "s between checks.", True, *RANGES["period"]),
    ParamSpec("raise_on", _DEFAULT.raise_on, "The answer that raises the alert.", True, choices=RAISE_ON),
    ParamSpec("raise_after", _DEFAULT.raise_after, "Consecutive raising answers that raise it.", True,
              *RANGES["raise_after"]),
    ParamSpec("clear_after", _DEFAULT.clear_after, "Consecutive other answers that clear it.", True,
              *RANGES["clear_after"]),
    ParamSpec("cooldown", _DEFAULT.cooldown, "s after clearing during which it cannot raise again.", True,
              *RANGES["cooldown"]),
    ParamSpec("severity", _DEFAULT.severity, "How serious a raised watch is.", True, choices=SEVERITIES),
    ParamSpec("enabled", _DEFAULT.enabled, "false: declared but not checked.", True),
    ParamSpec("max_new_tokens", _DEFAULT.max_new_tokens, "Token budget of a reasoning check; 0 = "
              "generation.max_new_tokens.", True, *RANGES["max_new_tokens"]),
    ParamSpec("reasoning", _DEFAULT.reasoning, "false: one token per check (P(yes) vs P(no) of the first token); "
              "true: reason, then answer in JSON (seconds per check, with an explanation).", True),
)
_SEVERITY_CODES = {name: index + 1 for index, name in enumerate(SEVERITIES)}  # Watch.SEVERITY_INFO = 1, ...
_RAISE_CODES = {name: index + 1 for index, name in enumerate(RAISE_ON)}  # Watch.RAISE_ON_YES = 1, NO = 2


def declare_watch_parameters(node: Node) -> list[WatchSpec]:
    """Declare ``watches.names`` and every named watch's fields; the watches as declared (not yet validated)."""
    names = node.declare_parameter("watches.names", [""], ParameterDescriptor(
        description="Standing watch names; [''] = none. Each reads watches.<name>.question and the fields of "
                    "README 'Standing watches'.", read_only=True)).value
    specs = []
    for name in [n for n in names if n]:
        values: dict[str, Any] = {}
        for field in WATCH_FIELDS:
            values[field.name] = node.declare_parameter(f"watches.{name}.{field.name}", field.default,
                                                        field.descriptor()).value
        values["cameras"] = tuple(c for c in values["cameras"] if c)
        specs.append(WatchSpec(name=name, **values))
    return specs


def spec_from_msg(msg: Watch) -> WatchSpec:
    """A Watch message as a spec, zeros replaced by the defaults (validated by the caller)."""
    pick = lambda value, default: value or default  # noqa: E731  (0 = default)
    raise_on = {v: k for k, v in _RAISE_CODES.items()}.get(msg.raise_on or 1, f"code {msg.raise_on}")
    severity = {v: k for k, v in _SEVERITY_CODES.items()}.get(msg.severity or _SEVERITY_CODES[_DEFAULT.severity],
                                                               f"code {msg.severity}")
    return WatchSpec(
        name=msg.name, question=msg.question, cameras=tuple(msg.cameras), history_seconds=float(msg.history_seconds),
        max_frames=int(msg.max_frames), period=float(pick(msg.period, _DEFAULT.period)), raise_on=raise_on,
        raise_after=int(pick(msg.raise_after, _DEFAULT.raise_after)),
        clear_after=int(pick(msg.clear_after, _DEFAULT.clear_after)), cooldown=float(msg.cooldown),
        severity=severity, enabled=bool(msg.enabled), max_new_tokens=int(msg.max_new_tokens),
        reasoning=bool(msg.reasoning))


def msg_from_spec(spec: WatchSpec) -> Watch:
    return Watch(name=spec.name, question=spec.question, cameras=list(spec.cameras),
                 history_seconds=spec.history_seconds, max_frames=spec.max_frames, period=spec.period,
                 raise_on=_RAISE_CODES[spec.raise_on], raise_after=spec.raise_after, clear_after=spec.clear_after,
                 cooldown=spec.cooldown, severity=_SEVERITY_CODES[spec.severity], enabled=spec.enabled,
                 max_new_tokens=spec.max_new_tokens, reasoning=spec.reasoning)


def severity_code(spec: WatchSpec) -> int:
    return _SEVERITY_CODES[spec.severity]


def answer_code(answer: Observed | None) -> int:
    """Observed → WatchState/Alert ANSWER_* (UNCERTAIN and UNKNOWN are no answer)."""
    return {Observed.YES: WatchState.ANSWER_YES, Observed.NO: WatchState.ANSWER_NO}.get(answer, WatchState.ANSWER_NONE)
