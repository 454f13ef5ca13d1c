"""Reading located objects (boxes and points) out of a parsed answer: one reader for the parser's table.

The answer's ``"objects"`` list holds one object per located thing: ``{"label": ..., "bbox_2d": [x1, y1,
x2, y2], "point_2d": [x, y], "camera": ..., "frame": ..., "confidence": ...}``. Both key spellings the
Qwen-VL cookbooks use are read silently (``bbox_2d`` and ``box_2d``); other spellings (``bbox``,
``point``, ``name``, a ``{"x1": ...}`` object, a nested ``[[x1, y1], [x2, y2]]``) with a warning. Values
stay in the model's coordinates here (their range depends on the family and the image, ``core.grounding``
checks it): a box needs four finite numbers, swapped corners are put in order with a warning, an empty box
(zero width or height) is dropped with a warning; an object with neither a usable box nor a point is
dropped with a warning.

Key collision, handled on purpose: "objects" (and "target_objects", "target") name a step's target *names*
elsewhere, where the parser reads them as "targets". A list of objects that carry a box or a point is a
list of located objects, never target names (``is_location_list``); everything else keeps its old meaning.
"""
from __future__ import annotations

import math
import re
from typing import Any

from cosmos_reason_ros.core.answers.values import as_confidence, as_text
from cosmos_reason_ros.core.datatypes import ModelLocation, ParsedAnswer

_BOX_KEYS = ("bbox_2d", "box_2d", "bbox", "box", "bounding_box", "bounding_box_2d", "bbox2d")
_POINT_KEYS = ("point_2d", "point", "point2d", "center", "centre", "position_2d")
_QUIET_KEYS = ("bbox_2d", "box_2d", "point_2d")  # the published spellings: read without a warning
_LABEL_KEYS = ("label", "name", "object", "class", "target", "description")
#: Top-level keys a model uses for the list; "objects" is the schema's.
LIST_KEYS = ("objects", "locations", "located_objects", "detections", "boxes", "results")
_CORNER_KEYS = (("x1", "y1", "x2", "y2"), ("x_min", "y_min", "x_max", "y_max"), ("xmin", "ymin", "xmax", "ymax"),
                ("left", "top", "right", "bottom"))


def _key(key: Any) -> str:
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(key).strip())
    return re.sub(r"[\s\-]+", "_", key).lower()


def _has_location(value: Any) -> bool:
    return isinstance(value, dict) and any(_key(k) in _BOX_KEYS + _POINT_KEYS for k in value)


def is_location_list(value: Any) -> bool:
    """A located-objects value (a list holding an object with a box or point, or one such object)."""
    return _has_location(value) or (isinstance(value, list) and any(_has_location(v) for v in value))


def _number(value: Any, what: str, warnings: list[str]) -> float | None:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        warnings.append(f"{what}: read the text {value!r:.30} as a number")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _numbers(value: Any, count: int, what: str, warnings: list[str]) -> list[float] | None:
    """``count`` finite numbers from a list (nested pairs flattened) or a corner object, else None."""
    if isinstance(value, dict):
        fields = {_key(k): v for k, v in value.items()}
        names = next((names for names in (_CORNER_KEYS if count == 4 else (("x", "y"),))
                      if all(n in fields for n in names)), None)
        if names is None:
            warnings.append(f"{what}: an object without recognised corner keys; ignored")
            return None
        warnings.append(f"{what}: read an object with keys {', '.join(names)}")
        value = [fields[n] for n in names]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        value = [item for pair in value for item in pair]
        warnings.append(f"{what}: flattened nested coordinate pairs")
    if not isinstance(value, list) or len(value) != count:
        warnings.append(f"{what}: expected {count} numbers, got {json_shape(value)}; ignored")
        return None
    numbers = [_number(v, what, warnings) for v in value]
    if any(n is None for n in numbers):
        warnings.append(f"{what}: not {count} finite numbers; ignored")
        return None
    return numbers  # type: ignore[return-value]


def json_shape(value: Any) -> str:
    return f"{len(value)} values" if isinstance(value, list) else type(value).__name__


def _box(value: Any, what: str, warnings: list[str]) -> tuple[float, float, float, float] | None:
    numbers = _numbers(value, 4, what, warnings)
    if numbers is None:
        return None
    x1, y1, x2, y2 = numbers
    if x1 > x2 or y1 > y2:
        warnings.append(f"{what}: swapped corners put in order (x1 <= x2, y1 <= y2)")
        x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    if x1 == x2 or y1 == y2:
        warnings.append(f"{what}: an empty box (zero width or height); ignored")
        return None
    return x1, y1, x2, y2


def _first(fields: dict, keys: tuple[str, ...], what: str, warnings: list[str]) -> Any:
    for key in keys:
        if key in fields:
            if key not in _QUIET_KEYS and keys[0] in _QUIET_KEYS:
                warnings.append(f"{what}: read the key {key!r} as {keys[0]!r}")
            return fields[key]
    return None


def read_location(value: Any, index: int, warnings: list[str]) -> ModelLocation | None:
    """One located object, or None (with a warning) when it has neither a usable box nor point."""
    if not isinstance(value, dict):
        warnings.append(f"object {index}: ignored a {type(value).__name__}")
        return None
    fields = {_key(k): v for k, v in value.items()}
    label = as_text(next((fields[k] for k in _LABEL_KEYS if k in fields), None), "label", warnings)
    what = f"object {index} ({label[:40]})" if label else f"object {index}"
    raw_box = _first(fields, _BOX_KEYS, what, warnings)
    raw_point = _first(fields, _POINT_KEYS, what, warnings)
    box = _box(raw_box, f"{what} box", warnings) if raw_box is not None else None
    numbers = _numbers(raw_point, 2, f"{what} point", warnings) if raw_point is not None else None
    point = (numbers[0], numbers[1]) if numbers else None
    if box is None and point is None:
        warnings.append(f"{what}: no usable box or point; dropped")
        return None
    frame = fields.get("frame", fields.get("frame_index"))
    frame_number = _number(frame, f"{what} frame", warnings) if frame is not None else None
    return ModelLocation(label=label or f"object {index}", box=box, point=point,
                         confidence=as_confidence(fields.get("confidence", fields.get("score")), warnings),
                         camera=as_text(fields.get("camera"), "camera", warnings),
                         frame=int(frame_number) if frame_number is not None and frame_number >= 0 else -1)


def read_objects(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    """Reader for MODE_RULES: the answer's located objects (none when it has no list of them)."""
    key = next((k for k in LIST_KEYS if k in fields and is_location_list(fields[k])), None)
    if key is None:
        return
    if key != "objects":
        warnings.append(f"read the key {key!r} as 'objects'")
    items = fields[key] if isinstance(fields[key], list) else [fields[key]]
    if not isinstance(fields[key], list):
        warnings.append("objects: a single object where a list was expected")
    parsed.objects = [obj for obj in (read_location(item, i, warnings) for i, item in enumerate(items))
                      if obj is not None]


def read_locate(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    """MODE_LOCATE's reader: the "objects" list, or one located object written as the answer itself."""
    read_objects(fields, parsed, warnings)
    if not parsed.objects and "objects" not in fields and _has_location(fields):
        warnings.append("the located object was written as the answer object itself")
        obj = read_location(fields, 0, warnings)
        parsed.objects = [obj] if obj is not None else []


def locate_satisfied(parsed: ParsedAnswer, fields: dict) -> bool:
    """At least one located object, or an explicit empty list (the model says none is visible)."""
    return bool(parsed.objects) or fields.get("objects") == []
