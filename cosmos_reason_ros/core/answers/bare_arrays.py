"""A bare JSON array as the answer of MODE_LOCATE: Qwen-VL models often answer a grounding request with the
list alone (``[{"bbox_2d": [...], "label": "cup"}, ...]``), in a code fence or not.

The array is read as the ``"objects"`` of an answer object by wrapping its text, so the one tolerant reader
(``json_repair``) and its truncation rules apply unchanged: an array cut off by the end of the output
becomes an object that never closed, which is never a complete answer.
"""
from __future__ import annotations

import dataclasses
import re

from cosmos_reason_ros.core.answers.json_repair import skip_object
from cosmos_reason_ros.core.answers.text import AnswerBlock
from cosmos_reason_ros.core.datatypes import Mode

_OPENING = re.compile(r"^\s*(?:```[A-Za-z0-9_-]*\s*)?\[\s*\{")


def bare_array_as_objects(block: AnswerBlock, mode: Mode) -> tuple[AnswerBlock, str | None]:
    """(the block with its leading array wrapped in {"objects": ...}, the warning), or (block, None)."""
    if mode is not Mode.LOCATE:
        return block, None
    match = _OPENING.match(block.text)
    if match is None:
        return block, None
    start = block.text.index("[", 0, match.end())
    end = skip_object(block.text, start)
    text = block.text
    if end is None:  # cut off: the wrapper stays open too
        wrapped = text[:start] + '{"objects": ' + text[start:]
    else:
        wrapped = text[:start] + '{"objects": ' + text[start:end] + "}" + text[end:]
    return dataclasses.replace(block, text=wrapped), 'read a bare JSON array as the answer\'s "objects" list'
