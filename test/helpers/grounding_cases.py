"""Rows of the parser table for grounding answers (MODE_LOCATE, and plan targets located with the plan), in
the shapes Qwen-VL models write: Reason2 normalised 0-1000, Reason1 pixels of the resized image, the
cookbooks' bare JSON lists in code fences, both key spellings, and the defects the parser repairs or rejects.

Imported by ``parse_cases.classes``; ``objects`` of a row lists (label, box, point) exactly as parsed, in the
model's own coordinates (the mapping to camera pixels is tested in test_grounding).
"""
from __future__ import annotations

import json

from cosmos_reason_ros.core.datatypes import Completeness, Mode, Verdict
from cosmos_reason_ros.core.models.families import REASON1, REASON2

THINK = "<think>\nThe red cup stands on the table to the left of the tray, in front of the robot.\n</think>\n\n"
CUP_R2 = {"label": "red cup", "bbox_2d": [412, 300, 520, 488], "point_2d": [466, 394], "camera": "front",
          "confidence": 0.9}
TRAY_R2 = {"label": "tray", "bbox_2d": [600, 420, 930, 610]}
LOCATE_R2 = json.dumps({"objects": [CUP_R2, TRAY_R2], "answer": "The cup is left of the tray."})


def grounding_rows(Case):  # noqa: N803
    """Mode.LOCATE and grounded plans: clean answers, the cookbooks' shapes, repairs, rejections, cuts."""
    cup = ("red cup", (412.0, 300.0, 520.0, 488.0), (466.0, 394.0))
    tray = ("tray", (600.0, 420.0, 930.0, 610.0), None)
    return {
        "locate_r2_clean_two_objects": Case(REASON2, Mode.LOCATE, THINK + LOCATE_R2, objects=[cup, tray],
                                            answer="The cup is left of the tray."),
        "locate_r1_pixels_in_answer_tags": Case(
            REASON1, Mode.LOCATE, THINK + '<answer>\n{"objects": [{"label": "mug", "bbox_2d": [120, 96, 233, 250], '
            '"point_2d": [176, 170]}], "answer": "On the left."}\n</answer>',
            objects=[("mug", (120.0, 96.0, 233.0, 250.0), (176.0, 170.0))]),
        "locate_cookbook_bare_list_in_fence": Case(
            REASON2, Mode.LOCATE, THINK + '```json\n[\n\t{"bbox_2d": [135, 114, 855, 724], "label": "red cup"}\n]\n```',
            objects=[("red cup", (135.0, 114.0, 855.0, 724.0), None)], warned="bare JSON array"),
        "locate_cookbook_points_box_2d_spelling": Case(
            REASON2, Mode.LOCATE, THINK + '[{"point_2d": [250, 480], "label": "left handle"}, '
            '{"box_2d": [10, 20, 300, 400], "label": "lid"}]',
            objects=[("left handle", None, (250.0, 480.0)), ("lid", (10.0, 20.0, 300.0, 400.0), None)],
            warned="bare JSON array"),
        "locate_swapped_corners_repaired": Case(
            REASON2, Mode.LOCATE, THINK + '{"objects": [{"label": "cup", "bbox_2d": [520, 488, 412, 300]}]}',
            objects=[("cup", (412.0, 300.0, 520.0, 488.0), None)], warned="swapped corners"),
        "locate_empty_box_keeps_point": Case(
            REASON2, Mode.LOCATE, THINK + '{"objects": [{"label": "cup", "bbox_2d": [400, 300, 400, 480], '
            '"point_2d": [400, 390]}]}', objects=[("cup", None, (400.0, 390.0))], warned="empty box"),
        "locate_only_an_empty_box_fails": Case(
            REASON2, Mode.LOCATE, THINK + '{"objects": [{"label": "cup", "bbox_2d": [400, 300, 400, 300]}]}',
            ok=False, error='an "objects" list', warned="empty box"),
        "locate_none_visible_is_an_answer": Case(
            REASON1, Mode.LOCATE, THINK + '<answer>{"objects": [], "answer": "No cup is visible."}</answer>',
            objects=[], answer="No cup is visible."),
        "locate_numbers_as_text": Case(
            REASON2, Mode.LOCATE, THINK + '{"objects": [{"label": "cup", "bbox_2d": ["412", "300", "520", "488"]}]}',
            objects=[("cup", (412.0, 300.0, 520.0, 488.0), None)], warned="read the text"),
        "locate_null_coordinates_rejected": Case(
            REASON2, Mode.LOCATE, THINK + '{"objects": [{"label": "cup", "bbox_2d": [412, null, 520, 488]}]}',
            ok=False, error="lacks", warned="not 4 finite numbers"),
        "locate_three_numbers_rejected": Case(
            REASON2, Mode.LOCATE, THINK + '{"objects": [{"label": "cup", "bbox_2d": [412, 300, 520]}, '
            '{"label": "tray", "point_2d": [700, 500]}]}', objects=[("tray", None, (700.0, 500.0))],
            warned="expected 4 numbers"),
        "locate_nested_pairs_flattened": Case(
            REASON1, Mode.LOCATE, THINK + '<answer>{"objects": [{"label": "cup", "bbox_2d": [[10, 20], [30, 40]]}]}'
            '</answer>', objects=[("cup", (10.0, 20.0, 30.0, 40.0), None)], warned="flattened"),
        "locate_other_key_spellings": Case(
            REASON2, Mode.LOCATE, THINK + '{"detections": [{"name": "cup", "bbox": {"x1": 1, "y1": 2, "x2": 3, '
            '"y2": 4}}]}', objects=[("cup", (1.0, 2.0, 3.0, 4.0), None)], warned="read the key 'bbox'"),
        "locate_single_object_as_the_answer": Case(
            REASON2, Mode.LOCATE, THINK + '{"label": "cup", "bbox_2d": [412, 300, 520, 488]}',
            objects=[("cup", (412.0, 300.0, 520.0, 488.0), None)], warned="answer object itself"),
        "locate_cut_inside_the_second_box": Case(
            REASON2, Mode.LOCATE, THINK + LOCATE_R2[: LOCATE_R2.index("930")], stop="max_tokens", ok=False,
            error="max_new_tokens", completeness=Completeness.PARTIAL, objects=[cup], warned="unfinished"),
        "locate_cut_inside_a_number_accepted_partial": Case(
            REASON2, Mode.LOCATE, THINK + LOCATE_R2[: LOCATE_R2.index("93") + 2], stop="max_tokens",
            accept_partial=True, completeness=Completeness.PARTIAL, objects=[cup], warned="accepted a partial"),
        "locate_cut_bare_list_never_succeeds": Case(
            REASON2, Mode.LOCATE, THINK + '[{"bbox_2d": [135, 114, 855, 724], "label": "red cup"}, {"bbox_2d": [1',
            ok=False, error="truncated", completeness=Completeness.PARTIAL,
            objects=[("red cup", (135.0, 114.0, 855.0, 724.0), None)], warned="bare JSON array"),
        "decompose_with_located_targets": Case(
            REASON2, Mode.DECOMPOSE, THINK + json.dumps({
                "subtasks": [{"action": "pick", "description": "Pick up the red cup.", "targets": ["red cup"]}],
                "feasible": "yes", "objects": [CUP_R2], "answer": "Pick the cup."}),
            verdict=Verdict.FEASIBLE, subtasks=[{"target_objects": ["red cup"]}], objects=[cup]),
        "step_objects_as_names_stay_targets": Case(
            REASON2, Mode.NEXT_ACTION, THINK + '{"next_action": {"action": "pick", "description": "Pick the cup.", '
            '"objects": ["red cup"]}, "answer": "Pick."}', subtasks=[{"target_objects": ["red cup"]}], objects=[],
            warned="read the key 'objects' as 'targets'"),
    }
