"""One JSON value read as a plan field's type (text, a confidence), with a warning for every coercion.

Shared by the field readers (``fields``) and the located-object reader (``locations``), which ``fields``
runs for the modes that locate objects.
"""
from __future__ import annotations

import json
import math
from typing import Any

from cosmos_reason_ros.core.datatypes import CONFIDENCE_UNKNOWN


def as_text(value: Any, key: str, warnings: list[str]) -> str:
    """A text field, stripped; a number or object is written as JSON and a list joined with "; " (with a
    warning); None is empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    warnings.append(f"{key}: expected text, got {type(value).__name__}")
    if isinstance(value, list):
        return "; ".join(text for text in (as_text(item, key, []) for item in value) if text)
    return json.dumps(value, ensure_ascii=False)


def as_confidence(value: Any, warnings: list[str]) -> float:
    """A probability in [0, 1]; percentages (85, "85%") are scaled; anything else is CONFIDENCE_UNKNOWN."""
    if value is None:
        return CONFIDENCE_UNKNOWN
    number, percent = math.nan, False
    if isinstance(value, str):
        percent = value.strip().endswith("%")
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            pass
        if not percent and not math.isnan(number):
            warnings.append(f"confidence: read the text {value!r:.60} as a number")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    if math.isnan(number):
        warnings.append(f"confidence: {value!r:.60} is not a number")
        return CONFIDENCE_UNKNOWN
    if percent or 1.0 < number <= 100.0:
        number /= 100.0
        warnings.append(f"confidence: read {value!r:.60} as a percentage")
    if not 0.0 <= number <= 1.0:
        warnings.append(f"confidence: {value!r:.60} is out of range")
        return CONFIDENCE_UNKNOWN
    return number
