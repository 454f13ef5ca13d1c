"""Rows of the parser table for each class of model output (truncation, prose, repair, ...), in the shapes
Cosmos Reason / Qwen-VL and the Cosmos 3 reasoners emit.

Imported by ``test_parsing`` (which holds ``Case`` and runs every row through the same checks, rclpy
serialisation included). One dict per class; each class has at least three rows.
"""
from __future__ import annotations

import json

from cosmos_reason_ros.core.datatypes import (
    Completeness,
    Completion,
    Dispatch,
    Mode,
    Observed,
    Plausibility,
    SkillStatus,
    Subtask,
    Verdict,
)
from cosmos_reason_ros.core.models.families import COSMOS3, COSMOS3_EDGE, REASON1, REASON2
from cosmos_reason_ros.core.modes.skills import ExecutedStep, PlanContext, StepOutcome, library_from_mapping
from helpers.grounding_cases import grounding_rows

THINK = "<think>\nThe cup stands on the table, 40 cm from the gripper, behind a closed glass door.\n</think>\n\n"
STEP = {"action": "pick", "description": "Pick up the red cup.", "targets": ["red cup"],
        "preconditions": ["gripper is empty"], "success_criterion": "the cup is lifted", "feasibility_note": ""}
TWO_STEPS = json.dumps({"subtasks": [STEP, dict(STEP, action="place", description="Place the cup on the tray.",
                                                  targets=["red cup", "tray"])],
                        "feasible": "yes", "confidence": 0.9, "blocking_factors": [], "explanation": "It is close.",
                        "answer": "Pick the cup, then place it on the tray."})
BLOCKED = {"subtasks": [], "feasible": "no", "confidence": 0.85,
           "blocking_factors": ["the cup is behind a locked glass door"],
           "explanation": "The door cannot be opened by the arm.", "answer": "Not possible: the door is locked."}


CRITIC_THINK = ("<think>\n<overview>A robot arm pushes a box across a table.</overview>\n"
                '<component name="box">\n<analysis>The box slides without tipping.</analysis>\n<anomaly>No</anomaly>\n'
                '</component>\n<component name="arm">\n<analysis>The arm passes through the box.</analysis>\n'
                "<anomaly>Yes</anomaly>\n</component>\n</think>\n\n")
CRITIC_FOUND = [("box", False), ("arm", True)]
SCORE_THINK = "<think>\nThe box slides smoothly; its shadow follows it and nothing flickers.\n</think>\n\n"


#: The skill library of the skill rows (and of the tiny "skills" model's tests): a synonym, a choice, a number.
SKILLS = library_from_mapping({"names": ["pick", "place"],
                               "pick": {"arguments": ["object: object", "grip: choice gentle|firm"],
                                        "synonyms": ["grab"]},
                               "place": {"arguments": ["object: object", "location: location",
                                                       "height?: number m 0..0.3"]}})
IN_SKILLS = PlanContext(skills=SKILLS)
SLIPPED = PlanContext(skills=SKILLS, history=(ExecutedStep(Subtask(0, "pick up the cup", skill="pick"),
                                                           StepOutcome.FAILED, "the cup slipped"),))
GRAB = {"skill": "grab", "arguments": {"object": "red cup", "grip": "firm"}, "description": "Grip the cup firmly.",
        "success_criterion": "the cup is lifted"}
PLACE = {"skill": "place", "arguments": {"object": "red cup", "location": "tray", "height": 0.05},
         "description": "Put the cup on the tray."}
SKILL_PLAN = json.dumps({"subtasks": [GRAB, PLACE], "feasible": "yes", "answer": "Grip the cup, place it."})
OK, UNKNOWN, INVALID = SkillStatus.OK, SkillStatus.UNKNOWN, SkillStatus.INVALID_ARGUMENTS


def skill_rows(Case):  # noqa: N803
    """Steps in the robot's skills (a skill library): mapped, typed, or marked not dispatchable; a cut-off
    argument never dispatchable; a re-plan from history that finds the task done."""
    def plan(*steps: dict, **extra) -> str:
        return json.dumps({"subtasks": list(steps), "feasible": "yes", "answer": "the plan", **extra})

    return {
        "skills_synonym_mapped_ready": Case(
            REASON2, Mode.DECOMPOSE, THINK + SKILL_PLAN, context=IN_SKILLS, verdict=Verdict.FEASIBLE,
            dispatch=Dispatch.READY, warned="a declared synonym",
            subtasks=[{"skill": "pick", "skill_written": "grab", "skill_status": OK, "action": "pick"},
                      {"skill": "place", "skill_status": OK}]),
        "skills_near_miss_mapped": Case(
            REASON1, Mode.NEXT_ACTION, THINK + "<answer>" + json.dumps({"next_action": dict(PLACE, skill="Plase")})
            + "</answer>", context=IN_SKILLS, dispatch=Dispatch.READY, warned="the one declared skill that close",
            subtasks=[{"skill": "place", "skill_written": "Plase", "skill_status": OK}]),
        "skills_unknown_skill_blocks": Case(
            REASON2, Mode.DECOMPOSE, THINK + plan(dict(GRAB, skill="wipe"), PLACE), context=IN_SKILLS,
            verdict=Verdict.FEASIBLE, dispatch=Dispatch.BLOCKED, warned="'wipe' is not declared",
            subtasks=[{"skill": "", "skill_written": "wipe", "skill_status": UNKNOWN, "description":
                       "Grip the cup firmly."}, {"skill": "place", "skill_status": OK}]),
        "skills_out_of_range_blocks": Case(
            REASON2, Mode.DECOMPOSE, THINK + plan(GRAB, dict(PLACE, arguments={**PLACE["arguments"], "height": 2})),
            context=IN_SKILLS, verdict=Verdict.FEASIBLE, dispatch=Dispatch.BLOCKED, warned="outside 0..0.3 m",
            subtasks=[{"skill_status": OK}, {"skill": "place", "skill_status": INVALID}]),
        "skills_choice_not_listed_blocks": Case(
            REASON2, Mode.DECOMPOSE, THINK + plan(dict(GRAB, arguments={"object": "cup", "grip": "crushing"})),
            context=IN_SKILLS, verdict=Verdict.FEASIBLE, dispatch=Dispatch.BLOCKED, warned="not one of gentle, firm",
            subtasks=[{"skill": "pick", "skill_status": INVALID}]),
        "skills_missing_argument_blocks": Case(
            REASON2, Mode.DECOMPOSE, THINK + plan(dict(GRAB, arguments={"grip": "firm"})), context=IN_SKILLS,
            verdict=Verdict.FEASIBLE, dispatch=Dispatch.BLOCKED, warned="'object' is missing",
            subtasks=[{"skill_status": INVALID}]),
        "skills_optional_left_out_and_text_number": Case(
            REASON2, Mode.DECOMPOSE, THINK + plan(dict(PLACE, arguments={"object": "cup", "location": "tray"}),
                                                  dict(PLACE, arguments={**PLACE["arguments"], "height": "0.1 m"})),
            context=IN_SKILLS, verdict=Verdict.FEASIBLE, dispatch=Dispatch.READY, warned="as the number 0.1",
            subtasks=[{"skill_status": OK}, {"skill_status": OK}]),
        "skills_arguments_as_pairs": Case(
            REASON2, Mode.NEXT_ACTION, THINK + json.dumps({"next_action": dict(
                GRAB, arguments=[{"name": "object", "value": "cup"}, {"name": "grip", "value": "gentle"}])}),
            context=IN_SKILLS, dispatch=Dispatch.READY, warned="name/value pairs", subtasks=[{"skill_status": OK}]),
        "skills_without_library_are_free_text": Case(
            REASON2, Mode.DECOMPOSE, THINK + SKILL_PLAN, verdict=Verdict.FEASIBLE,
            subtasks=[{"skill": "", "skill_written": "grab", "skill_status": SkillStatus.NOT_CHECKED, "action": ""},
                      {"skill_written": "place"}]),
        # A cut inside the second step's arguments: the first step is whole, the plan is never READY.
        "skills_cut_inside_argument": Case(
            REASON2, Mode.DECOMPOSE, THINK + SKILL_PLAN[: SKILL_PLAN.index('"tray"') + 3], stop="max_tokens",
            context=IN_SKILLS, accept_partial=True, completeness=Completeness.PARTIAL, dispatch=Dispatch.BLOCKED,
            warned="accepted a partial answer", subtasks=[{"skill": "pick", "skill_status": OK}]),
        "skills_cut_inside_argument_not_accepted": Case(
            REASON1, Mode.DECOMPOSE, THINK + "<answer>" + SKILL_PLAN[: SKILL_PLAN.index('0.05') + 2],
            stop="max_tokens", context=IN_SKILLS, ok=False, error="max_new_tokens",
            completeness=Completeness.PARTIAL, dispatch=Dispatch.BLOCKED, warned=True,
            subtasks=[{"skill": "pick", "skill_status": OK}]),
        # Re-planning from history: "completed" says whether the task is already done.
        "replan_task_already_done": Case(
            REASON2, Mode.DECOMPOSE, THINK + '{"subtasks": [], "feasible": "yes", "completed": "yes", '
            '"answer": "The cup is already on the tray."}', context=SLIPPED, verdict=Verdict.FEASIBLE,
            completion=Completion.DONE, answer="The cup is already on the tray."),
        "replan_next_action_done": Case(
            REASON2, Mode.NEXT_ACTION, THINK + '{"next_action": null, "completed": "yes", "answer": "done"}',
            context=SLIPPED, completion=Completion.DONE, answer="done"),
        "replan_steps_beside_yes_is_not_done": Case(
            REASON2, Mode.DECOMPOSE, THINK + plan(GRAB, completed="yes"), context=SLIPPED, verdict=Verdict.FEASIBLE,
            completion=Completion.NOT_DONE, dispatch=Dispatch.READY, warned="read as not done",
            subtasks=[{"skill": "pick", "skill_status": OK}]),
        "replan_completed_ignored_without_history": Case(
            REASON2, Mode.DECOMPOSE, THINK + plan(GRAB, completed="yes"), context=IN_SKILLS, verdict=Verdict.FEASIBLE,
            dispatch=Dispatch.READY, warned="a declared synonym", subtasks=[{"skill": "pick"}]),
    }


def watch_rows(Case):  # noqa: N803
    """Mode.WATCH: a yes/no answer to a standing watch's question; no answer (uncertain, cut, missing) is a failure."""
    watch = '{"observed": "yes", "confidence": 0.7, "explanation": "a person stands by the arm"}'
    return {
        "watch_yes_r1": Case(REASON1, Mode.WATCH, THINK + f"<answer>{watch}</answer>", observed=Observed.YES,
                             answer="a person stands by the arm"),
        "watch_no_r2": Case(REASON2, Mode.WATCH, THINK + '{"observed": "no", "explanation": "nobody"}',
                            observed=Observed.NO, answer="nobody"),
        "watch_boolean": Case(REASON2, Mode.WATCH, THINK + '{"observed": true}', observed=Observed.YES,
                              warned="read True as yes"),
        "watch_prose": Case(REASON2, Mode.WATCH, THINK + "No, the workspace is empty.", observed=Observed.NO,
                            warned="leading 'No'"),
        "watch_uncertain": Case(REASON2, Mode.WATCH, THINK + '{"observed": "uncertain"}', ok=False,
                                error='lacks an "observed" answer', warned=True),
        "watch_cut": Case(REASON2, Mode.WATCH, THINK + '{"observed": "ye', stop="max_tokens", ok=False,
                          error="max_new_tokens", warned=True),
    }


def critic_rows(Case):  # noqa: N803
    """Mode.CRITIC: Reason1's component analysis with a Yes/No answer, Reason2's 1-5 score, and their variants."""
    no, yes = Plausibility.PLAUSIBLE, Plausibility.IMPLAUSIBLE
    return {
        "critic_r1_components_yes": Case(REASON1, Mode.CRITIC, CRITIC_THINK + "<answer>\nYes\n</answer>",
                                         critique={"plausible": yes, "findings": CRITIC_FOUND}),
        "critic_r1_no_anomaly_says_one_in_components": Case(
            REASON1, Mode.CRITIC, CRITIC_THINK + "<answer>No</answer>", critique={"plausible": no,
                                                                            "findings": CRITIC_FOUND},
            warned="a component reports one"),
        "critic_r2_score": Case(REASON2, Mode.CRITIC, SCORE_THINK + "4", critique={"plausible": no, "score": 4.0}),
        "critic_r2_low_score_with_reason": Case(REASON2, Mode.CRITIC, SCORE_THINK + "**Score: 2/5** - the box floats",
                                                critique={"plausible": yes, "score": 2.0}, answer="the box floats"),
        "critic_r2_score_3_is_not_kept": Case(REASON2, Mode.CRITIC, SCORE_THINK + "3",
                                              critique={"plausible": yes, "score": 3.0}),
        "critic_json_answer": Case(REASON2, Mode.CRITIC, SCORE_THINK + '{"score": 5, "explanation": "All fine."}',
                                   critique={"plausible": no, "score": 5.0}, answer="All fine."),
        "critic_json_anomaly_key": Case(REASON1, Mode.CRITIC, CRITIC_THINK + '<answer>{"anomaly": "yes"}</answer>',
                                        critique={"plausible": yes, "findings": CRITIC_FOUND}),
        "critic_binary_reject": Case(REASON1, Mode.CRITIC, SCORE_THINK + "<answer>Reject</answer>",
                                     critique={"plausible": yes}, warned="as an anomaly"),
        "critic_answer_with_reason": Case(REASON1, Mode.CRITIC, SCORE_THINK + "<answer>No, it all looks right.</answer>",
                                          critique={"plausible": no}, answer="it all looks right."),
        "critic_no_answer_verdict_from_components": Case(
            REASON1, Mode.CRITIC, CRITIC_THINK, stop="eos", critique={"plausible": yes, "findings": CRITIC_FOUND},
            warned="verdict comes from the components"),
        "critic_r2_criteria_listed_then_labelled_score": Case(
            REASON2, Mode.CRITIC, SCORE_THINK + "1. Object behaviour: the box keeps its shape.\n2. Motion: it floats up."
            "\nOverall score: 2", critique={"plausible": yes, "score": 2.0}, warned='"score" label'),
        "critic_r2_numbered_list_is_not_a_score": Case(
            REASON2, Mode.CRITIC, SCORE_THINK + "1. Object behaviour: fine.\n2. Motion and forces: fine.", ok=False,
            error="lacks a final Yes/No"),
        "critic_score_out_of_range": Case(REASON2, Mode.CRITIC, SCORE_THINK + '{"score": 9}', ok=False,
                                          error="lacks a final Yes/No", warned="not an integer from 1 to 5"),
        "critic_prose_without_verdict": Case(REASON2, Mode.CRITIC, SCORE_THINK + "The video looks fine overall.",
                                             ok=False, error="lacks a final Yes/No"),
        # --- truncation: never a success, the finished components are kept -------------------------------
        "critic_cut_in_answer": Case(REASON2, Mode.CRITIC, SCORE_THINK + "4", stop="max_tokens", ok=False,
                                     error="truncated"),
        "critic_cut_inside_component": Case(
            REASON1, Mode.CRITIC, CRITIC_THINK[: CRITIC_THINK.index("passes through")], stop="max_tokens", ok=False,
            error="before the model wrote its answer", completeness=Completeness.PARTIAL,
            critique={"findings": [("box", False)]}, warned="unfinished component"),
        "critic_cut_unknown_stop_no_verdict_from_components": Case(
            REASON1, Mode.CRITIC, CRITIC_THINK[: CRITIC_THINK.index("</think>")], ok=False,
            error="no answer after the reasoning", completeness=Completeness.PARTIAL,
            critique={"findings": CRITIC_FOUND}, warned="never closed"),
        "critic_cut_answer_tag_r1": Case(REASON1, Mode.CRITIC, CRITIC_THINK + "<answer>\nYe", stop="max_tokens",
                                         ok=False, error="truncated", completeness=Completeness.PARTIAL,
                                         critique={"findings": CRITIC_FOUND}, warned=True),
    }


def cosmos3_rows(Case):  # noqa: N803
    """Cosmos 3 shapes: the prompt guide's numbered-list plan and lettered critic answer, a think block the
    template opened (Edge: the text starts inside the reasoning), and an end of sequence inside the answer."""
    opened = "The cup stands on the table within reach.\n</think>\n\n"  # "<think>\n" was in the prompt
    return {
        "c3_numbered_list_plan": Case(
            COSMOS3, Mode.DECOMPOSE, THINK + "1. Pick up the red cup.\n2. Place it on the tray.",
            subtasks=[{"index": 0, "description": "Pick up the red cup."},
                      {"index": 1, "description": "Place it on the tray."}], warned="numbered list"),
        "c3_numbered_list_bold_steps": Case(
            COSMOS3_EDGE, Mode.DECOMPOSE, THINK + "Plan:\n**1.** Open the drawer\n2) Take out the spoon",
            subtasks=[{"index": 0, "description": "Open the drawer"}, {"index": 1, "description": "Take out the spoon"}],
            warned="numbered list"),
        "c3_list_out_of_order_is_not_a_plan": Case(
            COSMOS3, Mode.DECOMPOSE, THINK + "2. Place it.\n1. Pick it.", ok=False, error="needs a JSON answer"),
        "c3_critic_letter_a": Case(COSMOS3, Mode.CRITIC, SCORE_THINK + "A",
                                   critique={"plausible": Plausibility.PLAUSIBLE}),
        "c3_critic_option_b_with_reason": Case(
            COSMOS3_EDGE, Mode.CRITIC, SCORE_THINK + "(B) Impossible - the box floats up",
            critique={"plausible": Plausibility.IMPLAUSIBLE}, answer="the box floats up"),
        "c3_critic_a_word_is_not_a_letter": Case(COSMOS3, Mode.CRITIC, SCORE_THINK + "A box slides.", ok=False,
                                                 error="lacks a final Yes/No"),
        "c3_edge_think_opened_by_template": Case(
            COSMOS3_EDGE, Mode.VERIFY_COMPLETION, opened + '{"completed": "yes", "answer": "on the tray"}',
            completion=Completion.DONE, reasoning="within reach", answer="on the tray"),
        "c3_edge_think_opened_cut_in_reasoning": Case(
            COSMOS3_EDGE, Mode.VERIFY_COMPLETION, "<think>\nThe cup stands on the table and", stop="max_tokens",
            ok=False, error="before the model wrote its answer", warned="never closed"),
        "c3_eos_inside_the_answer": Case(
            COSMOS3, Mode.DECOMPOSE, THINK + TWO_STEPS[: TWO_STEPS.index("on the tray")], stop="eos", ok=False,
            error="ended its output by itself", completeness=Completeness.PARTIAL,
            subtasks=[{"index": 0, "description": "Pick up the red cup."}], warned=True),
    }


def classes(Case):  # noqa: N803 - the table's row type, passed in to avoid a circular import
    """The rows, by class."""
    truncation = {
        "cut_max_tokens_mid_step": Case(
            REASON2, Mode.DECOMPOSE, THINK + TWO_STEPS[: TWO_STEPS.index("on the tray")], stop="max_tokens",
            ok=False, error="max_new_tokens", completeness=Completeness.PARTIAL,
            subtasks=[{"index": 0, "description": "Pick up the red cup."}], warned="unfinished"),
        "cut_accepted_when_opted_in": Case(
            REASON2, Mode.DECOMPOSE, THINK + TWO_STEPS[: TWO_STEPS.index("on the tray")], stop="max_tokens",
            accept_partial=True, completeness=Completeness.PARTIAL,
            subtasks=[{"index": 0, "action": "pick", "success_criterion": "the cup is lifted"}],
            warned="accepted a partial answer"),
        "cut_draft_in_unfinished_reasoning": Case(
            REASON2, Mode.VERIFY_COMPLETION,
            '<think>\nThe cup seems to be on the tray. Draft: {"completed": "yes"} wait, looking again at the '
            'last frame, the cup is still in the', stop="max_tokens", ok=False, error="before the model wrote its answer",
            warned="never closed"),
        "draft_in_unfinished_reasoning_unknown_stop": Case(
            REASON1, Mode.VERIFY_COMPLETION,
            '<think>\nDraft: {"completed": "yes", "answer": "done"} but wait, looking again, the lid is',
            ok=False, error="draft", warned="never closed"),
        "cut_right_after_json_in_reasoning": Case(
            REASON2, Mode.VERIFY_COMPLETION, '<think>\nMaybe {"completed": "yes"}', stop="max_tokens",
            ok=False, error="truncated", warned="never closed"),
        "cut_prose_reply": Case(REASON2, Mode.QUESTION, THINK + "There are three cups on the ta", stop="max_tokens",
                                ok=False, error="truncated", answer_text="three cups"),
        "cut_after_complete_answer": Case(
            REASON1, Mode.VERIFY_COMPLETION, THINK + '<answer>{"completed": "no", "answer": "Still open."}</ans',
            stop="max_tokens", completion=Completion.NOT_DONE, answer="Still open.", warned="no </answer>"),
        "cut_mid_number": Case(REASON2, Mode.FEASIBILITY, THINK + '{"feasible": "no", "confidence": 0.8',
                               stop="max_tokens", accept_partial=True, completeness=Completeness.PARTIAL,
                               verdict=Verdict.INFEASIBLE, warned="dropped 1 unfinished"),
        "cut_inside_next_action_object": Case(
            REASON2, Mode.NEXT_ACTION, THINK + '{"next_action": {"action": "pick", "description": "Pick up the sp',
            stop="max_tokens", accept_partial=True, ok=False, error="truncated", warned="closed truncated JSON"),
        "cut_by_deadline": Case(REASON1, Mode.FEASIBILITY, THINK + '<answer>{"feasible": "no", "blocking_factors": ["the',
                                stop="deadline", ok=False, error="deadline", completeness=Completeness.PARTIAL,
                                verdict=Verdict.INFEASIBLE, blocking=[], warned="dropped 1 unfinished"),
        "cut_half_surrogate_escape": Case(
            REASON2, Mode.QUESTION, THINK + '{"confidence": 1, "answer": "A cup \\ud83d', stop="max_tokens",
            ok=False, error="truncated", warned="dropped 1 unfinished"),  # nothing QUESTION reads was finished
    }
    legitimate = {
        "decompose_infeasible_no_steps_r2": Case(
            REASON2, Mode.DECOMPOSE, THINK + json.dumps(BLOCKED), verdict=Verdict.INFEASIBLE, confidence=0.85,
            blocking=["the cup is behind a locked glass door"], answer="Not possible: the door is locked."),
        "decompose_infeasible_no_steps_r1": Case(
            REASON1, Mode.DECOMPOSE, THINK + "<answer>\n" + json.dumps(BLOCKED, indent=2) + "\n</answer>",
            verdict=Verdict.INFEASIBLE, confidence=0.85, blocking=["the cup is behind a locked glass door"]),
        "decompose_uncertain_no_steps": Case(
            REASON2, Mode.DECOMPOSE, THINK + '{"subtasks": [], "feasible": "uncertain", "blocking_factors": '
            '["the cup is hidden"], "explanation": "The box hides the cup."}', verdict=Verdict.UNCERTAIN,
            blocking=["the cup is hidden"]),
        "decompose_feasible_without_steps_fails": Case(
            REASON2, Mode.DECOMPOSE, THINK + '{"subtasks": [], "feasible": "yes"}', ok=False, error="subtasks"),
        "decompose_verdict_without_subtasks_key": Case(
            REASON1, Mode.DECOMPOSE, THINK + '<answer>{"feasible": "no", "blocking_factors": ["too heavy"]}</answer>',
            verdict=Verdict.INFEASIBLE, blocking=["too heavy"]),
        "decompose_prose_refusal": Case(REASON2, Mode.DECOMPOSE, THINK + "No - the cup is behind a locked door.",
                                        verdict=Verdict.INFEASIBLE, warned="leading 'No'"),
        "next_action_none_needed": Case(
            REASON2, Mode.NEXT_ACTION, THINK + '{"next_action": null, "answer": "The task is already done."}',
            answer="The task is already done."),
        "next_action_written_flat": Case(
            REASON1, Mode.NEXT_ACTION, THINK + "<answer>" + json.dumps(dict(STEP, answer="Pick it.")) + "</answer>",
            subtasks=[{"index": 0, "action": "pick"}], warned="answer object itself"),
        "verify_cannot_tell_is_not_done": Case(
            REASON2, Mode.VERIFY_COMPLETION, THINK + '{"completed": "uncertain", "answer": "The tray is hidden."}',
            completion=Completion.NOT_DONE, warned="not done"),
    }
    ros_strings = {
        "nul_escape_in_value": Case(REASON2, Mode.QUESTION, THINK + '{"answer": "two\\u0000 cups"}',
                                    answer="two cups", warned="ROS string"),
        "lone_surrogate_escape": Case(REASON2, Mode.QUESTION, THINK + '{"answer": "a cup \\ud83d here"}',
                                      answer="a cup \ufffd here", warned="lone surrogate"),
        "surrogate_pair_escape": Case(REASON1, Mode.QUESTION, THINK + '<answer>{"answer": "cup \\ud83d\\ude00"}</answer>',
                                      answer="cup \U0001f600"),
        "raw_lone_surrogate_and_nul": Case(
            REASON2, Mode.DECOMPOSE, "<think>\nx\x00\ud800y\n</think>\n" + json.dumps({"subtasks": [STEP]})[:-1]
            .replace("Pick up", "Pick\x00 up") + ', "blocking_factors": ["a\ud83d"], "feasible": "no"}',
            verdict=Verdict.INFEASIBLE, blocking=["a\ufffd"], subtasks=[{"description": "Pick up the red cup."}],
            warned="ROS string", reasoning="x\ufffdy"),
        "nul_in_blocking_factor_escape": Case(
            REASON1, Mode.FEASIBILITY, THINK + '<answer>{"feasible": "no", "blocking_factors": ["lo\\u0000cked"]}</answer>',
            verdict=Verdict.INFEASIBLE, blocking=["locked"], warned="ROS string"),
    }
    repairs = {
        "line_comments": Case(REASON2, Mode.FEASIBILITY,
                              THINK + '{\n  "feasible": "no", // the door is locked\n  "confidence": 0.7 # guess\n}',
                              verdict=Verdict.INFEASIBLE, confidence=0.7, warned="comments"),
        "block_comment": Case(REASON1, Mode.VERIFY_COMPLETION,
                              THINK + '<answer>{/* judged from the last frame */ "completed": "yes"}</answer>',
                              completion=Completion.DONE, warned="comments"),
        "comment_marks_inside_strings_kept": Case(
            REASON2, Mode.QUESTION, THINK + '{"answer": "see http://example.com/#top /* not a comment */"}',
            answer="see http://example.com/#top /* not a comment */"),
        "invalid_escape_apostrophe": Case(REASON2, Mode.QUESTION, THINK + '{"answer": "the robot\\\'s cup"}',
                                          answer="the robot's cup", warned="invalid escapes"),
        "camel_case_keys": Case(
            REASON2, Mode.FEASIBILITY, THINK + '{"feasible": "no", "blockingFactors": ["out of reach"], '
            '"confidence": 0.6}', verdict=Verdict.INFEASIBLE, confidence=0.6, blocking=["out of reach"],
            warned="'blockingFactors' as 'blocking_factors'"),
        "pascal_and_spaced_keys": Case(
            REASON1, Mode.DECOMPOSE, THINK + '<answer>{"Subtasks": [{"Action": "pick", "Description": "Pick it.", '
            '"Success Criterion": "lifted", "targetObjects": ["cup"]}], "Feasible": "yes", "Blocking factors": []}'
            '</answer>', verdict=Verdict.FEASIBLE, blocking=[],
            subtasks=[{"action": "pick", "success_criterion": "lifted", "target_objects": ["cup"]}],
            warned="'Success Criterion' as 'success_criterion'"),
        "next_action_camel_case": Case(REASON2, Mode.NEXT_ACTION, THINK + '{"nextAction": ' + json.dumps(STEP) + '}',
                                       subtasks=[{"action": "pick"}], warned="'nextAction'"),
        "choice_with_reason_dash": Case(
            REASON2, Mode.FEASIBILITY, THINK + '{"feasible": "No - the cup is out of reach"}',
            verdict=Verdict.INFEASIBLE, explanation="the cup is out of reach", warned="as infeasible"),
        "choice_with_reason_because": Case(
            REASON1, Mode.FEASIBILITY, THINK + '<answer>{"feasible": "Yes, because the cup is light", '
            '"explanation": "Light and close."}</answer>', verdict=Verdict.FEASIBLE, explanation="Light and close.",
            warned="as feasible"),
        "choice_with_reason_parenthesis": Case(
            REASON2, Mode.VERIFY_COMPLETION, THINK + '{"completed": "No (the drawer is still open)"}',
            completion=Completion.NOT_DONE, answer="the drawer is still open", warned="as not_done"),
        "choice_not_feasible_colon": Case(
            REASON2, Mode.FEASIBILITY, THINK + '{"feasible": "Not feasible: the box is too heavy"}',
            verdict=Verdict.INFEASIBLE, explanation="the box is too heavy", warned="as infeasible"),
        "think_close_inside_json_string_r2": Case(
            REASON2, Mode.QUESTION, THINK + '{"answer": "The label reads </think> on the box."}',
            answer="The label reads </think> on the box."),
        "answer_close_inside_json_string_r1": Case(
            REASON1, Mode.QUESTION, THINK + '<answer>{"answer": "It says </answer> and <answer>."}</answer>',
            answer="It says </answer> and <answer>."),
        "think_close_inside_string_without_think_open": Case(
            REASON2, Mode.VERIFY_COMPLETION,
            'The tray holds the cup.\n</think>\n\n{"completed": "yes", "answer": "Tag </think> seen."}',
            completion=Completion.DONE, answer="Tag </think> seen."),
        "several_answer_blocks_r1_first_wins": Case(
            REASON1, Mode.VERIFY_COMPLETION, '<think>a</think><answer>{"completed": "no"}</answer>\n'
            '<think>b</think><answer>{"completed": "yes"}</answer>', completion=Completion.NOT_DONE,
            warned="later answer"),
        "several_answer_blocks_r2_first_wins": Case(
            REASON2, Mode.VERIFY_COMPLETION, '<think>a</think>{"completed": "no"}\n<think>b</think>{"completed": "yes"}',
            completion=Completion.NOT_DONE, warned="later answer"),
        "first_usable_object_wins": Case(
            REASON2, Mode.VERIFY_COMPLETION, THINK + '{"note": "checking"}\n{"completed": "yes"}\n{"completed": "no"}',
            completion=Completion.DONE, warned="skipped a JSON object"),
        "empty_first_block_then_answer_r1": Case(
            REASON1, Mode.FEASIBILITY, '<think>a</think><answer></answer><think>b</think><answer>'
            '{"feasible": "yes"}</answer>', verdict=Verdict.FEASIBLE, warned=True),
    }
    return {"truncation": truncation, "legitimate": legitimate, "ros_strings": ros_strings, "repairs": repairs,
            "critic": critic_rows(Case), "grounding": grounding_rows(Case), "watch": watch_rows(Case),
            "cosmos3": cosmos3_rows(Case), "skills": skill_rows(Case)}
