"""Find the JSON objects in a model's answer, repair the usual defects, and know what the model finished.

A tolerant reader (never an evaluator: it only builds dicts, lists, strings, numbers, booleans and None)
walks from each ``{``. Repairs, each reported: comments outside strings (``//``, ``/* */``, ``#``),
single-quoted strings, Python literals, trailing and missing commas, bare identifier keys, invalid escapes
(``\\'`` → ``'``), unescaped quotes inside strings, lone surrogate escapes (→ U+FFFD).

Truncation: when the text ends before an object closes, the reader keeps only what the model finished.
Every trailing string, number, literal, key or member the cut left unfinished is dropped, as is every
unfinished object below the top one and every unfinished list item; an unfinished list keeps its finished
items. ``Found.complete`` says whether the object closed, ``Found.dropped`` how many elements were lost.
Work is bounded on brace-laden garbage.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

_PLAIN = {'"': re.compile(r'[^"\\]+'), "'": re.compile(r"[^'\\]+")}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][\w-]*")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "NaN": float("nan"),
                             "Infinity": float("inf")}
_PYTHON_LITERALS: dict[str, Any] = {"True": True, "False": False, "None": None}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_PARTIAL_LOW = re.compile(r"(?:\\(?:u[0-9A-Fa-f]{0,3})?)?")
_CLOSES_STRING = frozenset(',:}]"/#')  # after a real closing quote comes one of these (or the end)
_CODE_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_MAX_CANDIDATES = 64  # '{' positions tried per text: bounds the work on brace-laden garbage
_MAX_DEPTH = 64  # deeper nesting is garbage, not an answer

_MISSING = object()
#: Nothing of the object was finished where the text ends.
CUT_BEFORE_ANYTHING = "the JSON object was cut off before any of its elements was finished"


class _Invalid(Exception):
    """Syntax no repair fixes: this '{' does not start an object."""


class _Reader:
    """One pass from a '{'. ``value()`` answers (value, finished); at the end of the text an unfinished
    scalar is ``_MISSING`` and an unfinished container holds only its finished parts."""

    def __init__(self, text: str, pos: int) -> None:
        self.text, self.pos, self.end = text, pos, len(text)
        self.repairs: set[str] = set()
        self.dropped = 0
        self.depth = 0

    def skip(self) -> None:
        """Step over whitespace and comments (``//`` and ``#`` to the end of the line, ``/* ... */``)."""
        text = self.text
        while self.pos < self.end:
            char = text[self.pos]
            if char.isspace():
                self.pos += 1
            elif char == "#" or text.startswith("//", self.pos):
                newline = text.find("\n", self.pos)
                self.pos = self.end if newline == -1 else newline + 1
                self.repairs.add("removed comments")
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                self.pos = self.end if close == -1 else close + 2
                self.repairs.add("removed comments")
            else:
                return

    def value(self) -> tuple[Any, bool]:
        self.skip()
        if self.pos >= self.end:
            return _MISSING, False
        char = self.text[self.pos]
        if char == "{":
            return self.container("{", "}")
        if char == "[":
            return self.container("[", "]")
        if char in "\"'":
            return self.string(char)
        if char in "-+.0123456789":
            return self.number()
        return self.word()

    def container(self, opener: str, closer: str) -> tuple[Any, bool]:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Invalid("too deep")
        self.pos += 1
        is_object = opener == "{"
        result: Any = {} if is_object else []
        after_item = False  # an item was read and no comma yet
        comma = False  # the last token was a comma
        while True:
            self.skip()
            if self.pos >= self.end:
                return result, False
            char = self.text[self.pos]
            if char == closer:
                if comma:
                    self.repairs.add("removed trailing commas")
                self.pos += 1
                self.depth -= 1
                return result, True
            if char == ",":
                if comma or not (after_item or comma):
                    self.repairs.add("removed stray commas")
                self.pos, after_item, comma = self.pos + 1, False, True
                continue
            if char in "}]":
                raise _Invalid("mismatched bracket")
            if after_item:
                self.repairs.add("inserted missing commas")
            finished = self.member(result) if is_object else self.item(result)
            if not finished:
                return result, False
            after_item, comma = True, False

    def member(self, obj: dict) -> bool:
        """One ``key: value`` into ``obj``; False when the text ended first (the unfinished part dropped)."""
        key, finished = self.key()
        if finished:
            self.skip()
            if self.pos < self.end:
                if self.text[self.pos] != ":":
                    raise _Invalid("no colon after a key")
                self.pos += 1
                value, finished = self.value()
                if finished:
                    obj[key] = value
                    return True
                if isinstance(value, list):  # an unfinished list keeps its finished items
                    obj[key] = value
                    return False
        self.dropped += 1
        return False

    def item(self, items: list) -> bool:
        value, finished = self.value()
        if finished:
            items.append(value)
            return True
        self.dropped += 1
        return False

    def key(self) -> tuple[str, bool]:
        char = self.text[self.pos]
        if char in "\"'":
            return self.string(char)
        match = _WORD.match(self.text, self.pos)
        if match is None:
            raise _Invalid("not a key")
        self.pos = match.end()
        self.skip()
        if self.pos >= self.end:
            return match.group(), False
        if self.text[self.pos] != ":":
            raise _Invalid("a bare word that is not a key")
        self.repairs.add("quoted bare keys")
        return match.group(), True

    def string(self, quote: str) -> tuple[Any, bool]:
        """A quoted string. A quote that is not followed by JSON punctuation is part of the text (an
        unescaped quote, or an apostrophe in a single-quoted string)."""
        text, plain = self.text, _PLAIN[quote]
        if quote == "'":
            self.repairs.add("converted single-quoted strings to double quotes")
        i, parts = self.pos + 1, []
        while i < self.end:
            match = plain.match(text, i)
            if match:
                parts.append(match.group())
                i = match.end()
                continue
            char = text[i]
            if char == quote:
                after = i + 1
                while after < self.end and text[after].isspace():
                    after += 1
                if after < self.end and text[after] in _CLOSES_STRING:
                    self.pos = i + 1
                    return "".join(parts), True
                if after >= self.end and quote == '"':
                    self.pos = self.end
                    return "".join(parts), True
                if after < self.end and quote == '"':
                    self.repairs.add("escaped quotes inside strings")
                parts.append(char)
                i += 1
                continue
            escaped, i = self.escape(i)  # char is a backslash
            if escaped is None:
                break
            parts.append(escaped)
        self.pos = self.end
        return _MISSING, False

    def escape(self, i: int) -> tuple[str | None, int]:
        """The text of the escape at ``text[i] == '\\'`` and where the string goes on; None when the text
        ends inside it."""
        text = self.text
        if i + 1 >= self.end:
            return None, i
        char = text[i + 1]
        if char in _ESCAPES:
            return _ESCAPES[char], i + 2
        if char != "u":
            if char != "'" or text[self.pos] != "'":  # \' is valid in a single-quoted string
                self.repairs.add("repaired invalid escapes")
            # \' and markdown escapes (\_, \*) lose the backslash; \d or \p (a path?) keep it.
            return (char if not char.isalnum() else "\\" + char), i + 2
        digits = text[i + 2:i + 6]
        if len(digits) < 4 and i + 6 > self.end and all(c in "0123456789abcdefABCDEF" for c in digits):
            return None, i
        if not _HEX4.fullmatch(digits):
            self.repairs.add("repaired invalid escapes")
            return "\\u", i + 2
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF:
            rest = text[i + 6:i + 12]
            if len(rest) < 6 and _PARTIAL_LOW.fullmatch(rest):
                return None, i  # the low half may have been cut off
            if rest.startswith("\\u") and _HEX4.fullmatch(rest[2:]) and 0xDC00 <= int(rest[2:], 16) <= 0xDFFF:
                return chr(0x10000 + ((code - 0xD800) << 10) + int(rest[2:], 16) - 0xDC00), i + 12
        if 0xD800 <= code <= 0xDFFF:
            self.repairs.add("replaced lone surrogate escapes")
            return "\ufffd", i + 6
        return chr(code), i + 6

    def number(self) -> tuple[Any, bool]:
        if self.text.startswith("-Infinity", self.pos):
            self.pos += len("-Infinity")
            return (-float("inf"), True) if self.pos < self.end else (_MISSING, False)
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise _Invalid("not a number")
        self.pos = match.end()
        if self.pos >= self.end:  # "0.8" may have been "0.85"
            return _MISSING, False
        literal = match.group().lstrip("+")
        if literal.startswith(("-.", ".")) or literal.endswith(".") or literal != match.group():
            self.repairs.add("repaired number formats")
        number = float(literal.replace("-.", "-0.") if literal.startswith("-.") else literal)
        integral = all(c in "-0123456789" for c in literal)
        return (int(literal) if integral else number), True

    def word(self) -> tuple[Any, bool]:
        match = _WORD.match(self.text, self.pos)
        if match is None:
            raise _Invalid("unexpected character")
        word = match.group()
        if match.end() >= self.end:  # "tru" (or "true" that might go on)
            if any(w.startswith(word) for w in (*_LITERALS, *_PYTHON_LITERALS)):
                self.pos = self.end
                return _MISSING, False
            raise _Invalid("a bare word value")
        self.pos = match.end()
        if word in _LITERALS:
            return _LITERALS[word], True
        if word in _PYTHON_LITERALS:
            self.repairs.add("converted Python literals (True/False/None) to JSON")
            return _PYTHON_LITERALS[word], True
        raise _Invalid("a bare word value")


class Found(NamedTuple):
    """One object found in a text."""

    start: int
    end: int  # just after its closing brace; len(text) when it never closed
    value: dict
    repairs: list[str]
    complete: bool = True  # the object closed: nothing was cut off
    dropped: int = 0  # unfinished elements dropped (only when not complete)


def skip_object(text: str, start: int) -> int | None:
    """Where the bracketed span opened at ``start`` ends (string-aware), or None when it never closes.

    Public for ``bare_arrays``, which finds where a bare answer array ends with the reader's own rules."""
    depth, i, end, plain = 0, start, len(text), _PLAIN['"']
    while i < end:
        char = text[i]
        i += 1
        if char == '"':
            while i < end:
                match = plain.match(text, i)
                i = match.end() if match else i
                if i >= end or text[i] == '"':
                    i += 1
                    break
                i += 2  # an escape pair
        elif char in "{[":
            depth += 1
            if depth > _MAX_DEPTH:
                return None
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i
    return None


def find_objects(text: str) -> Iterator[Found]:
    """Every outermost JSON object in ``text`` that reads after repairs, in order. An object cut off by
    the end of the text comes last (``complete`` False) with only its finished parts, possibly none."""
    start, tried = text.find("{"), 0
    while start != -1 and tried < _MAX_CANDIDATES:
        tried += 1
        reader = _Reader(text, start)
        try:
            value, finished = reader.container("{", "}")
        except (_Invalid, RecursionError):
            end = skip_object(text, start)
            # Resume after the whole span, read or not: an inner object is never taken for the answer.
            start = text.find("{", end if end is not None else start + 1)
            continue
        if finished:
            yield Found(start, reader.pos, value, sorted(reader.repairs))
            start = text.find("{", reader.pos)
            continue
        repairs = sorted(reader.repairs) + ["closed truncated JSON"]
        if reader.dropped:
            repairs.append(f"dropped {reader.dropped} unfinished element(s) at the cut")
        yield Found(start, len(text), value, repairs, complete=False, dropped=reader.dropped)
        return


def surroundings(text: str, found: Found) -> list[str]:
    """Warnings for what was skipped around the object."""
    before, after = text[: found.start].strip(), text[found.end:].strip()
    if not before and not after:
        return []
    if not _CODE_FENCE.sub("", before).strip() and not _CODE_FENCE.sub("", after).strip():
        return ["removed a code fence around the JSON"]
    return [f"ignored text {where} the JSON object" for where, rest in (("before", before), ("after", after)) if rest]


def no_object_reason(text: str) -> str:
    """Why ``text`` gave no usable object."""
    if "{" not in text:
        return "no JSON object in the answer"
    return "a JSON object in the answer could not be parsed, even after repairs"


def extract_json(text: str) -> tuple[Any | None, list[str]]:
    """The first JSON object in ``text`` that reads, with the repairs it needed; a truncated object holds
    only its finished parts (see the module docstring). (None, [why]) when there is none."""
    for found in find_objects(text):
        if not found.value and not found.complete:
            return None, [CUT_BEFORE_ANYTHING]
        return found.value, found.repairs + surroundings(text, found)
    return None, [no_object_reason(text)]
