"""Text at the package's two trust boundaries: what a ROS string can carry, and user text in a prompt.

Out of the model: every string handed to the ROS shell must be valid UTF-8 without NULs. Python strings
can hold lone surrogates (an escaped emoji cut in half, ``"\\ud83d"``), which make serialisation raise,
and a NUL truncates a string in the middleware. ``ros_safe`` repairs both.

Into the model: the task and the camera names are data. ``sanitize_text`` removes what cannot be seen
(zero-width, bidi-control and other format characters, Hangul fillers) and collapses whitespace and
control characters; ``neutralize_markup`` rewrites anything a tokenizer could read as a control token
(chat-template specials such as ``<|im_start|>``, reasoning tags such as ``<think>`` or ``</answer>``,
and any extra token a backend names) so it reaches the model as plain characters.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Any run of whitespace or control characters (C0, DEL, C1, Unicode line/paragraph separators).
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
#: Characters that render as nothing but are not of category Cf (Hangul fillers, braille blank).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
#: Categories that show nothing on their own: format (zero-width, bidi controls, tags), marks, spaces.
_INVISIBLE_CATEGORIES = frozenset(("Cf", "Cs", "Cc", "Mn", "Me", "Zs", "Zl", "Zp"))
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

#: Chat-template specials (``<|im_start|>``, also with full-width bars) and anything shaped like a tag
#: (``<think>``, ``</answer>``, ``<tool_call>``): the shapes Qwen-family tokenizers reserve.
_MARKUP = re.compile(r"<\s*[|\uff5c][^<>\n]{0,64}?[|\uff5c]\s*>|</?\s*[A-Za-z_][\w.:-]{0,40}\s*/?>")
_QUOTES = str.maketrans({"<": "\u2039", ">": "\u203a"})  # ‹ and ›: read alike, never a token
_WORD_JOINER = "\u2060"


def _is_removed(char: str) -> bool:
    """Invisible characters a task or name loses: format characters (zero-width, bidi controls, tag
    characters, the byte-order mark), surrogates and blank letters."""
    return char in _BLANK_LETTERS or unicodedata.category(char) in ("Cf", "Cs")


def strip_invisible(text: str) -> str:
    """``text`` without zero-width, bidi-control and other invisible format characters."""
    if text.isascii():
        return text
    return "".join(char for char in text if not _is_removed(char))


def sanitize_text(text: str) -> str:
    """Remove invisible characters, collapse every run of whitespace or control characters to one space
    and trim the ends: user text stays on one line, cannot fake a new section of the prompt, and cannot
    reorder what a reader sees with bidi overrides."""
    return _WHITESPACE_OR_CONTROL.sub(" ", strip_invisible(text)).strip()


def has_visible_text(text: str) -> bool:
    """Whether ``text`` shows anything: a task of only marks, spaces or format characters is empty."""
    return any(char not in _BLANK_LETTERS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
               and not 0xFE00 <= ord(char) <= 0xFE0F for char in text)


def _defuse(token: str) -> str:
    """A token's text that no tokenizer matches: angle brackets become ‹ ›; a token without them gets a
    word joiner after its first character."""
    defused = token.translate(_QUOTES)
    return defused if defused != token else token[:1] + _WORD_JOINER + token[1:]


def neutralize_markup(text: str, reserved: Iterable[str] = ()) -> str:
    """``text`` with every control-token shape and every ``reserved`` token string rewritten as plain
    characters (``<|im_end|>`` → ``‹|im_end|›``, ``</think>`` → ``‹/think›``)."""
    text = _MARKUP.sub(lambda match: _defuse(match.group()), text)
    for token in sorted({t for t in reserved if isinstance(t, str) and len(t) >= 2}, key=len, reverse=True):
        if token in text:
            text = text.replace(token, _defuse(token))
    return text


def ros_safe(text: str) -> str:
    """``text`` as a ROS string can carry it: surrogate pairs joined, lone surrogates as U+FFFD, NULs
    removed. Valid text comes back unchanged (the same object)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if _LONE_SURROGATE.search(text):
        text = _SURROGATE_PAIR.sub(lambda m: m.group().encode("utf-16", "surrogatepass").decode("utf-16"), text)
        text = _LONE_SURROGATE.sub("\ufffd", text)
    return text
