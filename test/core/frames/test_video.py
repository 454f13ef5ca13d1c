"""Frames → the model's video input: sizes, the visual-token budget, timestamps and the Reason1 overlay.

The token arithmetic is the one the model cards give (Qwen2.5-VL: 28 px per token side, Qwen3-VL: 32,
two frames per temporal patch), so every count asserted here is the count the vision tower will produce.
"""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from cosmos_reason_ros.core.datatypes import CameraClip, Frame
from cosmos_reason_ros.core.errors import InvalidRequestError
from cosmos_reason_ros.core.frames.video import (
    PreparedClip,
    VideoBudget,
    clip_tokens,
    draw_timestamp_strip,
    fit_to_multiple,
    plan_sizes,
    prepare_clips,
)
from cosmos_reason_ros.core.models.families import REASON1, REASON2, ModelFamily

FAMILIES = [REASON1, REASON2]


def strip_rows(family: ModelFamily, budget: VideoBudget) -> int:
    """Rows the timestamp strip adds under each frame (0 when the family or budget has no overlay)."""
    return family.pixels_per_token_side if (family.timestamp_overlay and budget.timestamp_overlay) else 0


def plan_total(plan: list[tuple[int, int, int]], family: ModelFamily, budget: VideoBudget) -> int:
    """Visual tokens of a plan, strip included: what the vision tower will really be given."""
    strip = strip_rows(family, budget)
    return sum(clip_tokens(t, h + strip, w, family) for t, h, w in plan)


def make_clip(camera: str, stamps: list[float], height: int = 56, width: int = 84, value: int = 100,
              with_ns: bool = True) -> CameraClip:
    """A clip of uniform-grey frames at the given stamps (seconds)."""
    frames = [
        Frame(
            pixels=np.full((height, width, 3), value, dtype=np.uint8),
            stamp=s,
            stamp_ns=round(s * 1e9) + 7 if with_ns else None,  # +7 ns: not recoverable from the float
        )
        for s in stamps
    ]
    return CameraClip(camera=camera, frames=frames, frame_id=f"{camera}_optical")


# ------------------------------------------------------------------------------------------ fit_to_multiple


def test_fit_to_multiple_vga_reason1_matches_model_card() -> None:
    """640×480 → 644×476 for Qwen2.5-VL: 391 tokens per frame pair, 1,564 for 8 frames."""
    h, w = fit_to_multiple(480, 640, 28, max_pixels=640 * 480)
    assert (h, w) == (476, 644)
    assert (h // 28) * (w // 28) == 391
    assert clip_tokens(8, h, w, REASON1) == 1564
    assert clip_tokens(16, h, w, REASON1) == 3128


def test_fit_to_multiple_vga_reason2_uses_factor_32() -> None:
    h, w = fit_to_multiple(480, 640, REASON2.pixels_per_token_side, max_pixels=640 * 480)
    assert (h, w) == (480, 640)
    assert clip_tokens(8, h, w, REASON2) == 4 * 15 * 20


def test_fit_to_multiple_caps_1080p_keeping_aspect() -> None:
    h, w = fit_to_multiple(1080, 1920, 28, max_pixels=640 * 480)
    assert (h, w) == (392, 728)
    assert h * w <= 640 * 480
    assert abs(w / h - 1920 / 1080) / (1920 / 1080) < 0.06


@pytest.mark.parametrize("factor", [28, 32])
@pytest.mark.parametrize("size", [(1, 1), (7, 300), (57, 83), (480, 640), (481, 641), (1080, 1920), (2160, 3840),
                                  (999, 17), (300, 300)])
@pytest.mark.parametrize("max_pixels", [224 * 224, 640 * 480, 1280 * 720])
def test_fit_to_multiple_sides_are_multiples_and_area_is_capped(size: tuple[int, int], factor: int,
                                                                 max_pixels: int) -> None:
    height, width = size
    h, w = fit_to_multiple(height, width, factor, max_pixels)
    assert h % factor == 0 and w % factor == 0
    assert h >= factor and w >= factor
    assert h * w <= max_pixels
    # Never larger than rounding the source up to the next multiple (no upscaling beyond a multiple).
    assert h <= math.ceil(height / factor) * factor and w <= math.ceil(width / factor) * factor


@pytest.mark.parametrize("size,factor,max_pixels", [
    ((16, 4096), 28, 224 * 224),  # a range-image / panorama strip
    ((4096, 16), 28, 224 * 224),
    ((20, 15000), 28, 640 * 480),
    ((10, 3000), 32, 224 * 224),
])
def test_fit_to_multiple_extreme_aspect_still_respects_max_pixels(size: tuple[int, int], factor: int,
                                                                  max_pixels: int) -> None:
    """The cap must hold for thin frames too: a factor-wide side leaves room (factor² <= max_pixels)."""
    height, width = size
    h, w = fit_to_multiple(height, width, factor, max_pixels)
    assert h % factor == 0 and w % factor == 0
    assert h * w <= max_pixels, f"{height}x{width} -> {h}x{w} = {h * w} pixels > {max_pixels}"


@pytest.mark.parametrize("size", [(20, 20), (50, 50), (30, 90), (100, 40)])
def test_fit_to_multiple_min_pixels_grows_small_frames(size: tuple[int, int]) -> None:
    h, w = fit_to_multiple(*size, factor=28, max_pixels=10**7, min_pixels=224 * 224)
    assert h % 28 == 0 and w % 28 == 0
    assert h * w >= 224 * 224
    # grown, but not far beyond the floor: at most one extra multiple per side
    assert (h - 28) * (w - 28) < 224 * 224


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (-5, 10)])
def test_fit_to_multiple_rejects_empty_frames(size: tuple[int, int]) -> None:
    with pytest.raises(InvalidRequestError):
        fit_to_multiple(*size, factor=28, max_pixels=640 * 480)


def test_clip_tokens_rounds_odd_frame_counts_up_to_a_pair() -> None:
    assert clip_tokens(1, 56, 84, REASON1) == 2 * 3
    assert clip_tokens(2, 56, 84, REASON1) == 2 * 3
    assert clip_tokens(3, 56, 84, REASON1) == 2 * 2 * 3
    assert clip_tokens(5, 64, 96, REASON2) == 3 * 2 * 3


# --------------------------------------------------------------------------------------------- VideoBudget


def test_video_budget_rejects_absurd_limits() -> None:
    with pytest.raises(InvalidRequestError):
        VideoBudget(max_visual_tokens=3)
    with pytest.raises(InvalidRequestError):
        VideoBudget(min_frame_pixels=0)
    with pytest.raises(InvalidRequestError):
        VideoBudget(max_frame_pixels=100, min_frame_pixels=200)


# ---------------------------------------------------------------------------------------------- plan_sizes


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_plan_sizes_within_budget_only_caps_frame_pixels(family: ModelFamily) -> None:
    budget = VideoBudget()
    plan = plan_sizes([(8, 480, 640), (4, 1080, 1920)], family, budget)
    f = family.pixels_per_token_side
    assert plan == [(8, *fit_to_multiple(480, 640, f, budget.max_frame_pixels)),
                    (4, *fit_to_multiple(1080, 1920, f, budget.max_frame_pixels))]
    assert plan_total(plan, family, budget) <= budget.max_visual_tokens


def test_plan_sizes_reason1_budget_counts_the_timestamp_strip() -> None:
    """8 VGA frames on Reason1: 644×476 images plus a 28-row strip = 644×504 → 4·18·23 = 1,656 tokens."""
    budget = VideoBudget()
    plan = plan_sizes([(8, 480, 640)], REASON1, budget)
    assert plan == [(8, 476, 644)]
    assert plan_total(plan, REASON1, budget) == 4 * 18 * 23
    no_strip = VideoBudget(timestamp_overlay=False)
    assert plan_total(plan_sizes([(8, 480, 640)], REASON1, no_strip), REASON1, no_strip) == 1564


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_plan_sizes_shrinks_uniformly_before_dropping_frames(family: ModelFamily) -> None:
    """Two 16-frame VGA cameras over a 4,096-token budget: all frames stay, both shrink to one size."""
    budget = VideoBudget(max_visual_tokens=4096)
    shapes = [(16, 480, 640), (16, 480, 640)]
    full = plan_total(plan_sizes(shapes, family, VideoBudget(max_visual_tokens=10**6)), family, budget)
    assert full > 4096  # the premise: at full size it does not fit
    plan = plan_sizes(shapes, family, budget)
    assert [t for t, _, _ in plan] == [16, 16]
    assert plan[0][1:] == plan[1][1:]
    h, w = plan[0][1:]
    f = family.pixels_per_token_side
    assert h % f == 0 and w % f == 0
    assert budget.min_frame_pixels <= h * w < 640 * 480
    total = plan_total(plan, family, budget)
    assert total <= 4096
    assert total > 0.7 * 4096  # shrunk in small steps, not far below what was needed
    if family is REASON1:
        assert plan == [(16, 364, 504), (16, 364, 504)]


def test_plan_sizes_drops_frames_evenly_once_the_floor_is_reached() -> None:
    """64 VGA frames, 1,000 tokens, Reason1: floor size 252×168 (+strip) = 63 tokens per pair → 15 pairs."""
    budget = VideoBudget(max_visual_tokens=1000)
    plan = plan_sizes([(64, 480, 640)], REASON1, budget)
    assert plan == [(30, 168, 252)]
    assert (168, 252) == fit_to_multiple(480, 640, 28, budget.min_frame_pixels)
    assert plan_total(plan, REASON1, budget) == 15 * 63


def test_plan_sizes_shares_dropped_frames_across_cameras_by_their_length() -> None:
    budget = VideoBudget(max_visual_tokens=1000)
    plan = plan_sizes([(64, 480, 640), (16, 480, 640)], REASON1, budget)
    assert plan == [(24, 168, 252), (6, 168, 252)]
    assert plan[0][0] / 64 == plan[1][0] / 16
    assert plan_total(plan, REASON1, budget) <= 1000


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_plan_sizes_raises_when_not_even_one_pair_fits(family: ModelFamily) -> None:
    budget = VideoBudget(max_visual_tokens=40)  # one VGA pair at the floor costs 63 (R1) / 49 (R2)
    with pytest.raises(InvalidRequestError, match="max_visual_tokens is 40"):
        plan_sizes([(8, 480, 640)], family, budget)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_plan_sizes_fits_cameras_of_different_resolutions_when_one_pair_each_fits(family: ModelFamily) -> None:
    """A 128×128 wrist camera (32 frames) beside a VGA head camera (8 frames): one pair each fits the
    budget, so the plan must succeed (dropping frames) rather than claim the request is impossible."""
    shapes = [(32, 128, 128), (8, 480, 640)]
    f = family.pixels_per_token_side
    strip = f if family.timestamp_overlay else 0
    floor = [fit_to_multiple(h, w, f, VideoBudget().min_frame_pixels) for _, h, w in shapes]
    one_pair_each = sum(clip_tokens(2, h + strip, w, family) for h, w in floor)
    assert one_pair_each == (30 + 63 if family is REASON1 else 16 + 48)
    budget = VideoBudget(max_visual_tokens=one_pair_each + 25)
    plan = plan_sizes(shapes, family, budget)  # must not raise
    assert all(t >= 2 for t, _, _ in plan)
    assert plan_total(plan, family, budget) <= budget.max_visual_tokens


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_plan_sizes_never_exceeds_the_budget(family: ModelFamily) -> None:
    """Random requests (1–3 cameras, any size, any budget): a plan within budget, or InvalidRequestError."""
    rng = random.Random(1234)
    planned = 0
    for _ in range(300):
        shapes = [(rng.randint(1, 64), rng.randint(1, 1200), rng.randint(1, 1600)) for _ in range(rng.randint(1, 3))]
        min_pixels = rng.choice([28 * 28, 112 * 112, 224 * 224])
        budget = VideoBudget(max_visual_tokens=rng.randint(4, 9000), min_frame_pixels=min_pixels,
                             timestamp_overlay=rng.random() < 0.7)
        try:
            plan = plan_sizes(shapes, family, budget)
        except InvalidRequestError:
            continue
        planned += 1
        assert len(plan) == len(shapes)
        for (t, h, w), (t0, _, _) in zip(plan, shapes, strict=False):
            assert 1 <= t <= t0
            assert h % family.pixels_per_token_side == 0 and w % family.pixels_per_token_side == 0
        assert plan_total(plan, family, budget) <= budget.max_visual_tokens
    assert planned > 150  # most random requests are satisfiable


# -------------------------------------------------------------------------------------------- prepare_clips


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_prepare_clips_timestamps_are_relative_to_the_earliest_frame_of_all_clips(family: ModelFamily) -> None:
    front = make_clip("front", [100.0, 100.5, 101.0])
    wrist = make_clip("wrist", [99.75, 100.25])
    prepared = prepare_clips([front, wrist], family, VideoBudget())
    assert [p.camera for p in prepared] == ["front", "wrist"]
    assert prepared[0].timestamps == pytest.approx([0.25, 0.75, 1.25])
    assert prepared[1].timestamps == pytest.approx([0.0, 0.5])
    assert prepared[0].source_stamps == [100.0, 100.5, 101.0]
    assert prepared[1].source_stamps == [99.75, 100.25]
    assert prepared[0].source_stamps_ns == [fr.stamp_ns for fr in front.frames]
    assert prepared[1].source_stamps_ns == [fr.stamp_ns for fr in wrist.frames]
    assert prepared[0].fps == pytest.approx(2.0) and prepared[1].fps == pytest.approx(2.0)
    assert prepared[0].frame_id == "front_optical"
    assert all(p.dropped_frames == 0 and p.notes == [] for p in prepared)


def test_prepare_clips_carries_missing_exact_stamps_as_none() -> None:
    prepared = prepare_clips([make_clip("cam", [1.0, 2.0], with_ns=False)], REASON2, VideoBudget())
    assert prepared[0].source_stamps_ns == [None, None]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_prepare_clips_keeps_newest_and_spreads_kept_frames_when_dropping(family: ModelFamily) -> None:
    stamps = [50.0 + 0.1 * i for i in range(64)]
    clip = make_clip("head", stamps, height=480, width=640)
    budget = VideoBudget(max_visual_tokens=600)
    (prepared,) = prepare_clips([clip], family, budget)
    kept = prepared.num_frames
    assert 2 <= kept < 64
    assert prepared.dropped_frames == 64 - kept
    assert prepared.notes and f"dropped {64 - kept} of 64" in prepared.notes[0]
    assert prepared.source_stamps[-1] == stamps[-1]  # the scene now is always seen
    assert prepared.source_stamps[0] == stamps[0]
    assert prepared.source_stamps_ns[-1] == clip.frames[-1].stamp_ns
    indices = [stamps.index(s) for s in prepared.source_stamps]
    gaps = [b - a for a, b in itertools.pairwise(indices)]
    assert max(gaps) - min(gaps) <= 1  # evenly spread
    assert prepared.visual_tokens <= 600
    assert prepared.timestamps[-1] == pytest.approx(6.3)


def test_prepare_clips_one_surviving_pair_is_the_oldest_and_newest_frame() -> None:
    stamps = [float(i) * 0.25 for i in range(9)]
    (prepared,) = prepare_clips([make_clip("cam", stamps, 480, 640)], REASON1, VideoBudget(max_visual_tokens=63))
    assert prepared.source_stamps == [stamps[0], stamps[-1]]
    assert prepared.timestamps == pytest.approx([0.0, 2.0])
    assert prepared.visual_tokens == 63


def test_prepare_clips_reason1_overlay_draws_a_28_row_black_strip_with_white_text() -> None:
    clip = make_clip("front", [10.0, 10.5], height=56, width=84, value=100)
    (prepared,) = prepare_clips([clip], REASON1, VideoBudget())
    assert prepared.timestamp_overlay is True
    assert prepared.pixels.shape == (2, 56 + 28, 84, 3)
    assert prepared.pixels.dtype == np.uint8
    assert (prepared.pixels[:, :56] == 100).all()  # the image itself is untouched
    for i in range(2):
        strip = prepared.pixels[i, 56:]
        assert strip.shape == (28, 84, 3)
        assert strip.max() == 255  # white text
        assert (strip == 0).all(axis=-1).mean() > 0.6  # mostly black
        assert (strip[..., 0] == strip[..., 1]).all() and (strip[..., 1] == strip[..., 2]).all()  # grey only
    assert not np.array_equal(prepared.pixels[0, 56:], prepared.pixels[1, 56:])  # "0.00s" vs "0.50s"
    expected = draw_timestamp_strip(np.full((56, 84, 3), 100, dtype=np.uint8), 0.5, 28)
    assert np.array_equal(prepared.pixels[1], expected)
    assert prepared.visual_tokens == clip_tokens(2, 84, 84, REASON1) == 9


def test_prepare_clips_reason1_without_overlay_when_budget_disables_it() -> None:
    (prepared,) = prepare_clips([make_clip("front", [0.0, 0.5])], REASON1, VideoBudget(timestamp_overlay=False))
    assert prepared.timestamp_overlay is False
    assert prepared.pixels.shape == (2, 56, 84, 3)
    assert prepared.visual_tokens == 2 * 3


def test_prepare_clips_reason2_has_no_strip() -> None:
    clip = make_clip("front", [0.0, 0.25, 0.5], height=64, width=96, value=30)
    (prepared,) = prepare_clips([clip], REASON2, VideoBudget())
    assert prepared.timestamp_overlay is False
    assert prepared.pixels.shape == (3, 64, 96, 3)
    assert (prepared.pixels == 30).all()
    assert prepared.visual_tokens == clip_tokens(3, 64, 96, REASON2) == 2 * 2 * 3


def test_draw_timestamp_strip_appends_exact_rows() -> None:
    image = np.full((40, 120, 3), 7, dtype=np.uint8)
    out = draw_timestamp_strip(image, 12.345, 28)
    assert out.shape == (68, 120, 3)
    assert np.array_equal(out[:40], image)
    assert out[40:].max() == 255 and (out[40:] == 0).mean() > 0.6


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize("size", [(1, 1), (7, 300), (57, 83), (121, 33), (481, 641)])
@pytest.mark.parametrize("frames", [1, 2, 5])
def test_prepare_clips_any_frame_size_gives_exact_multiples_and_token_count(
        family: ModelFamily, size: tuple[int, int], frames: int) -> None:
    height, width = size
    clip = make_clip("cam", [0.1 * i for i in range(frames)], height=height, width=width)
    budget = VideoBudget()
    (prepared,) = prepare_clips([clip], family, budget)
    f = family.pixels_per_token_side
    t, h, w, c = prepared.pixels.shape
    assert (t, c) == (frames, 3)
    assert h % f == 0 and w % f == 0
    image_h = h - strip_rows(family, budget)
    assert (image_h, w) == fit_to_multiple(height, width, f, budget.max_frame_pixels)
    assert prepared.visual_tokens == clip_tokens(frames, h, w, family)
    assert prepared.visual_tokens == math.ceil(frames / 2) * (h // f) * (w // f)


def test_prepare_clips_resizes_frames_of_mixed_sizes_to_the_newest_frame_size() -> None:
    clip = CameraClip("cam", [
        Frame(np.zeros((120, 160, 3), np.uint8), 0.0),
        Frame(np.zeros((60, 80, 3), np.uint8), 0.5),
        Frame(np.zeros((57, 83, 3), np.uint8), 1.0),
    ])
    (prepared,) = prepare_clips([clip], REASON2, VideoBudget())
    assert prepared.pixels.shape == (3, *fit_to_multiple(57, 83, 32, VideoBudget().max_frame_pixels), 3)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_prepare_clips_visual_tokens_match_the_plan_for_several_cameras(family: ModelFamily) -> None:
    clips = [make_clip("a", [0.1 * i for i in range(16)], 480, 640),
             make_clip("b", [0.1 * i for i in range(5)], 120, 160)]
    budget = VideoBudget(max_visual_tokens=2000)
    prepared = prepare_clips(clips, family, budget)
    plan = plan_sizes([(16, 480, 640), (5, 120, 160)], family, budget)
    strip = strip_rows(family, budget)
    for p, (t, h, w) in zip(prepared, plan, strict=False):
        assert p.pixels.shape[:3] == (t, h + strip, w)
        assert p.visual_tokens == clip_tokens(t, h + strip, w, family)
    assert sum(p.visual_tokens for p in prepared) == plan_total(plan, family, budget) <= 2000


def test_prepare_clips_rejects_empty_requests() -> None:
    with pytest.raises(InvalidRequestError):
        prepare_clips([], REASON1, VideoBudget())
    with pytest.raises(InvalidRequestError, match="'wrist' has no frames"):
        prepare_clips([make_clip("front", [0.0]), CameraClip("wrist", [])], REASON1, VideoBudget())


def test_prepared_clip_num_frames() -> None:
    clip = PreparedClip("c", np.zeros((3, 28, 28, 3), np.uint8), [0, 1, 2], [0, 1, 2], 1.0, 2)
    assert clip.num_frames == 3
