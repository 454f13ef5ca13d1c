"""Truncation fuzz: three good answers per mode, cut at every character, parsed as a node would see them.

The invariant: a successful outcome never holds a string that is a strict prefix of the full
answer's string at the same place, i.e. never a half-written step, factor or reply. Every cut is parsed
three ways: with stop reason max_tokens (what the backend reports), the same with the accept-partial
opt-in, and with no stop reason (the parser alone must still see that the JSON was closed by repair).
The parser never raises; every successful outcome survives rclpy serialisation; the slowest call is printed.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import Completeness, Mode, ParsedAnswer
from cosmos_reason_ros.core.models.families import COSMOS3, COSMOS3_EDGE, FAMILIES, REASON1, REASON2, ModelFamily
from helpers.plan_serialisation import assert_fits_ros

REASONING = "The cup is on the table within reach; the tray is to its left and nothing blocks the path."
STEP = {"action": "pick", "description": "Pick up the red cup by its handle.", "targets": ["red cup"],
        "preconditions": ["gripper is empty"], "success_criterion": "the cup is lifted off the table",
        "feasibility_note": "the cup is light"}
PLACE = dict(STEP, action="place", description="Place the cup on the tray.", targets=["red cup", "tray"],
             preconditions=["the cup is held"], success_criterion="the cup rests on the tray")

GOOD: dict[Mode, list[dict]] = {
    Mode.DECOMPOSE: [
        {"subtasks": [STEP, PLACE], "feasible": "yes", "confidence": 0.9, "blocking_factors": [],
         "explanation": "Both objects are within reach.", "answer": "Pick the cup, then place it on the tray."},
        {"subtasks": [STEP], "feasible": "uncertain", "confidence": 0.5,
         "blocking_factors": ["the handle may be hidden"], "explanation": "The handle faces away.",
         "answer": "Try to pick the cup."},
        {"subtasks": [], "feasible": "no", "confidence": 0.8, "blocking_factors": ["the cup is behind glass",
                                                                                    "the door is locked"],
         "explanation": "The cabinet is locked.", "answer": "Not possible."},
    ],
    Mode.FEASIBILITY: [
        {"feasible": "no", "confidence": 0.75, "blocking_factors": ["the box weighs more than the arm can lift"],
         "explanation": "The box is too heavy.", "answer": "Cannot lift the box."},
        {"feasible": "yes", "confidence": 0.95, "blocking_factors": [], "explanation": "The cup is close.",
         "answer": "The arm can reach the cup."},
        {"feasible": "uncertain", "confidence": 0.4, "blocking_factors": ["the cup is occluded by the box"],
         "explanation": "The cup is hidden.", "answer": "Cannot tell."},
    ],
    Mode.NEXT_ACTION: [
        {"next_action": STEP, "answer": "Pick up the red cup."},
        {"next_action": PLACE, "answer": "Place the cup on the tray."},
        {"next_action": dict(STEP, action="open", description="Open the cabinet door.", targets=["door"]),
         "answer": "Open the door first."},
    ],
    Mode.VERIFY_COMPLETION: [
        {"completed": "yes", "answer": "The cup rests on the tray in the last frame."},
        {"completed": "no", "answer": "The cup is still on the table."},
        {"completed": "no", "answer": "The drawer is open but the spoon is still inside."},
    ],
    Mode.QUESTION: [
        {"answer": "There are three cups on the table."},
        {"answer": "The red cup is to the left of the tray."},
        {"answer": "The gripper is empty and open."},
    ],
    Mode.LOCATE: [
        {"objects": [{"label": "red cup", "bbox_2d": [412, 300, 520, 488], "point_2d": [466, 394]},
                     {"label": "tray", "bbox_2d": [600, 420, 930, 610], "confidence": 0.85}],
         "answer": "The cup is left of the tray."},
        {"objects": [{"label": "mug", "camera": "wrist", "bbox_2d": [120, 96, 233, 250]}], "answer": "Near the edge."},
        {"objects": [{"label": "left handle", "point_2d": [250, 480]}, {"label": "lid", "box_2d": [10, 20, 300, 400]}],
         "answer": "The handle is on the left."},
    ],
}


def render(family: ModelFamily, answer: dict, variant: int) -> str:
    body = json.dumps(answer, indent=2 if variant % 2 == 0 else None)
    think = f"<think>\n{REASONING}\n</think>\n\n"
    return think + (f"<answer>\n{body}\n</answer>" if family.answer_in_tags else body)


def strings(parsed: ParsedAnswer) -> Iterator[tuple[str, str]]:
    """Every string of a parsed answer, with its place."""
    yield "answer", parsed.answer
    yield "explanation", parsed.feasibility.explanation
    for i, factor in enumerate(parsed.feasibility.blocking_factors):
        yield f"blocking[{i}]", factor
    for i, obj in enumerate(parsed.objects):
        yield f"object[{i}].label", obj.label
        yield f"object[{i}].camera", obj.camera
    for i, step in enumerate(parsed.subtasks):
        for name in ("description", "action", "success_criterion", "feasibility_note"):
            yield f"step[{i}].{name}", getattr(step, name)
        for name in ("target_objects", "preconditions"):
            for j, text in enumerate(getattr(step, name)):
                yield f"step[{i}].{name}[{j}]", text


CASES = [(mode, i) for mode in GOOD for i in range(len(GOOD[mode]))]


@pytest.mark.parametrize("mode, index", CASES, ids=[f"{m.name}-{i}" for m, i in CASES])
def test_a_truncated_answer_never_succeeds_with_a_half_written_string(mode: Mode, index: int) -> None:
    family = tuple(FAMILIES.values())[(index + list(GOOD).index(mode)) % len(FAMILIES)]
    text = render(family, GOOD[mode][index], index)
    full = parse_output(text, family, mode, stop_reason="eos")
    assert full.ok and full.completeness is Completeness.COMPLETE and not full.warnings, full
    whole = dict(strings(full.parsed))
    slowest, slowest_at, successes, partial_successes = 0.0, (0, ""), 0, 0
    for cut in range(len(text)):
        prefix = text[:cut]
        for stop, accept in (("max_tokens", False), ("max_tokens", True), ("", False)):
            started = time.perf_counter()
            outcome = parse_output(prefix, family, mode, stop_reason=stop, accept_partial=accept)
            elapsed = time.perf_counter() - started
            if elapsed > slowest:
                slowest, slowest_at = elapsed, (cut, stop or "unknown")
            assert "internal parser error" not in outcome.error, (cut, outcome.error)
            if not outcome.ok:
                continue
            assert_fits_ros(outcome, mode)
            for place, value in strings(outcome.parsed):
                original = whole.get(place)
                assert not (value and original and original != value and original.startswith(value)), (
                    f"cut at {cut} ({stop or 'no'} stop reason): {place} is half-written: {value!r}")
            # A located object is whole or absent: its numbers are never those of a cut-off box or point.
            assert outcome.parsed.objects == full.parsed.objects[:len(outcome.parsed.objects)], (cut, stop)
            if outcome.completeness is Completeness.COMPLETE:
                assert outcome.parsed == full.parsed, (cut, stop)
                successes += 1
            else:
                assert accept and outcome.completeness is Completeness.PARTIAL, (cut, stop, accept)
                partial_successes += 1
    assert successes < 3 * len(text), "some cuts must fail: the fuzz would not test anything"
    print(f"\n[truncation fuzz] {mode.name} #{index} ({family.name}, {len(text)} cuts x 3): slowest call "
          f"{slowest * 1e3:.2f} ms at cut {slowest_at[0]} (stop {slowest_at[1]}); {successes} complete and "
          f"{partial_successes} opted-in partial successes")


# --- Mode.CRITIC: the same invariant for the critic's own formats --------------------------------------------

CRITIC_GOOD: list[tuple[ModelFamily, str]] = [
    (REASON1, "<think>\n<overview>The arm pushes a box across the table.</overview>\n"
              '<component name="box"><analysis>The box slides without tipping.</analysis><anomaly>No</anomaly>'
              '</component>\n<component name="arm"><analysis>The arm passes through the box.</analysis>'
              "<anomaly>Yes</anomaly></component>\n</think>\n\n<answer>\nYes\n</answer>"),
    (REASON2, "<think>\nThe box slides smoothly and nothing flickers.\n</think>\n\n"
              "Score: 4 - it looks physically right"),
    (REASON1, '<think>\n<component name="cup"><analysis>The cup stays put.</analysis><anomaly>No</anomaly>'
              "</component>\n</think>\n<answer>No</answer>"),
    (COSMOS3, "<think>\nThe box rises with nothing lifting it.\n</think>\n\n(B) Impossible - the box floats up"),
    (COSMOS3_EDGE, "The box slides and stops against the wall.\n</think>\n\nA"),  # <think> opened by the template
]


@pytest.mark.parametrize("index", range(len(CRITIC_GOOD)))
def test_a_truncated_critique_never_succeeds_with_a_different_or_half_written_verdict(index: int) -> None:
    family, text = CRITIC_GOOD[index]
    full = parse_output(text, family, Mode.CRITIC, stop_reason="eos")
    assert full.ok and full.completeness is Completeness.COMPLETE and not full.warnings, full
    whole = {f.name: f for f in full.parsed.critique.findings}
    successes = 0
    for cut in range(len(text)):
        for stop, accept in (("max_tokens", False), ("max_tokens", True), ("", False)):
            outcome = parse_output(text[:cut], family, Mode.CRITIC, stop_reason=stop, accept_partial=accept)
            assert "internal parser error" not in outcome.error, (cut, outcome.error)
            for finding in outcome.parsed.critique.findings:  # kept findings are whole, success or not
                assert whole.get(finding.name) == finding, (cut, stop, finding)
            if not outcome.ok:
                continue
            assert_fits_ros(outcome, Mode.CRITIC)
            critique = outcome.parsed.critique
            assert (critique.plausible, critique.score) == (full.parsed.critique.plausible,
                                                            full.parsed.critique.score), (cut, stop, accept)
            # With no stop reason, prose that ends the output counts as finished (the parser's policy for every
            # mode): the verdict is still whole; the reason after it is only checked when the cut is known.
            assert stop == "" or not (full.parsed.answer != outcome.parsed.answer and full.parsed.answer.startswith(
                outcome.parsed.answer) and outcome.parsed.answer), (cut, stop, outcome.parsed.answer)
            successes += 1
    assert successes < 3 * len(text), "some cuts must fail: the fuzz would not test anything"
    print(f"\n[truncation fuzz] CRITIC #{index} ({family.name}, {len(text)} cuts x 3): {successes} successes")


# --- Cosmos 3's numbered-list plan: a cut list is never a plan -------------------------------------------------

def test_a_truncated_numbered_list_plan_never_succeeds_with_a_half_written_step() -> None:
    text = ("<think>\nThe cup is in reach.\n</think>\n\n1. Pick up the red cup by its handle.\n"
            "2. Carry it to the tray.\n3. Place it on the tray.")
    full = parse_output(text, COSMOS3, Mode.DECOMPOSE, stop_reason="eos")
    assert full.ok and [s.description for s in full.parsed.subtasks] == [
        "Pick up the red cup by its handle.", "Carry it to the tray.", "Place it on the tray."]
    successes = 0
    for cut in range(len(text)):
        outcome = parse_output(text[:cut], COSMOS3, Mode.DECOMPOSE, stop_reason="max_tokens")
        assert "internal parser error" not in outcome.error, (cut, outcome.error)
        successes += outcome.ok  # a cut is known here: prose that ends a cut output is never read as finished
    assert successes == 0


# --- steps in skills: a cut-off argument is never dispatchable ---------------------------------------------

SKILL_GOOD: list[tuple[Mode, dict]] = [
    (Mode.DECOMPOSE, {"subtasks": [
        {"skill": "grab", "arguments": {"object": "red cup", "grip": "firm"}, "description": "Grip the cup.",
         "success_criterion": "the cup is lifted"},
        {"skill": "place", "arguments": {"object": "red cup", "location": "the tray by the sink", "height": 0.125},
         "description": "Put the cup on the tray."}], "feasible": "yes", "answer": "Grip, then place."}),
    (Mode.NEXT_ACTION, {"next_action": {"skill": "place", "arguments": {"location": "tray", "object": "mug",
                                                                        "height": 0.25},
                                        "description": "Put the mug down."}, "answer": "Place the mug."}),
]


@pytest.mark.parametrize("index", range(len(SKILL_GOOD)))
def test_a_truncated_plan_in_skills_is_never_dispatchable_with_a_cut_argument(index: int) -> None:
    """Every cut of an answer in skills: a plan that says READY is the whole plan, every argument as written in
    full; a salvaged (partial) plan is BLOCKED; every kept argument is whole (never "0.1" of "0.125")."""
    from cosmos_reason_ros.core.datatypes import Dispatch
    from helpers.parse_cases import IN_SKILLS

    mode, answer = SKILL_GOOD[index]
    family = (REASON1, REASON2)[index % 2]
    text = render(family, answer, index)
    full = parse_output(text, family, mode, stop_reason="eos", context=IN_SKILLS)
    assert full.ok and full.parsed.dispatch is Dispatch.READY, full
    whole = {(s.index, a.name): (a.text, a.number) for s in full.parsed.subtasks for a in s.arguments}
    ready = 0
    for cut in range(len(text) + 1):  # the whole text too: READY there, so the count below tests something
        for stop, accept in (("max_tokens", False), ("max_tokens", True), ("", False)):
            outcome = parse_output(text[:cut], family, mode, stop_reason=stop, accept_partial=accept,
                                   context=IN_SKILLS)
            assert "internal parser error" not in outcome.error, (cut, outcome.error)
            parsed = outcome.parsed
            for step in parsed.subtasks:
                for argument in step.arguments:
                    assert whole[(step.index, argument.name)] == (argument.text, argument.number), (cut, stop)
            if parsed.dispatch is Dispatch.READY:
                assert outcome.ok and outcome.completeness is Completeness.COMPLETE, (cut, stop, accept)
                assert parsed.subtasks == full.parsed.subtasks, (cut, stop)
                ready += 1
            elif outcome.completeness is Completeness.PARTIAL and parsed.subtasks:
                assert parsed.dispatch is Dispatch.BLOCKED, (cut, stop, accept)
            if outcome.ok:
                assert_fits_ros(outcome, mode)
    assert 0 < ready < 3 * len(text)
    print(f"\n[truncation fuzz] skills #{index} ({family.name}, {len(text)} cuts x 3): {ready} READY")
