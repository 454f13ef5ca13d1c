"""Model output → reasoning, answer text and a typed ParsedAnswer, without ever raising.

Steps: split the output into reasoning and answer blocks (``answer_text``); find the JSON objects in an
answer with a tolerant reader that repairs the usual defects and knows what the model finished
(``json_repair``); coerce the values into the plan types, per mode (``answer_fields``); make every string
fit a ROS message (``text_safety``). Every repair and coercion is reported as a warning, so a caller can
tell a clean answer from a salvaged one.

Policies (the same for both families):

* **Several answers.** Answer blocks are taken in the order written, and within a block the JSON objects
  in order; the first object that gives what the mode needs is the answer. Only when no block has one
  does prose count (the first block whose prose gives what the mode needs). Later answers are ignored,
  with a warning. Reasoning is never an answer, with one exception: an output whose answer is empty and whose
  reasoning *ends* in a complete JSON object, when generation stopped by itself.
* **Completeness.** An answer is complete when the model finished it: its JSON object closed (or, for
  prose, generation ended by itself or something followed it). A truncated answer (stop reason
  ``max_tokens``/``deadline``/``canceled`` before the answer ended, or an object closed only by the
  repair) is never ``ok`` by default: the outcome says where it was cut and how to avoid it, and
  ``parsed`` holds the salvaged partial plan, made only of elements the model finished (``completeness``
  PARTIAL). With ``accept_partial`` a salvaged plan that has what the mode needs is ``ok``, still PARTIAL.
* **Drafts.** JSON inside reasoning that was cut off, or that the model kept reasoning after, is a draft.

Model output is data: it is read by a reader that builds only plain values, never evaluated.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from cosmos_reason_ros.core.answers.bare_arrays import bare_array_as_objects
from cosmos_reason_ros.core.answers.fields import MODE_RULES, from_object, from_prose
from cosmos_reason_ros.core.answers.json_repair import (  # noqa: F401
    CUT_BEFORE_ANYTHING,
    extract_json,
    find_objects,
    no_object_reason,
    surroundings,
)
from cosmos_reason_ros.core.answers.text import AnswerBlock, clean, split_output
from cosmos_reason_ros.core.datatypes import (
    Completeness,
    Critique,
    CritiqueFinding,
    Feasibility,
    Mode,
    ParsedAnswer,
    ParseOutcome,
)
from cosmos_reason_ros.core.models.families import ModelFamily
from cosmos_reason_ros.core.modes.plausibility import finish_outcome
from cosmos_reason_ros.core.modes.skills import NO_CONTEXT, PLANNING_MODES, PlanContext, check_steps
from cosmos_reason_ros.core.text_safety import ros_safe

#: Stop reasons that end generation before the model did.
CUT_STOPS = ("max_tokens", "deadline", "canceled")


@dataclass
class _Reading:
    """What one answer block gave: usable content (possibly partial), or why not."""

    text: str
    parsed: ParsedAnswer | None = None
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    complete: bool = True  # nothing of what was read was cut off
    sufficient: bool = False  # has what the mode needs
    from_json: bool = False  # the content came from a JSON object (not from prose)


def _from_found(value: dict, mode: Mode, notes: list[str], asks_done: bool) -> tuple[ParsedAnswer, str]:
    """``from_object``, looking inside a lone wrapper object ({"response": {...}}) when the outer one lacks
    what the mode needs."""
    parsed, error = from_object(value, mode, notes, asks_done)
    inner = next(iter(value.values())) if len(value) == 1 else None
    if error and isinstance(inner, dict) and inner:
        inner_notes: list[str] = []
        unwrapped, inner_error = from_object(inner, mode, inner_notes, asks_done)
        if not inner_error:
            notes[:] = inner_notes + [f"read the answer inside the wrapper key {next(iter(value))!r:.40}"]
            return unwrapped, ""
    return parsed, error


def _read_block(block: AnswerBlock, mode: Mode, cut: bool, asks_done: bool) -> _Reading:
    """``_read_json_or_prose``; a bare JSON array of located objects (MODE_LOCATE) is read as the
    ``"objects"`` of an answer object, the block's own text kept for the plan's raw answer."""
    wrapped, note = bare_array_as_objects(block, mode)
    if note is None:
        return _read_json_or_prose(block, mode, cut, asks_done)
    reading = _read_json_or_prose(wrapped, mode, cut, asks_done)
    reading.text, reading.warnings = block.text, [note] + reading.warnings
    return reading


def _read_json_or_prose(block: AnswerBlock, mode: Mode, cut: bool, asks_done: bool) -> _Reading:
    """The first JSON object of the block that gives what ``mode`` needs, else what prose can give."""
    reading = _Reading(block.text)
    first_error, first_notes, objects = "", [], 0
    for found in find_objects(block.text):
        objects += 1
        if not found.complete and not found.value:
            return _Reading(block.text, None, CUT_BEFORE_ANYTHING, reading.warnings + found.repairs, complete=False)
        notes: list[str] = []
        parsed, error = _from_found(found.value, mode, notes, asks_done)
        notes = found.repairs + surroundings(block.text, found) + notes
        if not found.complete or not error:
            return _Reading(block.text, parsed, error, reading.warnings + notes, found.complete, not error, True)
        if not first_error:
            first_error, first_notes = error, notes
        reading.warnings.append(f"skipped a JSON object that lacks what {mode.name} needs")
    prose_complete = block.closed or not cut
    if objects:
        if mode is Mode.QUESTION and prose_complete:
            warnings = first_notes + ['the JSON had no "answer"; used the whole answer text as the reply']
            return _Reading(block.text, ParsedAnswer(answer=block.text), "", warnings, True, True)
        reading.warnings = first_notes + reading.warnings[1:]
    warnings = list(reading.warnings)
    from_text = from_prose(block.text, mode, warnings) if prose_complete else None
    if from_text is not None:
        return _Reading(block.text, from_text, "", warnings, True, True)
    if MODE_RULES[mode].prose is not None:  # prose is the mode's own format: say what it lacks, not "JSON"
        error = first_error or f"the answer lacks {MODE_RULES[mode].need}"
    else:
        error = first_error or f"{mode.name} needs a JSON answer: {no_object_reason(block.text)}"
    return _Reading(block.text, None, error, warnings, prose_complete)


def _cut_message(where: str, stop_reason: str, tokens: int | None, max_new_tokens: int | None) -> str:
    """Where the answer was cut, after how many tokens, and what to change."""
    after = f" after {tokens} tokens" if tokens is not None else ""
    if stop_reason == "deadline":
        return f"truncated{after}: the goal's deadline passed {where}; raise the goal's timeout (or goal_timeout)"
    if stop_reason == "canceled":
        return f"truncated{after}: the goal was canceled {where}"
    limit = f"={max_new_tokens}" if max_new_tokens else ""
    if stop_reason == "eos":  # the model ended its turn itself: a larger budget would change nothing
        budget = f" of a {max_new_tokens}-token budget" if max_new_tokens else ""
        return (f"the model ended its output by itself (end of sequence){after}{budget} {where}, without "
                "finishing its answer; a larger max_new_tokens will not help: ask again, or check the model "
                "(an untrained or mismatched checkpoint, or a chat template that does not fit it)")
    why = f" (generation hit max_new_tokens{limit})" if stop_reason == "max_tokens" else ""
    return (f"truncated{after}{why} {where}; raise max_new_tokens (the goal's max_new_tokens or the "
            "generation.max_new_tokens parameter) so the model can finish its answer")


def _from_reasoning(reasoning: str, mode: Mode, warnings: list[str],
                    asks_done: bool) -> tuple[ParsedAnswer | None, str]:
    """The answer when the model wrote none after its reasoning: only a complete object that ends it."""
    objects = [found for found in find_objects(reasoning) if found.complete]
    if not objects:
        return None, "no answer after the reasoning"
    last = objects[-1]
    if reasoning[last.end:].strip():
        return None, ("no answer after the reasoning (a JSON object inside the reasoning, followed by more "
                      "reasoning, is a draft, not the answer)")
    notes: list[str] = []
    parsed, error = from_object(last.value, mode, notes, asks_done)
    if error:
        return None, error
    warnings.extend(["the answer was empty; used the last JSON object in the reasoning, which ends the output",
                     *last.repairs, *notes])
    return parsed, ""


def _parse(text: str, family: ModelFamily, mode: Mode, stop_reason: str, tokens: int | None,
           max_new_tokens: int | None, accept_partial: bool, asks_done: bool) -> ParseOutcome:
    split = split_output(text, family)
    warnings, cut = split.warnings, stop_reason in CUT_STOPS or split.cut_tag

    def outcome(reading: _Reading | None, ok: bool, error: str = "", partial: bool = False,
                parsed: ParsedAnswer | None = None, truncated: bool = False) -> ParseOutcome:
        content = parsed if parsed is not None else (reading.parsed if reading and (ok or partial) else None)
        completeness = Completeness.NONE if content is None or content == ParsedAnswer() else (
            Completeness.PARTIAL if partial else Completeness.COMPLETE)
        return ParseOutcome(split.reasoning, reading.text if reading else "", content or ParsedAnswer(), ok,
                            error, warnings + (reading.warnings if reading else []), completeness,
                            partial or truncated)

    if not split.reasoning and not split.blocks:
        warnings.append("the output is empty")
        return outcome(None, False, "the model output is empty")
    readings: list[_Reading] = []
    for block in split.blocks:
        reading = _read_block(block, mode, cut, asks_done)
        readings.append(reading)
        if reading.sufficient and reading.complete and reading.from_json:
            break  # later blocks are not read at all
    chosen = next((r for r in readings if r.sufficient and r.complete and r.from_json), None)
    partial = next((r for r in readings if not r.complete), None)
    if chosen is None and partial is None:  # no usable JSON anywhere: the first usable prose answer
        chosen = next((r for r in readings if r.sufficient and r.complete), None)
    if chosen is not None:
        position = readings.index(chosen)
        later = len(split.blocks) - position - 1
        if later:
            warnings.append(f"ignored {later} later answer(s): the first usable answer counts")
        if position:
            warnings.append(f"skipped {position} earlier answer(s) that gave nothing usable")
        return outcome(chosen, True)
    if partial is not None:
        where = "inside the answer"
        if partial.parsed not in (None, ParsedAnswer()):
            where += ": the partial plan holds only the elements the model finished"
        message = _cut_message(where, stop_reason, tokens, max_new_tokens)
        # An empty salvage is never accepted (a cut "objects": [ reads as an empty list, not as "none seen").
        if accept_partial and partial.sufficient and partial.parsed not in (None, ParsedAnswer()):
            warnings.append(f"accepted a partial answer ({message})")
            return outcome(partial, True, partial=True)
        lacks = f"; even so it lacks {MODE_RULES[mode].need}" if partial.parsed is not None and partial.error else ""
        return outcome(partial, False, message + lacks, partial=True)
    if readings:
        first = readings[0]
        return outcome(first, False, first.error)
    if cut:
        return outcome(None, False, _cut_message("before the model wrote its answer",
                                                 stop_reason, tokens, max_new_tokens), truncated=True)
    parsed, error = _from_reasoning(split.reasoning, mode, warnings, asks_done)
    if parsed is None and split.tagless:  # a model that did not think at all: its prose is the answer
        parsed = from_prose(split.reasoning, mode, warnings)
        if parsed is not None:
            kept = [w for w in warnings if not w.startswith("no </think>")]
            return ParseOutcome("", split.reasoning, parsed, True, "", kept + ["no reasoning tags: read the output "
                                                                              "as the answer"])
    return outcome(None, parsed is not None, error, parsed=parsed)


def _safe_outcome(outcome: ParseOutcome) -> ParseOutcome:
    """Every string of the outcome as a ROS message can carry it (no NULs, no lone surrogates)."""
    changed = False

    def fix(text: str) -> str:
        nonlocal changed
        safe = ros_safe(text)
        changed = changed or safe is not text
        return safe

    def texts(items: list[str]) -> list[str]:
        return [fix(item) for item in items]

    parsed = outcome.parsed
    parsed.subtasks = [dataclasses.replace(
        s, description=fix(s.description), action=fix(s.action), target_objects=texts(s.target_objects),
        preconditions=texts(s.preconditions), success_criterion=fix(s.success_criterion),
        feasibility_note=fix(s.feasibility_note), object_indices=list(s.object_indices), skill=fix(s.skill),
        skill_written=fix(s.skill_written), skill_problem=fix(s.skill_problem),
        arguments=[dataclasses.replace(a, name=fix(a.name), text=fix(a.text), unit=fix(a.unit)) for a in s.arguments])
        for s in parsed.subtasks]
    parsed.dispatch_problem = fix(parsed.dispatch_problem)
    parsed.objects = [dataclasses.replace(o, label=fix(o.label), camera=fix(o.camera)) for o in parsed.objects]
    judgment = parsed.feasibility
    parsed.feasibility = Feasibility(judgment.verdict, judgment.confidence, fix(judgment.explanation),
                                     texts(judgment.blocking_factors))
    parsed.answer = fix(parsed.answer)
    critique = parsed.critique
    parsed.critique = Critique(critique.plausible, critique.scale, critique.score, critique.confidence,
                               [CritiqueFinding(fix(f.name), fix(f.analysis), f.anomaly) for f in critique.findings],
                               critique.runs, fix(critique.explanation))
    parsed.observation.explanation = fix(parsed.observation.explanation)
    outcome.reasoning, outcome.answer_text = fix(outcome.reasoning), fix(outcome.answer_text)
    outcome.error, outcome.warnings = fix(outcome.error), texts(outcome.warnings)
    if changed:
        outcome.warnings.append("replaced characters a ROS string cannot carry (NULs, lone surrogates)")
    return outcome


def split_reasoning(text: str, family: ModelFamily) -> tuple[str, str, list[str]]:
    """(reasoning, the first answer block's text, warnings) of one output, both trimmed."""
    split = split_output(text, family)
    warnings = split.warnings + ([] if split.reasoning or split.blocks else ["the output is empty"])
    return split.reasoning, split.blocks[0].text if split.blocks else "", warnings


def parse_output(text: str, family: ModelFamily, mode: Mode, *, stop_reason: str = "",
                 generated_tokens: int | None = None, max_new_tokens: int | None = None,
                 accept_partial: bool = False, context: PlanContext = NO_CONTEXT) -> ParseOutcome:
    """Turn one model output into a ParseOutcome for ``mode``.

    ``stop_reason`` is the backend's ("eos", "max_tokens", "deadline", "canceled"; "" when unknown);
    ``generated_tokens`` and ``max_new_tokens`` only shape the message of a truncated answer. Never
    raises: model output is untrusted, and a failed parse is an answer too (ok=False, ``error`` says why,
    the raw text stays in ``reasoning`` and ``answer_text``). ``context`` (DECOMPOSE, NEXT_ACTION): with a skill
    library every step is checked against it (``skills.check_steps``; a cut-off plan is never READY); with
    history the answer's "completed" says whether the task is already done.
    """
    try:
        if not isinstance(text, str) or not text.strip():
            empty = ParseOutcome("", "", ParsedAnswer(), False, "the model output is empty",
                                 ["the output is empty"], Completeness.NONE)
            return empty
        planning = Mode(mode) in PLANNING_MODES
        outcome = _parse(text, family, Mode(mode), stop_reason, generated_tokens, max_new_tokens, accept_partial,
                         planning and context.asks_done)
        if planning:
            outcome.warnings += check_steps(outcome.parsed, context.skills, outcome.completeness)
        if Mode(mode) is Mode.CRITIC:  # the findings live in the reasoning, outside any answer block
            outcome = finish_outcome(outcome, clean(text)[0], stop_reason)
        return _safe_outcome(outcome)
    except Exception as exc:  # a parser bug must not take the node down: report it as a failed parse
        raw = ros_safe(text) if isinstance(text, str) else ""
        return ParseOutcome("", raw, ParsedAnswer(), ok=False, error=f"internal parser error: {exc!r}",
                            completeness=Completeness.NONE)
