"""Find the JSON object in a model's answer and repair the usual defects, without ever evaluating it.

A string-aware brace scanner (not a greedy regex) walks from each ``{``; token-level repairs (trailing
commas, single quotes, Python literals) are applied as it goes, and a truncated object is closed at the
last point where closing it yields valid JSON. Every repair is reported. Only ``json.loads`` reads the
text. Work is bounded on brace-laden garbage.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple, Optional

_DOUBLE_QUOTED = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
# A single-quoted string ends at the first quote followed by JSON punctuation; that is what makes it unambiguous.
_SINGLE_QUOTED = re.compile(r"'((?:[^'\\]|\\.|'(?!\s*[,:}\]]))*)'(?=\s*[,:}\]])", re.S)
_SINGLE_BODY_TOKEN = re.compile(r'\\(.)|"', re.S)  # an escape pair, or a double quote that needs escaping
_PARTIAL_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{0,3})?\Z")
_BARE_WORD = re.compile(r"[^\W\d]\w*")
_PYTHON_LITERALS = {"True": "true", "False": "false", "None": "null"}
_CODE_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_MAX_CANDIDATES = 64  # '{' positions tried per text: bounds the work on brace-laden garbage
_MAX_CUTS = 64  # cut points tried when closing a truncated object
_MAX_DEPTH = 64  # deeper nesting is garbage, not an answer


@dataclass
class _Scan:
    """One pass over the text from a '{': the object's text, token-level repairs already applied."""

    chunks: list[str] = field(default_factory=list)
    end: Optional[int] = None  # index just after the matching '}'; None when the text ran out first
    repairs: list[str] = field(default_factory=list)
    open_string: bool = False  # the text ended inside a string
    too_deep: bool = False
    closers: str = ""  # what closes every bracket still open at the end, innermost first
    cuts: list[tuple[int, str]] = field(default_factory=list)  # (chunk count, closers) where truncation may cut


def _requote(body: str) -> str:
    """A single-quoted string's body as the inside of a double-quoted JSON string."""
    return _SINGLE_BODY_TOKEN.sub(lambda m: '\\"' if m.group(1) is None else m.group(0).replace("\\'", "'"), body)


def _scan(text: str, start: int) -> _Scan:
    """Walk from ``text[start] == '{'`` to its matching '}', stepping over strings whole, and fix single
    quotes, Python literals and trailing commas on the way."""
    scan, stack, i, previous, last_comma = _Scan(), [], start, "", -1
    repairs: set[str] = set()
    while i < len(text):
        char = text[i]
        if char == '"' or (char == "'" and previous in ("{", "[", ",", ":")):
            match = (_DOUBLE_QUOTED if char == '"' else _SINGLE_QUOTED).match(text, i)
            if char == "'":
                repairs.add("converted single-quoted strings to double quotes")
            if match is None:
                scan.chunks.append(text[i:] if char == '"' else '"' + _requote(text[i + 1:]))
                scan.open_string = True
                break
            scan.chunks.append(match.group() if char == '"' else '"' + _requote(match.group(1)) + '"')
            i, previous = match.end(), '"'
            continue
        if char.isalpha() or char == "_":
            match = _BARE_WORD.match(text, i)
            word = match.group() if match else char
            if word in _PYTHON_LITERALS:
                repairs.add("converted Python literals (True/False/None) to JSON")
            scan.chunks.append(_PYTHON_LITERALS.get(word, word))
            i, previous = i + len(word), word[-1]
            continue
        if char in "}]":
            if previous == ",":
                scan.chunks[last_comma] = ""
                repairs.add("removed trailing commas")
            if stack:
                stack.pop()
        elif char == ",":
            scan.cuts.append((len(scan.chunks), "".join(reversed(stack))))
            last_comma = len(scan.chunks)
        scan.chunks.append(char)
        if char in "{[":
            stack.append("}" if char == "{" else "]")
            if len(stack) > _MAX_DEPTH:
                scan.too_deep = True
                break
            scan.cuts.append((len(scan.chunks), "".join(reversed(stack))))
        previous = previous if char.isspace() else char
        i += 1
        if not stack:
            scan.end = i
            break
    scan.closers, scan.repairs = "".join(reversed(stack)), sorted(repairs)
    return scan


def _loads(text: str) -> Optional[Any]:
    """``json.loads`` answering None instead of raising (bad syntax, absurd nesting)."""
    try:
        return json.loads(text, strict=False)
    except (ValueError, RecursionError):
        return None


def _close_truncated(scan: _Scan) -> Optional[dict]:
    """Close a truncated object as it stands, else cut back to ever earlier complete values and close."""
    whole = "".join(scan.chunks)
    if scan.open_string:  # a string cut off mid-escape ("\\", "\\u00") would swallow the closing quote
        whole = _PARTIAL_ESCAPE.sub("", whole) + '"'
    attempts = [(whole, scan.closers)]
    attempts += [("".join(scan.chunks[:count]), closers) for count, closers in reversed(scan.cuts[-_MAX_CUTS:])]
    for prefix, closers in attempts:
        value = _loads(prefix.rstrip().rstrip(",") + closers)
        if isinstance(value, dict) and value:
            return value
    return None


class _Found(NamedTuple):
    start: int
    end: int
    value: dict
    repairs: list[str]


def find_objects(text: str) -> Iterator[_Found]:
    """Every outermost JSON object in ``text`` that parses after repairs, in order."""
    start, tried = text.find("{"), 0
    while start != -1 and tried < _MAX_CANDIDATES:
        tried += 1
        scan = _scan(text, start)
        if scan.end is not None:
            value = _loads("".join(scan.chunks))
            if isinstance(value, dict):
                yield _Found(start, scan.end, value, scan.repairs)
            # Resume after the whole object, parsed or not: an inner object is never taken for the answer.
            start = text.find("{", scan.end)
            continue
        value = None if scan.too_deep else _close_truncated(scan)
        if value is not None:
            yield _Found(start, len(text), value, scan.repairs + ["closed truncated JSON"])
            return
        start = text.find("{", start + 1)


def _surroundings(text: str, found: _Found) -> list[str]:
    """Warnings for what was skipped around the object."""
    before, after = text[: found.start].strip(), text[found.end:].strip()
    if not before and not after:
        return []
    if not _CODE_FENCE.sub("", before).strip() and not _CODE_FENCE.sub("", after).strip():
        return ["removed a code fence around the JSON"]
    return [f"ignored text {where} the JSON object" for where, rest in (("before", before), ("after", after)) if rest]


def extract_json(text: str) -> tuple[Optional[Any], list[str]]:
    """The first JSON object in ``text`` that parses, with the repairs it needed.

    Copes with code fences, prose around the object, several objects, trailing commas, truncation, single
    quotes and Python literals. Returns (None, [why]) when there is no usable object.
    """
    for found in find_objects(text):
        return found.value, found.repairs + _surroundings(text, found)
    if "{" not in text:
        return None, ["no JSON object in the answer"]
    return None, ["a JSON object in the answer could not be parsed, even after repairs"]
