"""Model coordinates back to the camera's own pixels, through the real resize path, for every family.

A known object (a bright square) is drawn in a camera image of odd size; the image goes through what a goal
does to it (``prepare_clips``: the budget shrink, the resize to multiples of 28/32, Reason1's timestamp
strip; a JPEG decoded at reduced size through the node's own decoder); the object's centre and extent are
MEASURED in the image the model would see (its intensity centroid and mass, independent of the mapping
under test); an answer in the family's own convention is written from them, parsed by the real parser and
mapped back: box and point land within 1 px of where the object was drawn. The real processors confirm
that the model sees exactly the prepared size (no further resize, in the backend or by a server's
smart-resize).
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode, ModelLocation, Subtask
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.grounding.coordinates import geometry_of, ground_outcome, link_targets, locate
from cosmos_reason_ros.core.models.families import COSMOS3, COSMOS3_EDGE, REASON1, REASON2, ModelFamily

FAMILIES = (REASON1, REASON2, COSMOS3, COSMOS3_EDGE)
#: (width, height) of the camera image; (x0, y0, x1, y1) of the object drawn in it (pixels x0..x1-1, y0..y1-1).
SCENES = [((637, 479), (401, 117, 459, 203)), ((1001, 333), (90, 40, 171, 291)), ((333, 1001), (12, 700, 80, 990))]


def scene(size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    width, height = size
    image = np.full((height, width, 3), 40, np.uint8)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = 255
    return image


def measured(image: np.ndarray) -> tuple[float, float, float, float]:
    """(centre x, centre y, width, height) of the bright square in continuous px, from intensity alone."""
    weight = (image[..., 0].astype(np.float64) - 40.0) / (255.0 - 40.0)
    weight[weight < 0] = 0
    total = weight.sum()
    ys, xs = np.mgrid[0:weight.shape[0], 0:weight.shape[1]]
    cx, cy = ((xs + 0.5) * weight).sum() / total, ((ys + 0.5) * weight).sum() / total
    width = weight.sum(axis=1).max()  # the widest row's mass: the square's width
    height = weight.sum(axis=0).max()
    return cx, cy, width, height


def answer_for(family: ModelFamily, clip, label: str = "red cup") -> str:
    """The answer a model of ``family`` would give for the square it sees in the newest frame."""
    frame = clip.pixels[-1][: clip.content_height]
    cx, cy, w, h = measured(frame)
    full_w, full_h = clip.pixels.shape[2], clip.pixels.shape[1]
    box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    point = [cx, cy]
    if family.grounding_scale:
        n = family.grounding_scale
        box = [v * n / (full_w if i % 2 == 0 else full_h) for i, v in enumerate(box)]
        point = [point[0] * n / full_w, point[1] * n / full_h]
    answer = {"objects": [{"label": label, "bbox_2d": [round(v) for v in box], "point_2d": [round(v) for v in point]}],
              "answer": "It is on the table."}
    body = json.dumps(answer)
    return "<think>\nI see it.\n</think>\n\n" + (f"<answer>\n{body}\n</answer>" if family.answer_in_tags else body)


def round_trip(family: ModelFamily, frames: list[Frame], budget: VideoBudget = VideoBudget()):
    clip = prepare_clips([CameraClip("front", frames, "front_optical_frame")], family, budget)[0]
    outcome = parse_output(answer_for(family, clip), family, Mode.LOCATE, stop_reason="eos")
    assert outcome.ok and outcome.warnings == [], (outcome.error, outcome.warnings)
    located = ground_outcome(outcome, [clip], family, Mode.LOCATE, False)
    assert outcome.warnings == []
    return clip, located


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize("size, box", SCENES, ids=[f"{w}x{h}" for (w, h), _ in SCENES])
def test_a_located_object_maps_back_to_the_camera_pixel(family: ModelFamily, size, box) -> None:
    frames = [Frame(scene(size, box), 10.0 + i * 0.5, 10_000_000_000 + i * 500_000_000) for i in range(3)]
    clip, located = round_trip(family, frames)
    assert (clip.pixels.shape[2], clip.content_height) != size, "the frame must really be resized"
    [obj] = located
    x0, y0, x1, y1 = box
    assert obj.box == pytest.approx((x0, y0, x1, y1), abs=1.0)
    assert obj.point == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2), abs=1.0)
    assert (obj.image_width, obj.image_height) == size
    assert (obj.camera, obj.frame_id, obj.frame_index) == ("front", "front_optical_frame", clip.num_frames - 1)
    assert obj.stamp_ns == frames[-1].stamp_ns  # the newest frame, by its exact stamp


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_the_budget_shrink_is_undone_too(family: ModelFamily) -> None:
    """A tight visual-token budget shrinks the frames far below max_frame_pixels; the mapping follows."""
    size, box = SCENES[0]
    frames = [Frame(scene(size, box), float(i), None) for i in range(8)]
    budget = VideoBudget(max_visual_tokens=300, min_frame_pixels=150 * 150)
    clip, [obj] = round_trip(family, frames, budget)
    assert clip.pixels.shape[2] < 400
    assert obj.box == pytest.approx(box, abs=1.5)  # about 1.7 camera px per model px here


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_a_jpeg_decoded_at_reduced_size_maps_to_the_full_image(family: ModelFamily) -> None:
    """The node decodes large JPEGs at 1/2..1/8 (camera_ingest); Frame.source_scale undoes it."""
    from sensor_msgs.msg import CompressedImage

    from cosmos_reason_ros.ros.cameras.image_conversion import compressed_to_rgb

    size, box = (1275, 959), (501, 301, 621, 441)
    ok, data = cv2.imencode(".jpg", scene(size, box), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    decoded = compressed_to_rgb(CompressedImage(format="jpeg", data=data.tobytes()), 2)
    assert decoded.shape[:2] == (480, 638)
    clip, [obj] = round_trip(family, [Frame(decoded, 1.0, None, source_scale=2.0)])
    assert (obj.image_width, obj.image_height) == (1276, 960)  # 2 x the decoded size: the JPEG's own 8x8 grid
    assert obj.box == pytest.approx(box, abs=2.0)  # 1 decoded px = 2 camera px


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_the_model_sees_exactly_the_prepared_size(family: ModelFamily) -> None:
    """The backend's processor call (do_resize False) keeps the prepared size; the processors' own
    smart-resize at their stock limits (what a server applies) would not change it either."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    from cosmos_reason_ros.testing.tiny_model import build_processor, build_tokenizer

    processor = build_processor(family.name, build_tokenizer(family=family.name))
    patch = processor.image_processor.patch_size
    for size, box in SCENES:
        clip = prepare_clips([CameraClip("front", [Frame(scene(size, box), 0.0)])], family, VideoBudget())[0]
        image = clip.pixels[0]
        inputs = processor.image_processor(images=[image], do_resize=False, return_tensors="pt")
        _, grid_h, grid_w = inputs["image_grid_thw"][0].tolist()
        assert (grid_h * patch, grid_w * patch) == image.shape[:2]
        if family is not COSMOS3_EDGE:  # Edge's processor has its own smart-resize (below)
            assert smart_resize(image.shape[0], image.shape[1], factor=family.pixels_per_token_side,
                                min_pixels=56 * 56, max_pixels=12845056) == image.shape[:2]
        geometry = geometry_of(clip, 0)
        assert geometry.model_height - geometry.content_height == (family.pixels_per_token_side
                                                                   if family.timestamp_overlay else 0)


def test_out_of_range_values_are_clamped_and_empty_boxes_dropped() -> None:
    clip = prepare_clips([CameraClip("front", [Frame(np.zeros((479, 637, 3), np.uint8), 0.0)])], REASON2,
                         VideoBudget())[0]
    warnings: list[str] = []
    objects = [ModelLocation("wide", box=(-20, 100, 1100, 900)), ModelLocation("outside", box=(1005, 10, 1200, 50)),
               ModelLocation("point", point=(500, 1200))]
    located = locate(objects, [clip], REASON2, warnings)
    assert [o.label for o in located] == ["wide", "point"]
    assert located[0].box == pytest.approx((0.0, 0.1 * 479, 637.0, 0.9 * 479))
    assert located[1].point == pytest.approx((318.5, 479.0))
    assert sum("clamped to its edge" in w for w in warnings) == 5  # two corners each of two boxes, one point
    assert any("empty once clamped" in w for w in warnings) and any("nothing left" in w for w in warnings)


def test_reason1_coordinates_inside_the_time_strip_are_clamped_to_the_frame() -> None:
    clip = prepare_clips([CameraClip("front", [Frame(np.zeros((479, 637, 3), np.uint8), 0.0)] * 2)], REASON1,
                         VideoBudget())[0]
    assert clip.timestamp_overlay and clip.content_height == 476
    warnings: list[str] = []
    [obj] = locate([ModelLocation("cup", point=(322, 490))], [clip], REASON1, warnings)
    assert obj.point == pytest.approx((322 * 637 / 644, 479.0)) and "outside the image" in warnings[0]


def test_cameras_and_frames_named_by_the_model() -> None:
    frames = [Frame(np.zeros((240, 320, 3), np.uint8), float(i), i) for i in range(4)]
    clips = prepare_clips([CameraClip("front", frames), CameraClip("wrist", frames[:2], "wrist_frame")], REASON2,
                          VideoBudget())
    warnings: list[str] = []
    located = locate([ModelLocation("a", point=(10, 10), camera="Wrist", frame=0),
                      ModelLocation("b", point=(10, 10), camera="nowhere"),
                      ModelLocation("c", point=(10, 10), frame=9)], clips, REASON2, warnings)
    assert [(o.camera, o.frame_index, o.frame_id) for o in located] == [("wrist", 0, "wrist_frame"), ("front", 3, ""),
                                                                        ("front", 3, "")]
    assert any("unknown camera" in w for w in warnings) and any("frame 9" in w for w in warnings)


def test_targets_link_to_located_objects_by_name() -> None:
    clip = prepare_clips([CameraClip("front", [Frame(np.zeros((240, 320, 3), np.uint8), 0.0)])], REASON2,
                         VideoBudget())[0]
    located = locate([ModelLocation("Red cup", point=(1, 1)), ModelLocation("tray", box=(1, 1, 9, 9))], [clip],
                     REASON2, [])
    steps = [Subtask(0, "pick", target_objects=["the red cup"]),
             Subtask(1, "place", target_objects=["red cup", "shelf"])]
    warnings: list[str] = []
    link_targets(steps, located, warnings)
    assert [s.object_indices for s in steps] == [[0], [0, -1]]
    assert warnings == ["ground_targets: 1 target(s) not located: shelf"]


@pytest.mark.parametrize("size, box", SCENES, ids=[f"{w}x{h}" for (w, h), _ in SCENES])
def test_edge_processor_keeps_every_pixel_in_place(size, box) -> None:
    """Cosmos3-Edge's processor patches frames its own way (block-major 2x2 groups, values HWC within a patch;
    an early release had the layout wrong). Undoing that layout from its ``pixel_values`` gives back the
    prepared frame pixel for pixel, so the square is where the model's coordinates say; its own smart-resize
    keeps the prepared size at its stock limits too."""
    from transformers.models.cosmos3_edge.image_processing_cosmos3_edge import smart_resize as edge_resize

    from cosmos_reason_ros.testing.tiny_model import build_processor, build_tokenizer

    processor = build_processor(COSMOS3_EDGE.name, build_tokenizer(family=COSMOS3_EDGE.name))
    vision = processor.image_processor
    patch, merge = vision.patch_size, vision.merge_size
    assert patch * merge == COSMOS3_EDGE.pixels_per_token_side and vision.temporal_patch_size == 1
    clip = prepare_clips([CameraClip("front", [Frame(scene(size, box), 0.0)])], COSMOS3_EDGE, VideoBudget())[0]
    image = clip.pixels[0]
    height, width = image.shape[:2]
    inputs = processor.image_processor(images=[image], do_resize=False, do_normalize=False, do_rescale=False,
                                       return_tensors="pt")
    grid_h, grid_w = height // patch, width // patch
    assert inputs["image_grid_thw"][0].tolist() == [1, grid_h, grid_w]
    values = inputs["pixel_values"].numpy().reshape(grid_h // merge, grid_w // merge, merge, merge, patch, patch, 3,
                                                    -1)[..., 0]
    rebuilt = values.transpose(0, 2, 4, 1, 3, 5, 6).reshape(height, width, 3)
    np.testing.assert_array_equal(rebuilt, image.astype(np.float32))
    stock = type(vision).size  # the limits a real checkpoint's processor (or a server) would resize within
    assert edge_resize(1, height, width, temporal_factor=1, factor=patch * merge, min_pixels=stock["shortest_edge"],
                       max_pixels=stock["longest_edge"]) == (height, width)
