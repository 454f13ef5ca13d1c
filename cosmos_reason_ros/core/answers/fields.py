"""A parsed JSON answer (or plain prose) → the plan types, one table row per mode.

``MODE_RULES`` says, per mode, which fields to read and what the mode cannot do without. What a mode needs
follows from what the model may rightly say: a decomposition of an impossible task has no steps, only a
"no" verdict and its blocking factors; a next-action answer may say there is no next action. A new mode
is a new row. Every coercion (a synonym, a wrong type, a renamed key) is reported as a warning.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cosmos_reason_ros.core.answers.locations import is_location_list, locate_satisfied, read_locate, read_objects
from cosmos_reason_ros.core.answers.values import as_confidence, as_text
from cosmos_reason_ros.core.datatypes import (
    Completion,
    Feasibility,
    Mode,
    Observation,
    Observed,
    ParsedAnswer,
    Subtask,
    Verdict,
)
from cosmos_reason_ros.core.modes.plausibility import critique_from_prose, critique_satisfied, read_critique_fields

_Choice = TypeVar("_Choice", Verdict, Completion)
_SCHEMA_WORDS = ("yes", "no", "uncertain")  # the words the prompts ask for: read without a warning
_UNSURE = ("uncertain", "unknown", "unclear", "maybe", "unsure", "not sure", "cannot tell", "can't tell")
VERDICT_WORDS: dict[str, Verdict] = {
    **dict.fromkeys(("yes", "feasible", "possible", "true", "y"), Verdict.FEASIBLE),
    **dict.fromkeys(("no", "infeasible", "impossible", "not feasible", "not possible", "false", "n", "cannot",
                     "can't", "can not"), Verdict.INFEASIBLE),
    **dict.fromkeys((*_UNSURE, "partially", "partially feasible", "possibly", "depends"), Verdict.UNCERTAIN),
}
COMPLETION_WORDS: dict[str, Completion] = {
    **dict.fromkeys(("yes", "done", "complete", "completed", "true", "y"), Completion.DONE),
    **dict.fromkeys(("no", "not done", "incomplete", "not completed", "not complete", "not yet", "false", "n"),
                    Completion.NOT_DONE),
}
#: The prompt asks for "yes" only when the last frames show the task done, so "cannot tell" means not done.
_UNSURE_COMPLETION = frozenset(_UNSURE)


def _leading_pattern(words: Any) -> re.Pattern[str]:
    """A choice phrase (two letters or more) opening the text, then a separator and the reason: "No - the
    cup is out of reach", "**Yes**, because ...", "Not feasible: ...". "Yes the ..." has no separator."""
    phrases = sorted({w for w in words if len(w) > 1}, key=len, reverse=True)
    alternation = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases)
    return re.compile(rf"^[\s*_\"'`]*({alternation})[*_\"'`]*"
                      rf"(?:\s*([-\u2013\u2014:;,.!(\[/\n])|\s+(?:because|since|as)\b|\s*$)\s*(.*?)\s*$", re.I | re.S)


_LEADING_VERDICT = _leading_pattern(VERDICT_WORDS)
_ANSWER_LABEL = re.compile(r"^\s*[*_#]*\s*(?:final\s+)?answer\s*[*_]*\s*:\s*[*_]*\s*", re.I)
_LEADING_COMPLETION = _leading_pattern((*COMPLETION_WORDS, *_UNSURE_COMPLETION))

#: Names models use for the schema's keys, after camelCase/spaces are normalised; used only when the
#: schema's own key is absent.
_ALIASES: dict[str, str] = {
    "steps": "subtasks", "sub_tasks": "subtasks", "plan": "subtasks", "actions": "subtasks",
    "is_feasible": "feasible", "verdict": "feasible", "feasible_verdict": "feasible",
    "feasibility": "feasible", "blockers": "blocking_factors", "blocking_factor": "blocking_factors",
    "reason": "explanation", "rationale": "explanation", "justification": "explanation",
    "is_completed": "completed", "task_completed": "completed", "is_complete": "completed", "is_done": "completed",
    "task_complete": "completed", "done": "completed", "next_step": "next_action", "next": "next_action",
    "target_objects": "targets", "objects": "targets", "target": "targets", "precondition": "preconditions",
    "success_criteria": "success_criterion", "success_condition": "success_criterion",
    # Mode.WATCH
    "observation": "observed", "detected": "observed",
    # steps in skills (core.skills)
    "skill_name": "skill", "args": "arguments", "parameters": "arguments", "params": "arguments",
}
_KNOWN_KEYS = frozenset((*_ALIASES.values(), "confidence", "answer", "action", "description", "feasibility_note"))


def _snake(key: str) -> str:
    """"blockingFactors", "BlockingFactors", "Blocking factors", "blocking-factors" → "blocking_factors"."""
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", str(key).strip().strip(":").strip())
    return re.sub(r"[\s\-]+", "_", key).lower()


def normal_keys(obj: dict, warnings: list[str]) -> dict[str, Any]:
    """The object's keys in the schema's spelling; a key read under another spelling is reported."""
    fields: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in obj.items():
        name = _snake(key)
        if name not in fields:
            fields[name], sources[name] = value, str(key)
    for name in list(fields):
        alias = _ALIASES.get(name)
        # "objects" holding boxes or points is the located-objects list (core.locations), not target names; an
        # empty one stays "objects" too (as targets it would say nothing; as objects, "none visible").
        located = alias == "targets" and (is_location_list(fields[name]) or fields[name] == [])
        if alias and alias not in fields and (name != "plan" or isinstance(fields[name], list)) and not located:
            fields[alias], sources[alias] = fields.pop(name), sources.pop(name)
    for name, source in sources.items():
        if name in _KNOWN_KEYS and source != name:
            warnings.append(f"read the key {source!r:.40} as {name!r}")
    return fields


def _as_list(value: Any, key: str, warnings: list[str]) -> list:
    """A list as given; a lone value becomes a one-item list (with a warning); None an empty one."""
    if value is None or isinstance(value, list):
        return value or []
    warnings.append(f"{key}: a single value where a list was expected")
    return [value]


def _as_text_list(value: Any, key: str, warnings: list[str]) -> list[str]:
    texts = [as_text(item, key, warnings) for item in _as_list(value, key, warnings)]
    return [text for text in texts if text]


def as_choice(value: Any, key: str, words: dict[str, _Choice], default: _Choice,
              warnings: list[str]) -> tuple[_Choice, str]:
    """A yes/no-style field and the reason given with it. The schema's words (any case) are read silently;
    booleans, synonyms and a choice word followed by a reason ("No - out of reach") with a warning;
    anything else is ``default`` (unknown)."""
    if value is None:
        return default, ""
    text = str(value) if isinstance(value, (str, bool)) else ""
    word = re.sub(r"[\s_-]+", " ", text.strip().strip(".!*\"'`").lower()).strip()
    reason = ""
    if word not in words and word not in _UNSURE_COMPLETION:
        leading = (_LEADING_COMPLETION if words is COMPLETION_WORDS else _LEADING_VERDICT).match(text)
        if leading:
            word, reason = re.sub(r"\s+", " ", leading.group(1).lower()), leading.group(3)
            if leading.group(2) in ("(", "[") and reason[-1:] in (")", "]"):
                reason = reason[:-1].strip()
    if words is COMPLETION_WORDS and word in _UNSURE_COMPLETION:
        warnings.append(f"{key}: read {value!r:.60} as not done (the prompt asks for yes only when the frames "
                        "show the task done)")
        return Completion.NOT_DONE, reason  # type: ignore[return-value]
    if word not in words:
        warnings.append(f"{key}: unrecognised value {value!r:.60}")
        return default, ""
    if not isinstance(value, str) or word not in _SCHEMA_WORDS or word != value.strip().lower():
        warnings.append(f"{key}: read {value!r:.60} as {words[word].name.lower()}")
    return words[word], reason


def _as_subtask(value: Any, index: int, warnings: list[str]) -> Subtask | None:
    """One step from an object, or from plain text (which then is only its description)."""
    if isinstance(value, str):
        if value.strip():
            warnings.append(f"subtask {index}: plain text instead of an object; used it as the description")
        return Subtask(index=index, description=value.strip()) if value.strip() else None
    if not isinstance(value, dict):
        warnings.append(f"subtask {index}: ignored a {type(value).__name__}")
        return None
    fields = normal_keys(value, warnings)
    action = as_text(fields.get("action"), "action", warnings).lower()
    skill = as_text(fields.get("skill"), "skill", warnings)
    targets = _as_text_list(fields.get("targets"), "targets", warnings)
    description = as_text(fields.get("description"), "description", warnings)
    if not description:
        description = " ".join([action or skill, *targets]).strip()
        if not description:
            warnings.append(f"subtask {index}: empty; dropped")
            return None
        warnings.append(f"subtask {index}: no description; made one from action and targets")
    return Subtask(
        index=index, description=description, action=action, target_objects=targets,
        preconditions=_as_text_list(fields.get("preconditions"), "preconditions", warnings),
        success_criterion=as_text(fields.get("success_criterion"), "success_criterion", warnings),
        feasibility_note=as_text(fields.get("feasibility_note"), "feasibility_note", warnings),
        skill_written=skill, written_arguments=_as_arguments(fields.get("arguments"), index, warnings),
    )


def _as_arguments(value: Any, index: int, warnings: list[str]) -> dict[str, Any]:
    """A step's "arguments" object, names in snake case; a list of {"name", "value"} pairs is read too (with a
    warning); anything else is no arguments (with a warning: a skill that needs them is then not dispatchable)."""
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value):
        warnings.append(f"subtask {index}: arguments as a list of name/value pairs; read as an object")
        value = {item["name"]: item.get("value") for item in value}
    if not isinstance(value, dict):
        warnings.append(f"subtask {index}: arguments: expected an object, got {type(value).__name__}; ignored")
        return {}
    return {_snake(key): item for key, item in value.items()}


def _as_subtasks(value: Any, key: str, warnings: list[str]) -> list[Subtask]:
    """Steps indexed by position: a model's own numbering is ignored, so ``index`` always matches the list."""
    steps: list[Subtask] = []
    for item in _as_list(value, key, warnings):
        step = _as_subtask(item, len(steps), warnings)
        if step is not None:
            steps.append(step)
    return steps


# --- what each mode reads -------------------------------------------------------------------------------

_NO_STEP = ("", "none", "null", "n/a", "nothing", "no action")


def _read_feasibility(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    verdict, reason = as_choice(fields.get("feasible"), "feasible", VERDICT_WORDS, Verdict.UNKNOWN, warnings)
    explanation = as_text(fields.get("explanation"), "explanation", []) or reason
    parsed.feasibility = Feasibility(
        verdict=verdict, confidence=as_confidence(fields.get("confidence"), warnings), explanation=explanation,
        blocking_factors=_as_text_list(fields.get("blocking_factors"), "blocking_factors", warnings))
    parsed.answer = parsed.answer or explanation


def _read_subtasks(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    parsed.subtasks = _as_subtasks(fields.get("subtasks"), "subtasks", warnings)


def _says_no_step(fields: dict) -> bool:
    """An explicit empty next action ("next_action": null, {}, "none"): the task needs no further step."""
    value = fields.get("next_action", "absent")
    return value is None or value in ({}, []) or (isinstance(value, str) and value.strip().lower() in _NO_STEP)


def _read_next_action(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    """The single next step, from "next_action", else a "subtasks" list, else a step written flat."""
    value = fields.get("next_action")
    if value is None and fields.get("subtasks") is not None:
        value = fields["subtasks"]
        warnings.append('next action taken from "subtasks"')
    elif "next_action" not in fields and ("action" in fields or "description" in fields):
        value = fields
        warnings.append("the next action was written as the answer object itself")
    if _says_no_step(fields):
        return  # the model says there is no next action; "answer" says why
    steps = _as_subtasks(value if isinstance(value, list) or value is None else [value], "next_action", warnings)
    if len(steps) > 1:
        warnings.append(f"kept the first of {len(steps)} steps as the next action")
    parsed.subtasks = steps[:1]


def _read_completion(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    parsed.completion, reason = as_choice(fields.get("completed"), "completed", COMPLETION_WORDS,
                                          Completion.UNKNOWN, warnings)
    parsed.answer = parsed.answer or reason


#: Mode.WATCH: the words of a yes/no watch answer (the schema's are "yes" and "no").
OBSERVED_WORDS: dict[str, Observed] = {
    **dict.fromkeys(("yes", "true", "y", "detected", "present", "observed"), Observed.YES),
    **dict.fromkeys(("no", "false", "n", "not detected", "absent", "none", "not observed"), Observed.NO),
    **dict.fromkeys(_UNSURE, Observed.UNCERTAIN),
}
_LEADING_OBSERVED = _leading_pattern(OBSERVED_WORDS)


def _read_observed(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    """The yes/no of a watch question, its confidence and explanation."""
    value, answer, reason = fields.get("observed"), Observed.UNKNOWN, ""
    if isinstance(value, bool):
        answer = Observed.YES if value else Observed.NO
        warnings.append(f"observed: read {value!r} as {answer.name.lower()}")
    elif isinstance(value, str):
        word = re.sub(r"[\s_-]+", " ", value.strip().strip(".!*\"'`").lower()).strip()
        if word in OBSERVED_WORDS:
            answer = OBSERVED_WORDS[word]
            if word not in ("yes", "no") or word != value.strip().lower():
                warnings.append(f"observed: read {value!r:.60} as {answer.name.lower()}")
        elif (leading := _LEADING_OBSERVED.match(value)) is not None:
            answer, reason = OBSERVED_WORDS[re.sub(r"\s+", " ", leading.group(1).lower())], leading.group(3)
            warnings.append(f"observed: read {value!r:.60} as {answer.name.lower()}")
        else:
            warnings.append(f"observed: unrecognised value {value!r:.60}")
    elif value is not None:
        warnings.append(f"observed: unrecognised value {value!r:.60}")
    explanation = as_text(fields.get("explanation"), "explanation", []) or reason
    parsed.observation = Observation(answer=answer, confidence=as_confidence(fields.get("confidence"), warnings),
                                     explanation=explanation)
    parsed.answer = parsed.answer or explanation


def _observed_from_prose(prose: str, warnings: list[str]) -> ParsedAnswer | None:
    """A watch answer written as prose that opens with yes or no ("Yes - a person is at the arm")."""
    leading = _LEADING_OBSERVED.match(prose)
    if leading is None:
        return None
    answer = OBSERVED_WORDS.get(re.sub(r"\s+", " ", leading.group(1).lower()))
    if answer not in (Observed.YES, Observed.NO):
        return None
    warnings.append(f"no usable JSON; took the watch answer from the leading {leading.group(1)!r} of the prose")
    return ParsedAnswer(observation=Observation(answer=answer, explanation=leading.group(3) or prose), answer=prose)


#: One step of a numbered list: "1. Pick up the cup", "2) Place it", "Step 3: Open the door".
_NUMBERED_STEP = re.compile(r"^[ \t>*_-]*(?:step\s*)?(\d{1,2})\s*[.):][*_]*\s+(\S[^\n]*?)\s*$", re.I | re.M)


def numbered_steps(prose: str) -> list[str]:
    """The items of a numbered list numbered 1, 2, 3, ... in order (Cosmos 3 answers its planning template so);
    [] when the prose holds no such list."""
    found = _NUMBERED_STEP.findall(prose)
    numbers = [int(number) for number, _ in found]
    if not found or numbers != list(range(1, len(found) + 1)):
        return []
    return [text.strip("*_ ") for _, text in found]


@dataclass(frozen=True)
class ModeRule:
    """How one mode reads an answer: the readers to run, and what it cannot do without."""

    readers: tuple[Callable[[dict, ParsedAnswer, list[str]], None], ...]
    need: str  # said in the error when it is missing
    satisfied: Callable[[ParsedAnswer, dict], bool]  # (parsed, the answer's fields) → has what it needs
    prose_verdict: bool = False  # a leading verdict word in plain prose counts (e.g. "No, the cup is ...")
    prose_completion: bool = False
    prose_reply: bool = False  # plain prose is the reply itself
    prose: Callable[[str, list[str]], ParsedAnswer | None] | None = None  # the mode's own prose reader
    prose_steps: bool = False  # a numbered list in plain prose is the plan (Cosmos 3's planning template)


_REFUSAL = (Verdict.INFEASIBLE, Verdict.UNCERTAIN)

MODE_RULES: dict[Mode, ModeRule] = {
    Mode.DECOMPOSE: ModeRule(
        (_read_feasibility, _read_subtasks, read_objects),
        'a non-empty "subtasks" list, or a "feasible" verdict of no or uncertain (an impossible task has no steps)',
        lambda p, f: bool(p.subtasks) or p.feasibility.verdict in _REFUSAL, prose_verdict=True, prose_steps=True),
    Mode.FEASIBILITY: ModeRule((_read_feasibility,), 'a "feasible" verdict (yes, no or uncertain)',
                               lambda p, f: bool(p.feasibility.verdict), prose_verdict=True),
    Mode.NEXT_ACTION: ModeRule((_read_next_action, read_objects),
                               'a "next_action" step (or an explicit null: no step needed)',
                               lambda p, f: bool(p.subtasks) or _says_no_step(f)),
    Mode.VERIFY_COMPLETION: ModeRule((_read_completion,), 'a "completed" judgment (yes or no)',
                                     lambda p, f: bool(p.completion), prose_completion=True),
    Mode.QUESTION: ModeRule((), 'an "answer" text', lambda p, f: bool(p.answer), prose_reply=True),
    Mode.CRITIC: ModeRule((read_critique_fields,),
                          "a final Yes/No anomaly answer, a score from 1 to 5 or a choice (A) or (B)",
                          critique_satisfied, prose=critique_from_prose),
    Mode.LOCATE: ModeRule((read_locate,), 'an "objects" list with a "bbox_2d" box or "point_2d" point per object '
                          '(or an empty list: nothing found)', locate_satisfied),
    # "uncertain" is not an answer: the watch becomes UNKNOWN with the reason, never a silent "no alert".
    Mode.WATCH: ModeRule((_read_observed,), 'an "observed" answer (yes or no)',
                         lambda p, f: p.observation.answer in (Observed.YES, Observed.NO), prose=_observed_from_prose),
}


def _read_done(fields: dict, parsed: ParsedAnswer, warnings: list[str]) -> None:
    """A (re-)plan from history: "completed" says whether the task is already done. It counts only without
    steps: steps say what is left, so "yes" beside steps is read as not done (with a warning)."""
    if fields.get("completed") is None:
        return
    completion, _ = as_choice(fields.get("completed"), "completed", COMPLETION_WORDS, Completion.UNKNOWN, warnings)
    if completion is Completion.DONE and parsed.subtasks:
        warnings.append(f'completed: "yes" beside {len(parsed.subtasks)} step(s); read as not done (the steps say '
                        "what is left)")
        completion = Completion.NOT_DONE
    parsed.completion = completion


def from_object(obj: dict, mode: Mode, warnings: list[str], asks_done: bool = False) -> tuple[ParsedAnswer, str]:
    """The fields ``mode`` uses (the rest keep their defaults), and an error when one it needs is missing.
    ``asks_done``: a planning prompt with history asked whether the task is already done ("completed")."""
    fields = normal_keys(obj, warnings)
    answer = as_text(fields.get("answer"), "answer", warnings)
    parsed = ParsedAnswer(answer=answer or as_text(fields.get("explanation"), "explanation", warnings))
    rule = MODE_RULES[mode]
    for read in rule.readers:
        read(fields, parsed, warnings)
    if asks_done and mode in (Mode.DECOMPOSE, Mode.NEXT_ACTION):
        _read_done(fields, parsed, warnings)
        if parsed.completion is Completion.DONE:
            return parsed, ""  # the task is done: no step is needed
    return parsed, "" if rule.satisfied(parsed, fields) else f"the answer lacks {rule.need}"


def from_prose(prose: str, mode: Mode, warnings: list[str]) -> ParsedAnswer | None:
    """What plain prose can still give: a QUESTION reply, or the verdict of a leading choice word. A leading
    "Answer:" label (markdown too) is not part of the reply."""
    rule = MODE_RULES[mode]
    labelled = _ANSWER_LABEL.match(prose)
    if labelled and prose[labelled.end():].strip():
        prose = prose[labelled.end():].strip()
        warnings.append("removed an \"Answer:\" label before the prose")
    if rule.prose is not None:
        return rule.prose(prose, warnings)  # prose is this mode's published answer format: no warning
    if rule.prose_reply and prose:
        warnings.append("the answer is prose, not JSON; used it as the reply")
        return ParsedAnswer(answer=prose)
    steps = numbered_steps(prose) if rule.prose_steps else []
    if steps:
        warnings.append(f"no usable JSON; read the plan from a numbered list of {len(steps)} step(s), without a "
                        "feasibility verdict")
        return ParsedAnswer(subtasks=_as_subtasks(steps, "subtasks", warnings), answer=prose)
    if rule.prose_verdict:
        leading = _LEADING_VERDICT.match(prose)
        verdict = VERDICT_WORDS.get(re.sub(r"\s+", " ", leading.group(1).lower())) if leading else None
        parsed = ParsedAnswer(feasibility=Feasibility(verdict=verdict or Verdict.UNKNOWN, explanation=prose),
                              answer=prose)
    elif rule.prose_completion:
        leading = _LEADING_COMPLETION.match(prose)
        word = re.sub(r"\s+", " ", leading.group(1).lower()) if leading else ""
        completion = Completion.NOT_DONE if word in _UNSURE_COMPLETION else COMPLETION_WORDS.get(word)
        parsed = ParsedAnswer(completion=completion or Completion.UNKNOWN, answer=prose)
    else:
        return None
    if leading is None or not rule.satisfied(parsed, {}):
        return None
    warnings.append(f"no usable JSON; took the verdict from the leading {leading.group(1)!r} of the prose")
    return parsed
