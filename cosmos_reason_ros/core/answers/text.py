"""Model output → its reasoning and its answer blocks, in order, as text.

Cleaning first: chat-template tokens that leaked into the decoded text go, and so does anything generated
after an end-of-turn token. Then the split. Text before ``</think>`` is reasoning (even without
``<think>``: templates may put that in the prompt). After it comes an answer block: Reason1 writes it
inside ``<answer>...</answer>``, Reason2 right after ``</think>``; either style is accepted from either
family. A model that thinks again (another ``<think>...</think>``) or answers again gives several blocks;
which one counts is the parser's policy (``parsing``), the same for both families.

A tag inside a JSON string of the answer (``{"answer": "write </think> first"}``) is text, not a tag.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from cosmos_reason_ros.core.answers.json_repair import find_objects
from cosmos_reason_ros.core.models.families import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, ModelFamily

# Chat-template tokens that leak when a backend decodes without skipping special tokens.
_SPECIAL_TOKEN = re.compile(r"<\|im_start\|>(?:system|user|assistant)?|<\|[A-Za-z0-9_]{1,40}\|>")
_END_OF_TURN = re.compile(r"<\|im_end\|>|<\|endoftext\|>")
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


@dataclass
class AnswerBlock:
    """One answer the model wrote. ``closed``: something followed it (``</answer>`` or more output), so
    a cut at the end of the output did not reach it."""

    text: str
    closed: bool


@dataclass
class SplitOutput:
    """The cleaned output split into reasoning and answer blocks (in the order written)."""

    reasoning: str
    blocks: list[AnswerBlock]
    reasoning_closed: bool  # a </think> ended the reasoning
    warnings: list[str] = field(default_factory=list)
    cut_tag: bool = False  # the output ended inside a tag ("</ans"): it was cut off, whatever the stop reason
    tagless: bool = False  # no reasoning or answer tag at all (a model or server that does not think)


def clean(text: str) -> tuple[str, list[str]]:
    """Drop chat-template tokens (and text generated after an end-of-turn token). A final end-of-turn
    token is the normal end of an answer decoded with special tokens, so it goes without a warning."""
    warnings: list[str] = []
    for end in _END_OF_TURN.finditer(text):
        if _SPECIAL_TOKEN.sub("", text[: end.start()]).strip():
            if _SPECIAL_TOKEN.sub("", text[end.end():]).strip():
                warnings.append("dropped text generated after the end-of-turn token")
            text = text[: end.start()]
            break
    stripped = _SPECIAL_TOKEN.sub("", text)
    if stripped != text:
        warnings.insert(0, "removed leaked special tokens")
    return stripped, warnings


def _tag_positions(text: str) -> list[tuple[int, str]]:
    """Every reasoning/answer tag in ``text``, in order, except those inside a JSON object's strings."""
    found = sorted((m.start(), tag) for tag in _TAGS for m in re.finditer(re.escape(tag), text))
    brace = text.find("{")
    if brace == -1 or all(pos < brace for pos, _ in found):
        return found
    spans = [(obj.start, obj.end) for obj in find_objects(text) if obj.complete]
    return [(pos, tag) for pos, tag in found if not any(start < pos < end for start, end in spans)]


class _Tagged:
    """The cleaned output and the positions of its real tags (those outside JSON strings)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tags = _tag_positions(text)

    def between(self, start: int, end: int) -> str:
        """``text[start:end]`` without its real tags, trimmed."""
        pieces, cursor = [], start
        for pos, tag in self.tags:
            if start <= pos < end and pos >= cursor:
                pieces.append(self.text[cursor:pos])
                cursor = pos + len(tag)
        pieces.append(self.text[cursor:max(cursor, end)])
        return "".join(pieces).strip()

    def positions(self, tag: str, start: int = 0, end: int | None = None) -> list[int]:
        end = len(self.text) if end is None else end
        return [pos for pos, name in self.tags if name == tag and start <= pos < end]


def _blocks_of_region(out: _Tagged, begin: int, end: int, family: ModelFamily,
                      warnings: list[str]) -> list[AnswerBlock]:
    """The answer blocks in ``text[begin:end]`` (after a ``</think>``): each ``<answer>...</answer>``, or
    the whole region when it has no ``<answer>``."""
    at_end = end == len(out.text)
    opens = out.positions(ANSWER_OPEN, begin, end)
    if not opens:
        text = out.between(begin, end)
        if family.answer_in_tags and text:
            warnings.append(f"no {ANSWER_OPEN} tag; used the text after {THINK_CLOSE}")
        return [AnswerBlock(text, closed=not at_end)] if text else []
    blocks, outside = [], out.between(begin, opens[0])
    for i, start in enumerate(opens):
        limit = opens[i + 1] if i + 1 < len(opens) else end
        close = next(iter(out.positions(ANSWER_CLOSE, start, limit)), None)
        body_end = close if close is not None else limit
        blocks.append(AnswerBlock(out.between(start + len(ANSWER_OPEN), body_end),
                                  closed=close is not None or limit < len(out.text)))
        if close is None and limit == len(out.text):
            warnings.append(f"no {ANSWER_CLOSE}; used the text to the end of the output")
        if close is not None:
            outside += out.between(close + len(ANSWER_CLOSE), limit)
    if outside:
        warnings.append(f"ignored text outside {ANSWER_OPEN}...{ANSWER_CLOSE}")
    return [block for block in blocks if block.text]


def split_output(text: str, family: ModelFamily) -> SplitOutput:
    """Reasoning and answer blocks of one output (see the module docstring)."""
    text, warnings = clean(text if isinstance(text, str) else "")
    cut_tag = _ends_in_cut_tag(text)
    if cut_tag:
        text = text[: text.rfind("<")]
        warnings.append("the output ends inside a tag: it was cut off")
    split = _split(_Tagged(text), family, warnings)
    split.cut_tag = cut_tag
    return split


def _ends_in_cut_tag(text: str) -> bool:
    """Whether the output ends with the start of a reasoning/answer tag ("<", "</thi", "<answ")."""
    tail = text[text.rfind("<"):] if "<" in text[-len(ANSWER_CLOSE):] else ""
    return bool(tail) and any(tag.startswith(tail) and tag != tail for tag in _TAGS)


def _split(out: _Tagged, family: ModelFamily, warnings: list[str]) -> SplitOutput:
    text = out.text
    closes = out.positions(THINK_CLOSE)
    if not closes:
        opens = out.positions(ANSWER_OPEN)
        if not opens and not out.positions(THINK_OPEN) and text.lstrip().startswith(("{", "```")):
            # No reasoning at all (a server that strips it, or a model asked not to think): the whole
            # output is the answer.
            warnings.append("no reasoning tags: the whole output is the answer")
            return SplitOutput("", [AnswerBlock(out.between(0, len(text)), closed=False)], False, warnings)
        if not opens:
            if text.strip():
                warnings.append(f"no {THINK_CLOSE}: the reasoning never closed (output truncated?)")
            return SplitOutput(out.between(0, len(text)), [], False, warnings, tagless=not out.tags)
        warnings.append(f"no {THINK_CLOSE}; the answer starts at {ANSWER_OPEN}")
        blocks = _blocks_of_region(out, opens[0], len(text), family, warnings)
        return SplitOutput(out.between(0, opens[0]), blocks, False, warnings)
    if len(closes) > 1:
        warnings.append(f"several {THINK_CLOSE} tags: the model thought again; answers are taken in order")
    reasoning, blocks = [out.between(0, closes[0])], []
    for i, close in enumerate(closes):
        begin = close + len(THINK_CLOSE)
        limit = closes[i + 1] if i + 1 < len(closes) else len(text)
        think = next(iter(out.positions(THINK_OPEN, begin, limit)), None)
        region_end = think if think is not None else limit
        if i + 1 < len(closes):
            reasoning.append(out.between(region_end, limit))
        blocks += _blocks_of_region(out, begin, region_end, family, warnings)
    return SplitOutput("\n".join(part for part in reasoning if part), blocks, True, warnings)
