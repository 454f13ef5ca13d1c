"""The parser against realistic Cosmos Reason outputs: clean ones, and every way they go wrong.

Each table row states what must come out (ok, verdict, confidence, completion, subtasks, answer, whether
repairs were reported), so a regression shows as a changed field, not just as an exception.
"""
from __future__ import annotations

import ast
import builtins
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cosmos_reason_ros.core.answers import parsing
from cosmos_reason_ros.core.answers.parsing import extract_json, parse_output, split_reasoning
from cosmos_reason_ros.core.datatypes import (
    CONFIDENCE_UNKNOWN,
    SCORE_UNKNOWN,
    Completeness,
    Completion,
    Dispatch,
    Mode,
    Observed,
    ParsedAnswer,
    Plausibility,
    Verdict,
)
from cosmos_reason_ros.core.models.families import FAMILIES, REASON1, REASON2, ModelFamily
from cosmos_reason_ros.core.modes.skills import NO_CONTEXT, PlanContext
from helpers.parse_cases import classes
from helpers.plan_serialisation import assert_fits_ros

THINK = "<think>\nThe video shows a red mug on the table, 40 cm from the gripper. The arm can reach it.\n</think>\n\n"

PLAN = {
    "subtasks": [
        {
            "action": "pick",
            "description": "Pick up the red mug by its handle.",
            "targets": ["red mug"],
            "preconditions": ["gripper is empty"],
            "success_criterion": "the mug is lifted off the table",
            "feasibility_note": "",
        },
        {
            "action": "place",
            "description": "Place the mug on the shelf.",
            "targets": ["red mug", "shelf"],
            "preconditions": ["mug is held"],
            "success_criterion": "the mug rests on the shelf",
            "feasibility_note": "shelf is at the edge of the arm's reach",
        },
    ],
    "feasible": "yes",
    "confidence": 0.9,
    "blocking_factors": [],
    "explanation": "Both objects are within reach and the mug is light.",
    "answer": "Pick the mug and put it on the shelf.",
}
PLAN_JSON = json.dumps(PLAN, indent=2)
INFEASIBLE = (
    '{"feasible": "no", "confidence": 0.8, "blocking_factors": ["the box weighs more than the arm can lift"], '
    '"explanation": "The box is too heavy.", "answer": "Cannot lift the box."}'
)
PICK_STEP = {"action": "pick", "description": "Pick up the sponge.", "targets": ["sponge"], "preconditions": [],
             "success_criterion": "the sponge is in the gripper", "feasibility_note": ""}


@dataclass
class Case:
    """One model output and everything the parser must conclude from it."""

    family: ModelFamily
    mode: Mode
    text: str
    ok: bool = True
    verdict: Verdict = Verdict.UNKNOWN
    confidence: float = CONFIDENCE_UNKNOWN
    completion: Completion = Completion.UNKNOWN
    subtasks: list[dict] = field(default_factory=list)  # per step, the fields that must match
    answer: str | None = None  # exact parsed answer, when it matters
    blocking: list[str] | None = None
    warned: bool | str = False  # False: no warnings; True: some; str: one containing this
    error: str = ""  # substring of the error (failures only)
    reasoning: str | None = None  # substring of the reasoning
    answer_text: str | None = None  # substring of the raw answer text
    stop: str = ""  # the backend's stop reason ("" = unknown, as when the parser is used alone)
    accept_partial: bool = False  # the opt-in that accepts a salvaged plan
    completeness: Completeness | None = None  # None: COMPLETE when ok, NONE when not
    explanation: str | None = None  # exact feasibility explanation, when it matters
    critique: dict | None = None  # Mode.CRITIC: expected plausible, score, findings [(name, anomaly)]
    objects: list | None = None  # located objects [(label, box, point)] in model coordinates; None = none
    observed: Observed | None = None  # Mode.WATCH: the expected yes/no
    context: PlanContext = NO_CONTEXT  # the skill library and history the prompt gave (DECOMPOSE, NEXT_ACTION)
    dispatch: Dispatch = Dispatch.NOT_CHECKED  # the plan's expected dispatch verdict


PLAN_STEPS = [
    {"index": 0, "action": "pick", "target_objects": ["red mug"], "preconditions": ["gripper is empty"],
     "success_criterion": "the mug is lifted off the table"},
    {"index": 1, "action": "place", "target_objects": ["red mug", "shelf"],
     "feasibility_note": "shelf is at the edge of the arm's reach"},
]

CASES: dict[str, Case] = {
    # --- clean outputs, both families, every mode --------------------------------------------------------
    "r1_decompose_clean": Case(REASON1, Mode.DECOMPOSE, f"{THINK}<answer>\n{PLAN_JSON}\n</answer>",
                               verdict=Verdict.FEASIBLE, confidence=0.9, subtasks=PLAN_STEPS,
                               answer="Pick the mug and put it on the shelf.", reasoning="40 cm from the gripper"),
    "r2_decompose_clean": Case(REASON2, Mode.DECOMPOSE, f"{THINK}{PLAN_JSON}", verdict=Verdict.FEASIBLE,
                               confidence=0.9, subtasks=PLAN_STEPS, blocking=[]),
    "r2_feasibility_infeasible": Case(REASON2, Mode.FEASIBILITY, THINK + INFEASIBLE, verdict=Verdict.INFEASIBLE,
                                      confidence=0.8, blocking=["the box weighs more than the arm can lift"],
                                      answer="Cannot lift the box."),
    "r1_feasibility_uncertain": Case(
        REASON1, Mode.FEASIBILITY,
        THINK + '<answer>{"feasible": "uncertain", "confidence": 0.4, "blocking_factors": ["the cup is occluded"], '
        '"explanation": "The cup is hidden behind the box."}</answer>',
        verdict=Verdict.UNCERTAIN, confidence=0.4, answer="The cup is hidden behind the box."),
    "r2_next_action_clean": Case(REASON2, Mode.NEXT_ACTION,
                                 THINK + json.dumps({"next_action": PICK_STEP, "answer": "Pick up the sponge."}),
                                 subtasks=[{"index": 0, "action": "pick", "description": "Pick up the sponge.",
                                            "target_objects": ["sponge"]}], answer="Pick up the sponge."),
    "r1_verify_done": Case(REASON1, Mode.VERIFY_COMPLETION,
                           THINK + '<answer>{"completed": "yes", "answer": "The mug is on the shelf."}</answer>',
                           completion=Completion.DONE, answer="The mug is on the shelf."),
    "r2_question_clean": Case(REASON2, Mode.QUESTION, THINK + '{"answer": "Three cups are on the table."}',
                              answer="Three cups are on the table."),
    "r2_no_think_open_tag": Case(REASON2, Mode.FEASIBILITY, "The arm reaches the shelf.\n</think>\n\n" + INFEASIBLE,
                                 verdict=Verdict.INFEASIBLE, confidence=0.8, reasoning="The arm reaches the shelf."),
    "r2_answer_tags_tolerated": Case(REASON2, Mode.VERIFY_COMPLETION,
                                     THINK + '<answer>{"completed": "no", "answer": "The drawer is open."}</answer>',
                                     completion=Completion.NOT_DONE),
    # --- reasoning/answer split failures ----------------------------------------------------------------
    "no_closing_think_truncated": Case(REASON2, Mode.DECOMPOSE,
                                       "<think>\nFirst the robot must open the drawer. Then it should",
                                       ok=False, warned="never closed", error="no answer",
                                       reasoning="open the drawer"),
    "no_closing_think_json_in_reasoning": Case(REASON2, Mode.FEASIBILITY, "<think>\nThe box is heavy.\n" + INFEASIBLE,
                                               verdict=Verdict.INFEASIBLE, confidence=0.8, warned="last JSON object"),
    "r1_missing_answer_close": Case(REASON1, Mode.FEASIBILITY, THINK + "<answer>\n" + INFEASIBLE,
                                    verdict=Verdict.INFEASIBLE, confidence=0.8, warned="no </answer>"),
    "r1_missing_answer_tag": Case(REASON1, Mode.FEASIBILITY, THINK + INFEASIBLE, verdict=Verdict.INFEASIBLE,
                                  confidence=0.8, warned="no <answer>"),
    "r1_answer_without_think_close": Case(REASON1, Mode.VERIFY_COMPLETION,
                                          '<think>\nThe lid is on.\n<answer>{"completed": "yes"}</answer>',
                                          completion=Completion.DONE, warned="no </think>", reasoning="The lid is on."),
    "repeated_think_blocks": Case(REASON2, Mode.QUESTION,
                                  '<think>a</think>\n<think>b</think>\n{"answer": "The door is closed."}',
                                  answer="The door is closed.", warned="several </think>"),
    "empty_answer_after_think": Case(REASON2, Mode.DECOMPOSE, THINK, ok=False, error="no answer"),
    # --- JSON defects -----------------------------------------------------------------------------------
    # Truncated answers: PARSE_FAILED by default, the salvaged plan holds only finished elements.
    "truncated_mid_string": Case(REASON2, Mode.DECOMPOSE, THINK + PLAN_JSON[: PLAN_JSON.index("on the shelf.")],
                                 ok=False, error="truncated", completeness=Completeness.PARTIAL,
                                 subtasks=[{"index": 0, "action": "pick"}], warned="closed truncated JSON"),
    "truncated_mid_array": Case(REASON2, Mode.FEASIBILITY,
                                THINK + '{"feasible": "no", "confidence": 0.7, "blocking_factors": '
                                '["the drawer is locked", "the hand', ok=False, error="truncated",
                                completeness=Completeness.PARTIAL, verdict=Verdict.INFEASIBLE, confidence=0.7,
                                blocking=["the drawer is locked"], warned="closed truncated JSON"),
    "truncated_after_key": Case(REASON1, Mode.FEASIBILITY,
                                THINK + '<answer>{"feasible": "yes", "blocking_factors": [], "confidence": ',
                                ok=False, error="truncated", completeness=Completeness.PARTIAL,
                                verdict=Verdict.FEASIBLE, blocking=[], warned="closed truncated JSON"),
    "truncated_between_subtasks": Case(REASON2, Mode.DECOMPOSE,
                                       THINK + '{"subtasks": [' + json.dumps(PICK_STEP) + ', {"action": ',
                                       ok=False, error="truncated", completeness=Completeness.PARTIAL,
                                       subtasks=[{"index": 0, "action": "pick", "description": "Pick up the sponge."}],
                                       warned="closed truncated JSON"),
    "prose_instead_of_json": Case(REASON2, Mode.DECOMPOSE,
                                  THINK + "First pick up the mug, then place it on the shelf.", ok=False,
                                  error="no JSON object", answer_text="First pick up the mug"),
    "prose_yes_feasibility": Case(REASON2, Mode.FEASIBILITY,
                                  THINK + "Yes, the arm can reach the cup and lift it.", verdict=Verdict.FEASIBLE,
                                  answer="Yes, the arm can reach the cup and lift it.", warned="leading 'Yes'"),
    "prose_no_verify": Case(REASON1, Mode.VERIFY_COMPLETION,
                            THINK + "<answer>No. The drawer is still open.</answer>",
                            completion=Completion.NOT_DONE, warned="leading 'No'"),
    "prose_unclear_feasibility": Case(REASON2, Mode.FEASIBILITY,
                                      THINK + "It depends on how heavy the box is.", ok=False,
                                      error="no JSON object", answer_text="It depends"),
    "prose_question": Case(REASON1, Mode.QUESTION, THINK + "<answer>The mug is red.</answer>",
                           answer="The mug is red.", warned="prose"),
    "text_around_json": Case(REASON2, Mode.FEASIBILITY,
                             THINK + "Here is my judgment:\n" + INFEASIBLE + "\nI hope this helps.",
                             verdict=Verdict.INFEASIBLE, confidence=0.8, warned="ignored text before"),
    "code_fence": Case(REASON2, Mode.DECOMPOSE, THINK + "```json\n" + PLAN_JSON + "\n```", verdict=Verdict.FEASIBLE,
                       confidence=0.9, subtasks=PLAN_STEPS, warned="code fence"),
    "trailing_commas": Case(REASON1, Mode.FEASIBILITY,
                            THINK + '<answer>{"feasible": "no", "blocking_factors": ["out of reach",], '
                            '"confidence": 0.6,}</answer>', verdict=Verdict.INFEASIBLE, confidence=0.6,
                            blocking=["out of reach"], warned="trailing commas"),
    "two_objects_first_wins": Case(REASON2, Mode.VERIFY_COMPLETION,
                                   THINK + '{"completed": "no", "answer": "first"}\n{"completed": "yes"}',
                                   completion=Completion.NOT_DONE, answer="first", warned="ignored text after"),
    "brace_in_prose_before_json": Case(REASON2, Mode.QUESTION,
                                       THINK + 'The format is {answer}.\n{"answer": "Two bowls."}',
                                       answer="Two bowls.", warned="ignored text before"),
    "single_quotes_and_python_literals": Case(
        REASON2, Mode.FEASIBILITY,
        THINK + "{'feasible': True, 'confidence': None, 'blocking_factors': [], "
        "'explanation': 'The robot's gripper fits the handle'}",
        verdict=Verdict.FEASIBLE, answer="The robot's gripper fits the handle", warned="single-quoted"),
    "python_literal_completed": Case(REASON1, Mode.VERIFY_COMPLETION,
                                     THINK + '<answer>{"completed": True, "answer": "Done."}</answer>',
                                     completion=Completion.DONE, warned="Python literals"),
    # --- wrong types and synonyms -----------------------------------------------------------------------
    "wrong_types_coerced": Case(
        REASON2, Mode.DECOMPOSE,
        THINK + '{"subtasks": ["Open the drawer", {"action": "Grasp", "description": "Grasp the spoon", '
        '"targets": "spoon", "preconditions": "drawer is open"}], "feasible": true, "confidence": "85%", '
        '"blocking_factors": "none visible", "answer": "Open the drawer, then grasp the spoon."}',
        verdict=Verdict.FEASIBLE, confidence=0.85, blocking=["none visible"], warned=True,
        subtasks=[{"index": 0, "description": "Open the drawer", "action": "", "target_objects": []},
                  {"index": 1, "action": "grasp", "target_objects": ["spoon"], "preconditions": ["drawer is open"]}]),
    "confidence_percent_number": Case(REASON2, Mode.FEASIBILITY,
                                      THINK + '{"feasible": "not feasible", "confidence": 85}',
                                      verdict=Verdict.INFEASIBLE, confidence=0.85, warned="percentage"),
    "confidence_word": Case(REASON2, Mode.FEASIBILITY, THINK + '{"feasible": "possible", "confidence": "high"}',
                            verdict=Verdict.FEASIBLE, warned="not a number"),
    "confidence_out_of_range": Case(REASON2, Mode.FEASIBILITY, THINK + '{"feasible": "maybe", "confidence": 7000}',
                                    verdict=Verdict.UNCERTAIN, warned="out of range"),
    "confidence_numeric_string": Case(REASON1, Mode.FEASIBILITY,
                                      THINK + '<answer>{"Feasible": "Yes", "Confidence": "0.75"}</answer>',
                                      verdict=Verdict.FEASIBLE, confidence=0.75, warned="as a number"),
    "subtask_without_description": Case(REASON2, Mode.DECOMPOSE,
                                        THINK + '{"subtasks": [{"action": "push", "targets": ["green block"]}]}',
                                        subtasks=[{"index": 0, "description": "push green block"}],
                                        warned="no description"),
    # An impossible task has no steps: the verdict is the answer.
    "decompose_empty_subtasks": Case(REASON2, Mode.DECOMPOSE, THINK + '{"subtasks": [], "feasible": "no"}',
                                     verdict=Verdict.INFEASIBLE),
    "feasibility_missing_verdict": Case(REASON2, Mode.FEASIBILITY, THINK + '{"explanation": "The cup is far."}',
                                        ok=False, error='"feasible" verdict'),
    "feasibility_unknown_word": Case(REASON2, Mode.FEASIBILITY, THINK + '{"feasible": "banana"}', ok=False,
                                     error='"feasible" verdict', warned="unrecognised"),
    "next_action_from_subtasks": Case(REASON2, Mode.NEXT_ACTION, THINK + json.dumps({"subtasks": [PICK_STEP]}),
                                      subtasks=[{"index": 0, "action": "pick"}], warned='from "subtasks"'),
    "next_action_as_string": Case(REASON1, Mode.NEXT_ACTION,
                                  THINK + '<answer>{"next_action": "Close the gripper"}</answer>',
                                  subtasks=[{"index": 0, "description": "Close the gripper", "action": ""}],
                                  warned="plain text"),
    "next_action_missing": Case(REASON2, Mode.NEXT_ACTION, THINK + '{"answer": "wait"}', ok=False,
                                error='"next_action" step'),
    "verify_synonym": Case(REASON2, Mode.VERIFY_COMPLETION, THINK + '{"completed": "done"}',
                           completion=Completion.DONE, warned="read 'done'"),
    "verify_unrecognised": Case(REASON2, Mode.VERIFY_COMPLETION, THINK + '{"completed": "partially"}', ok=False,
                                error='"completed" judgment', warned="unrecognised"),
    "question_json_without_answer": Case(REASON2, Mode.QUESTION, THINK + '{"reply": "blue"}',
                                         answer='{"reply": "blue"}', warned='no "answer"'),
    # --- hostile or broken text -------------------------------------------------------------------------
    "special_tokens": Case(REASON2, Mode.QUESTION,
                           "<|im_start|>assistant\n" + THINK + '{"answer": "A mug."}<|im_end|>\n<|endoftext|>',
                           answer="A mug.", warned="special tokens"),
    "text_after_end_of_turn": Case(REASON2, Mode.QUESTION,
                                   THINK + '{"answer": "A mug."}<|im_end|>\n<|im_start|>user\nmore?',
                                   answer="A mug.", warned="after the end-of-turn"),
    "final_end_of_turn_is_silent": Case(REASON1, Mode.VERIFY_COMPLETION,
                                        THINK + '<answer>{"completed": "no"}</answer><|im_end|>\n<|endoftext|>',
                                        completion=Completion.NOT_DONE),
    "empty_output": Case(REASON1, Mode.DECOMPOSE, "", ok=False, error="empty", warned="empty"),
    "whitespace_only": Case(REASON2, Mode.FEASIBILITY, " \n\t \n", ok=False, error="empty", warned="empty"),
    "garbage_bytes": Case(REASON2, Mode.DECOMPOSE, "\x00\x07\ufffd\ud800ÿþ\x1b[31m{{{{]]", ok=False,
                          warned="never closed"),
    "unicode_values": Case(REASON2, Mode.QUESTION, THINK + '{"answer": "杯子在桌子上 ☕ \\u00e9"}',
                           answer="杯子在桌子上 ☕ é"),
    "brace_inside_string": Case(REASON2, Mode.FEASIBILITY,
                                THINK + '{"explanation": "the lid { is stuck", "feasible": "no"}',
                                verdict=Verdict.INFEASIBLE, answer="the lid { is stuck"),
    "nested_braces_in_strings": Case(REASON1, Mode.QUESTION,
                                     THINK + '<answer>{"answer": "send {\\"cmd\\": {\\"go\\": 1}} } ]"}</answer>',
                                     answer='send {"cmd": {"go": 1}} } ]'),
    "injection_as_plain_text": Case(REASON2, Mode.QUESTION,
                                    THINK + '{"answer": "__import__(\'os\').system(\'touch /tmp/pwned\')"}',
                                    answer="__import__('os').system('touch /tmp/pwned')"),
    "injection_unquoted": Case(REASON2, Mode.FEASIBILITY,
                               THINK + '{"feasible": __import__("os").system("echo pwned")}', ok=False,
                               error="could not be parsed"),
    "deep_nesting": Case(REASON2, Mode.DECOMPOSE, THINK + "[" * 50000 + "{" * 20000, ok=False,
                         error="could not be parsed", answer_text="[[[["),
}

CLASSES: dict[str, dict[str, Case]] = classes(Case)  # the output classes, at least three rows each
ALL_CASES: dict[str, Case] = dict(CASES)
for _rows in CLASSES.values():
    assert not _rows.keys() & ALL_CASES.keys()
    ALL_CASES.update(_rows)


def _check_subtask_fields(parsed: ParsedAnswer, expected: list[dict]) -> None:
    assert len(parsed.subtasks) == len(expected)
    for step, fields in zip(parsed.subtasks, expected, strict=False):
        assert step.description, "every subtask has a description"
        for name, value in fields.items():
            assert getattr(step, name) == value, (name, getattr(step, name))


def parse_case(case: Case):
    return parse_output(case.text, case.family, case.mode, stop_reason=case.stop, accept_partial=case.accept_partial,
                        context=case.context)


@pytest.mark.parametrize("case", ALL_CASES.values(), ids=ALL_CASES.keys())
def test_parse_table(case: Case) -> None:
    outcome = parse_case(case)
    assert outcome.ok is case.ok, (outcome.error, outcome.warnings)
    expected_completeness = case.completeness or (Completeness.COMPLETE if case.ok else Completeness.NONE)
    assert outcome.completeness is expected_completeness
    parsed = outcome.parsed
    assert parsed.feasibility.verdict is case.verdict
    assert math.isclose(parsed.feasibility.confidence, case.confidence)
    assert parsed.completion is case.completion
    _check_subtask_fields(parsed, case.subtasks)
    if case.answer is not None:
        assert parsed.answer == case.answer
    if case.explanation is not None:
        assert parsed.feasibility.explanation == case.explanation
    if case.blocking is not None:
        assert parsed.feasibility.blocking_factors == case.blocking
    if case.warned is False:
        assert outcome.warnings == []
    elif case.warned is True:
        assert outcome.warnings
    else:
        assert any(case.warned in w for w in outcome.warnings), outcome.warnings
    if case.ok:
        assert outcome.error == ""
    else:
        assert case.error in outcome.error
        if outcome.completeness is Completeness.NONE:
            assert parsed == ParsedAnswer(), "a failed parse carries the empty default"
        else:
            assert parsed != ParsedAnswer(), "a truncated answer carries the salvaged plan"
    if case.critique is not None:
        critique = parsed.critique
        assert critique.plausible is case.critique.get("plausible", Plausibility.UNKNOWN)
        assert critique.score == case.critique.get("score", SCORE_UNKNOWN)
        assert [(f.name, f.anomaly) for f in critique.findings] == case.critique.get("findings", [])
    elif case.mode is Mode.CRITIC:
        assert parsed.critique.plausible is Plausibility.UNKNOWN
    located = [(o.label, o.box, o.point) for o in parsed.objects]
    assert located == (case.objects or []), located
    assert parsed.observation.answer is (case.observed or Observed.UNKNOWN)
    assert parsed.dispatch is case.dispatch, parsed.dispatch_problem
    assert bool(parsed.dispatch_problem) is (case.dispatch is Dispatch.BLOCKED)
    if case.reasoning is not None:
        assert case.reasoning in outcome.reasoning
    if case.answer_text is not None:
        assert case.answer_text in outcome.answer_text
    assert_fits_ros(outcome, case.mode)


def test_table_is_large_enough() -> None:
    assert len(ALL_CASES) >= 30
    assert {c.family for c in ALL_CASES.values()} == set(FAMILIES.values())
    assert {c.mode for c in ALL_CASES.values()} == set(Mode)
    for cases in CLASSES.values():
        assert len(cases) >= 3


# --- split_reasoning --------------------------------------------------------------------------------------


def test_split_reasoning_reason1() -> None:
    reasoning, answer, warnings = split_reasoning("<think>\nwhy\n</think>\n<answer>\n{}\n</answer>", REASON1)
    assert (reasoning, answer, warnings) == ("why", "{}", [])


def test_split_reasoning_reason2_keeps_answer_after_think() -> None:
    reasoning, answer, warnings = split_reasoning("<think>why</think>\n\nThe cup.", REASON2)
    assert (reasoning, answer, warnings) == ("why", "The cup.", [])


def test_split_reasoning_truncated_is_all_reasoning() -> None:
    reasoning, answer, warnings = split_reasoning("<think>step one, step tw", REASON1)
    assert reasoning == "step one, step tw" and answer == "" and warnings


def test_split_reasoning_ignores_text_outside_answer_tags() -> None:
    _, answer, warnings = split_reasoning("<think>x</think><answer>yes</answer> trailing", REASON1)
    assert answer == "yes" and any("outside" in w for w in warnings)


# --- extract_json -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected, repaired",
    [
        ('{"a": 1}', {"a": 1}, False),
        ('noise {"a": {"b": "}"}} tail', {"a": {"b": "}"}}, True),
        ('{"a": [1, 2,], }', {"a": [1, 2]}, True),
        # A string cut off is unfinished: dropped with its key, leaving nothing.
        ('{"a": "unterminated', None, True),
        ('{"a": "cut mid-escape\\', None, True),
        ('{"a": "caf\\u00', None, True),
        ('{"a": "ok", "b": "caf\\u00', {"a": "ok"}, True),
        ('{"a": "ok", "b": tru', {"a": "ok"}, True),
        ("{'a': 'it\\'s', 'b': 'say \"hi\"'}", {"a": "it's", "b": 'say "hi"'}, True),
        ('{"a": None, "b": False, "c": "True"}', {"a": None, "b": False, "c": "True"}, True),
        ('{bad} {"a": 2}', {"a": 2}, True),
    ],
)
def test_extract_json(text: str, expected: dict | None, repaired: bool) -> None:
    value, warnings = extract_json(text)
    assert value == expected
    assert bool(warnings) is repaired


def test_extract_json_never_returns_an_inner_object_of_a_broken_one() -> None:
    value, warnings = extract_json('{"feasible": "no", "detail": {"feasible": "yes"}, oops}')
    assert value is None and warnings


def test_extract_json_reports_missing_object() -> None:
    assert extract_json("just words") == (None, ["no JSON object in the answer"])


def test_brace_garbage_is_bounded_in_time() -> None:
    start = time.monotonic()
    for text in ("{" * 20000, "{[" * 10000, '{"a": "' + "}" * 20000, "{ x }" * 5000):
        parse_output(THINK + text, REASON2, Mode.DECOMPOSE)
    assert time.monotonic() - start < 10.0


# --- nothing model-written is ever evaluated --------------------------------------------------------------


def test_parser_source_uses_no_evaluation() -> None:
    tree = ast.parse(Path(parsing.__file__).read_text(encoding="utf-8"))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    assert not called & {"eval", "exec", "compile", "__import__", "getattr", "globals", "locals"}
    assert "literal_eval" not in attributes
    assert not imported & {"ast", "pickle", "yaml", "marshal", "subprocess", "os"}


def test_parser_works_with_evaluation_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("model output must never be evaluated")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(ast, "literal_eval", refuse)
    for case in ALL_CASES.values():
        assert parse_case(case).ok is case.ok


def test_payload_has_no_side_effect(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payloads = [
        f'{{"answer": __import__("os").system("touch {marker}")}}',
        f"{{'answer': __import__('os').system('touch {marker}')}}",
        f'{{"answer": "{{}}".__class__.__base__.__subclasses__(), "x": open("{marker}", "w")}}',
    ]
    for payload in payloads:
        outcome = parse_output(THINK + payload, REASON2, Mode.QUESTION)
        assert outcome.parsed.answer == payload, "unparseable JSON comes back as the literal text"
    assert not marker.exists()


def test_non_string_input_is_a_failed_parse_not_an_exception() -> None:
    outcome = parse_output(None, REASON2, Mode.QUESTION)  # type: ignore[arg-type]
    assert not outcome.ok
