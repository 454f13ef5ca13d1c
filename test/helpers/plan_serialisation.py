"""Test helper: a parsed outcome, as the node would publish it, through rclpy's real serialisation."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from cosmos_reason_ros.core.datatypes import GenerationOutput, GenerationStats, Mode, ParseOutcome, ReasoningResult


def assert_fits_ros(outcome: ParseOutcome, mode: Mode) -> None:
    """The parsed plan survives rclpy's serialisation unchanged (valid UTF-8, no NUL cutting a string)."""
    serialization = pytest.importorskip("rclpy.serialization", reason="rclpy is needed to serialise the plan")
    from cosmos_reason_ros.msg import TaskPlan
    from cosmos_reason_ros.ros.conversions import plan_msg

    result = ReasoningResult(mode=mode, task="t", outcome=outcome, generation=GenerationOutput("", GenerationStats()),
                             seen=[], model_id="m")
    plan = plan_msg(result, "ab" * 16, 0.0, True)
    assert plan.completeness == outcome.completeness
    back = serialization.deserialize_message(serialization.serialize_message(plan), TaskPlan)
    assert list(_strings(back)) == list(_strings(plan))


def _strings(msg: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string field of a message, with its path (floats differ after a float32 round trip)."""
    for name in msg.get_fields_and_field_types():  # type: ignore[attr-defined]
        value = getattr(msg, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, str):
                yield f"{path}{name}[{i}]", item
            elif hasattr(item, "get_fields_and_field_types"):
                yield from _strings(item, f"{path}{name}[{i}].")
