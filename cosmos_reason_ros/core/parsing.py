"""Model output → reasoning, answer text and a typed ParsedAnswer, without ever raising.

Steps: clean the text (leaked chat-template tokens, NULs, invalid code points); split the reasoning
(``<think>...</think>``) from the answer (Reason1: inside ``<answer>``; Reason2: after ``</think>``; either
style is accepted from either family); find the JSON object in the answer with a string-aware brace scanner
and repair the usual defects; coerce its values into the plan types. Every repair and coercion is reported
as a warning, so a caller can tell a clean answer from a salvaged one.

Model output is data: it is read only with ``json.loads``, never evaluated.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Optional, TypeVar

from .json_repair import extract_json, find_objects  # noqa: F401  (extract_json re-exported)
from .families import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, ModelFamily
from .types import CONFIDENCE_UNKNOWN, Completion, Feasibility, Mode, ParsedAnswer, ParseOutcome, Subtask, Verdict

# Chat-template tokens that leak when a backend decodes without skipping special tokens.
_SPECIAL_TOKEN = re.compile(r"<\|im_start\|>(?:system|user|assistant)?|<\|[A-Za-z0-9_]{1,40}\|>")
_END_OF_TURN = re.compile(r"<\|im_end\|>|<\|endoftext\|>")
# "Yes, ...", "No.", "**Yes**" open prose with a clear verdict; "Yes the..." or "Not sure" do not.
_LEADING_YES_NO = re.compile(r"^[\s*_\"'`]*(yes|no)[*_\"'`]*(?:[,.!:;\n]|\s*$)", re.I)


_SCHEMA_WORDS = ("yes", "no", "uncertain")  # the words the prompts ask for: read without a warning
_Choice = TypeVar("_Choice", Verdict, Completion)
_VERDICT_WORDS: dict[str, Verdict] = {
    **dict.fromkeys(("yes", "feasible", "possible", "true", "y"), Verdict.FEASIBLE),
    **dict.fromkeys(("no", "infeasible", "impossible", "not feasible", "not possible", "false", "n"),
                    Verdict.INFEASIBLE),
    **dict.fromkeys(("uncertain", "unknown", "unclear", "maybe", "unsure", "not sure"), Verdict.UNCERTAIN),
}
_COMPLETION_WORDS: dict[str, Completion] = {
    **dict.fromkeys(("yes", "done", "complete", "completed", "true", "y"), Completion.DONE),
    **dict.fromkeys(("no", "not done", "incomplete", "not completed", "not complete", "false", "n"),
                    Completion.NOT_DONE),
}


# --- cleaning and the reasoning/answer split --------------------------------------------------------------


def _clean(text: str) -> tuple[str, list[str]]:
    """Drop chat-template tokens (and text generated after an end-of-turn token), NULs and code points that
    cannot be encoded as UTF-8, so every string handed on fits a ROS message. A final end-of-turn token is
    the normal end of an answer decoded with special tokens, so it goes without a warning."""
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
    valid = stripped.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if valid != stripped:
        warnings.append("replaced NUL characters or invalid code points")
    return valid, warnings


def _answer_from_region(region: str, family: ModelFamily) -> tuple[str, list[str]]:
    """The answer inside ``<answer>`` if the tag is there, else the whole region (Reason2 style)."""
    start = region.find(ANSWER_OPEN)
    if start == -1:
        untagged = family.answer_in_tags and region.strip()
        warnings = [f"no {ANSWER_OPEN} tag; used the text after {THINK_CLOSE}"] if untagged else []
        return region.replace(ANSWER_CLOSE, "").strip(), warnings
    inner = region[start + len(ANSWER_OPEN):]
    end = inner.find(ANSWER_CLOSE)
    if end == -1:
        return inner.strip(), [f"no {ANSWER_CLOSE}; used the text to the end of the output"]
    outside = region[:start] + inner[end + len(ANSWER_CLOSE):]
    return inner[:end].strip(), [f"ignored text outside {ANSWER_OPEN}...{ANSWER_CLOSE}"] if outside.strip() else []


def _without_think_tags(text: str) -> str:
    return text.replace(THINK_OPEN, "").replace(THINK_CLOSE, "").strip()


def split_reasoning(text: str, family: ModelFamily) -> tuple[str, str, list[str]]:
    """Split output into (reasoning, answer text, warnings), both cleaned and trimmed.

    Text before ``</think>`` is reasoning even without ``<think>`` (templates may put that in the prompt).
    Without ``</think>`` the chain of thought was cut off: everything is reasoning and the answer is empty,
    unless an ``<answer>`` tag shows where the answer starts.
    """
    text, warnings = _clean(text if isinstance(text, str) else "")
    if not text.strip():
        return "", "", warnings + ["the output is empty"]
    close = text.find(THINK_CLOSE)
    if close == -1:
        start = text.find(ANSWER_OPEN)
        if start == -1:
            warnings.append(f"no {THINK_CLOSE}: the reasoning never closed (output truncated?)")
            return _without_think_tags(text), "", warnings
        answer, answer_warnings = _answer_from_region(text[start:], family)
        warnings.append(f"no {THINK_CLOSE}; the answer starts at {ANSWER_OPEN}")
        return _without_think_tags(text[:start]), answer, warnings + answer_warnings
    reasoning, region = text[:close], text[close + len(THINK_CLOSE):]
    last = region.rfind(THINK_CLOSE)
    if last != -1:  # the model thought again after closing: all of it is reasoning
        reasoning += "\n" + region[:last]
        region = region[last + len(THINK_CLOSE):]
        warnings.append(f"several {THINK_CLOSE} tags; the answer is the text after the last one")
    answer, answer_warnings = _answer_from_region(region, family)
    return _without_think_tags(reasoning), answer, warnings + answer_warnings


# --- coercion into the plan types -------------------------------------------------------------------------


def _normal_keys(obj: dict) -> dict[str, Any]:
    """Keys lower-cased, spaces and hyphens as underscores ("Blocking factors" → blocking_factors)."""
    return {re.sub(r"[\s-]+", "_", str(key).strip().lower()): value for key, value in obj.items()}


def _as_text(value: Any, key: str, warnings: list[str]) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    warnings.append(f"{key}: expected text, got {type(value).__name__}")
    if isinstance(value, list):
        return "; ".join(text for text in (_as_text(item, key, []) for item in value) if text)
    return json.dumps(value, ensure_ascii=False)


def _as_list(value: Any, key: str, warnings: list[str]) -> list:
    """A list as given; a lone value becomes a one-item list (with a warning); None an empty one."""
    if value is None or isinstance(value, list):
        return value or []
    warnings.append(f"{key}: a single value where a list was expected")
    return [value]


def _as_text_list(value: Any, key: str, warnings: list[str]) -> list[str]:
    texts = [_as_text(item, key, warnings) for item in _as_list(value, key, warnings)]
    return [text for text in texts if text]


def _as_choice(value: Any, key: str, words: dict[str, _Choice], default: _Choice, warnings: list[str]) -> _Choice:
    """A yes/no-style field: the schema's words (any case) silently; booleans, synonyms and a leading
    "Yes, ..." with a warning; anything else is ``default`` (unknown)."""
    if value is None:
        return default
    text = str(value) if isinstance(value, (str, bool)) else ""
    word = re.sub(r"[\s_-]+", " ", text.strip().strip(".!*\"'`").lower()).strip()
    leading = _LEADING_YES_NO.match(text)
    if word not in words and leading:
        word = leading.group(1).lower()
    if word not in words:
        warnings.append(f"{key}: unrecognised value {value!r:.60}")
        return default
    if not isinstance(value, str) or word not in _SCHEMA_WORDS or word != value.strip().lower():
        warnings.append(f"{key}: read {value!r:.60} as {words[word].name.lower()}")
    return words[word]


def _as_confidence(value: Any, warnings: list[str]) -> float:
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


def _as_subtask(value: Any, index: int, warnings: list[str]) -> Optional[Subtask]:
    """One step from an object, or from plain text (which then is only its description)."""
    if isinstance(value, str):
        if value.strip():
            warnings.append(f"subtask {index}: plain text instead of an object; used it as the description")
        return Subtask(index=index, description=value.strip()) if value.strip() else None
    if not isinstance(value, dict):
        warnings.append(f"subtask {index}: ignored a {type(value).__name__}")
        return None
    fields = _normal_keys(value)
    action = _as_text(fields.get("action"), "action", warnings).lower()
    targets = _as_text_list(fields.get("targets"), "targets", warnings)
    description = _as_text(fields.get("description"), "description", warnings)
    if not description:
        description = " ".join([action, *targets]).strip()
        if not description:
            warnings.append(f"subtask {index}: empty; dropped")
            return None
        warnings.append(f"subtask {index}: no description; made one from action and targets")
    return Subtask(
        index=index, description=description, action=action, target_objects=targets,
        preconditions=_as_text_list(fields.get("preconditions"), "preconditions", warnings),
        success_criterion=_as_text(fields.get("success_criterion"), "success_criterion", warnings),
        feasibility_note=_as_text(fields.get("feasibility_note"), "feasibility_note", warnings),
    )


def _as_subtasks(value: Any, key: str, warnings: list[str]) -> list[Subtask]:
    """Steps indexed by position: a model's own numbering is ignored, so ``index`` always matches the list."""
    steps: list[Subtask] = []
    for item in _as_list(value, key, warnings):
        step = _as_subtask(item, len(steps), warnings)
        if step is not None:
            steps.append(step)
    return steps


def _next_action(fields: dict[str, Any], warnings: list[str]) -> list[Subtask]:
    """The single next step, from "next_action" or, failing that, from a "subtasks" list."""
    value = fields.get("next_action")
    if value is None and fields.get("subtasks") is not None:
        value = fields["subtasks"]
        warnings.append('next action taken from "subtasks"')
    steps = _as_subtasks(value if isinstance(value, list) or value is None else [value], "next_action", warnings)
    if len(steps) > 1:
        warnings.append(f"kept the first of {len(steps)} steps as the next action")
    return steps[:1]


#: What each mode cannot do without, and how to tell that it is there.
_NEEDS: dict[Mode, tuple[str, Callable[[ParsedAnswer], bool]]] = {
    Mode.DECOMPOSE: ('a non-empty "subtasks" list', lambda parsed: bool(parsed.subtasks)),
    Mode.FEASIBILITY: ('a "feasible" verdict (yes, no or uncertain)', lambda parsed: bool(parsed.feasibility.verdict)),
    Mode.NEXT_ACTION: ('a "next_action" step', lambda parsed: bool(parsed.subtasks)),
    Mode.VERIFY_COMPLETION: ('a "completed" judgment (yes or no)', lambda parsed: bool(parsed.completion)),
    Mode.QUESTION: ('an "answer" text', lambda parsed: bool(parsed.answer)),
}


def _from_object(obj: dict, mode: Mode, warnings: list[str]) -> tuple[ParsedAnswer, str]:
    """The fields ``mode`` uses (the rest keep their defaults), and an error when one it needs is missing."""
    fields = _normal_keys(obj)
    explanation = _as_text(fields.get("explanation"), "explanation", warnings)
    parsed = ParsedAnswer(answer=_as_text(fields.get("answer"), "answer", warnings) or explanation)
    if mode in (Mode.DECOMPOSE, Mode.FEASIBILITY):
        parsed.feasibility = Feasibility(
            verdict=_as_choice(fields.get("feasible"), "feasible", _VERDICT_WORDS, Verdict.UNKNOWN, warnings),
            confidence=_as_confidence(fields.get("confidence"), warnings),
            explanation=explanation,
            blocking_factors=_as_text_list(fields.get("blocking_factors"), "blocking_factors", warnings),
        )
    if mode is Mode.DECOMPOSE:
        parsed.subtasks = _as_subtasks(fields.get("subtasks"), "subtasks", warnings)
    elif mode is Mode.NEXT_ACTION:
        parsed.subtasks = _next_action(fields, warnings)
    elif mode is Mode.VERIFY_COMPLETION:
        completed = fields.get("completed")
        parsed.completion = _as_choice(completed, "completed", _COMPLETION_WORDS, Completion.UNKNOWN, warnings)
    need, present = _NEEDS[mode]
    return parsed, "" if present(parsed) else f"the answer lacks {need}"


def _from_prose(prose: str, mode: Mode, warnings: list[str]) -> Optional[ParsedAnswer]:
    """What plain prose can still give: a QUESTION reply, or the verdict of a leading yes/no."""
    if mode is Mode.QUESTION and prose:
        warnings.append("the answer is prose, not JSON; used it as the reply")
        return ParsedAnswer(answer=prose)
    leading = _LEADING_YES_NO.match(prose)
    if leading is None or mode not in (Mode.FEASIBILITY, Mode.VERIFY_COMPLETION):
        return None
    yes = leading.group(1).lower() == "yes"
    warnings.append(f"no usable JSON; took the verdict from the leading {leading.group(1)!r} of the prose")
    if mode is Mode.FEASIBILITY:
        verdict = Verdict.FEASIBLE if yes else Verdict.INFEASIBLE
        return ParsedAnswer(feasibility=Feasibility(verdict=verdict, explanation=prose), answer=prose)
    return ParsedAnswer(completion=Completion.DONE if yes else Completion.NOT_DONE, answer=prose)


def _parse(text: str, family: ModelFamily, mode: Mode) -> ParseOutcome:
    reasoning, answer_text, warnings = split_reasoning(text, family)

    def outcome(parsed: Optional[ParsedAnswer], error: str = "") -> ParseOutcome:
        ok = parsed is not None
        return ParseOutcome(reasoning, answer_text, parsed if ok else ParsedAnswer(), ok, error, warnings)

    if not reasoning and not answer_text:
        return outcome(None, "the model output is empty")
    obj, json_notes = extract_json(answer_text) if answer_text else (None, [])
    if obj is None and not answer_text:  # cut off, or closed without an answer: the reasoning may end in one
        found = list(find_objects(reasoning))
        if not found:
            return outcome(None, "no answer after the reasoning")
        obj, json_notes = found[-1].value, found[-1].repairs
        warnings.append("the answer was empty; used the last JSON object in the reasoning")
    if obj is None:
        parsed = _from_prose(answer_text, mode, warnings)
        return outcome(parsed, "" if parsed else f"{mode.name} needs a JSON answer: {json_notes[0]}")
    warnings.extend(json_notes)
    parsed, error = _from_object(obj, mode, warnings)
    if error and mode is Mode.QUESTION:
        warnings.append('the JSON had no "answer"; used the whole answer text as the reply')
        return outcome(ParsedAnswer(answer=answer_text))
    if error:
        degraded = _from_prose(answer_text, mode, warnings)
        return outcome(degraded, "" if degraded else error)
    return outcome(parsed)


def parse_output(text: str, family: ModelFamily, mode: Mode) -> ParseOutcome:
    """Turn one model output into a ParseOutcome for ``mode``.

    Never raises: model output is untrusted, and a failed parse is an answer too (ok=False, ``error`` says
    why, the raw text stays in ``reasoning`` and ``answer_text``).
    """
    try:
        return _parse(text, family, Mode(mode))
    except Exception as exc:  # a parser bug must not take the node down: report it as a failed parse
        raw = text if isinstance(text, str) else ""
        return ParseOutcome("", raw, ParsedAnswer(), ok=False, error=f"internal parser error: {exc!r}")
