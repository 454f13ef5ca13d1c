"""Normalising and patching on the model's device gives what the transformers processor gives, for every family.

Each tiny family (Reason1 = Qwen2.5-VL, Reason2 and Cosmos3 = Qwen3-VL, Cosmos3-Edge's own processors) is loaded
twice from the same checkpoint, once with ``preprocess: device`` and once with ``preprocess: processor`` (the
processor's own CPU path), and the same prompt goes through both: same ``input_ids`` (the processor's own text
expansion), same grids, ``pixel_values*`` equal within 1e-5 (float32; the device path applies the processor's
own constants in its order, so in practice they are bitwise equal), and the same generated text. Sizes cover odd
camera sizes through ``prepare_clips``, one frame (sent as an image), odd frame counts (temporal padding) and two
cameras; with the frame cache the second request reuses the normalised frames and still matches.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import build_tiny_model
from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.models.backend import GenerationRequest, SamplingParams
from cosmos_reason_ros.core.models.device_preprocess import PREPROCESS_BACKENDS
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.core.modes.prompts import build_prompt
from cosmos_reason_ros.testing.tiny_model import TINY_FAMILIES

ATOL = 1e-5  # float32, on the CPU
#: (cameras as (width, height, frames)), chosen for odd sizes, one frame (image), odd counts and two cameras.
CASES = {
    "odd_size_6": [(637, 479, 6)],
    "odd_frames_5": [(321, 239, 5)],
    "one_frame": [(500, 333, 1)],
    "two_cameras_3_and_7": [(640, 480, 3), (353, 197, 7)],
    "hd_8": [(1280, 720, 8)],
}


def clips(cameras: list[tuple[int, int, int]], seed: int = 0) -> list[CameraClip]:
    rng = np.random.default_rng(seed)
    out = []
    for index, (width, height, frames) in enumerate(cameras):
        out.append(CameraClip(f"cam{index}", [
            Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), 3.0 + 0.5 * i, int((3.0 + 0.5 * i) * 1e9))
            for i in range(frames)]))
    return out


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def pair(request) -> tuple[TransformersBackend, TransformersBackend]:
    """(device backend, processor backend) of one family, the same checkpoint loaded twice on the CPU."""
    path: Path = build_tiny_model(request.param, teach=True)
    config = TransformersConfig(model=str(path), device="cpu", warmup=False)
    device = TransformersBackend(config)
    device.load()
    processor = TransformersBackend(dataclasses.replace(config, preprocess="processor"))
    processor.load()
    yield device, processor
    device.close()
    processor.close()


def prompt_for(backend: TransformersBackend, cameras: list[tuple[int, int, int]] | list[CameraClip],
               cache: FrameCache | None = None, seed: int = 0):
    """The prompt of a QUESTION over ``cameras`` (sizes, or clips already made: the same frames again)."""
    assert backend.family is not None
    given = cameras if isinstance(cameras[0], CameraClip) else clips(cameras, seed)  # type: ignore[arg-type]
    prepared = prepare_clips(given, backend.family, VideoBudget(max_visual_tokens=16384), cache=cache)
    return build_prompt(backend.family, Mode.QUESTION, "What is on the table?", prepared)


def assert_same_inputs(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            assert got[key].shape == value.shape, key
            assert got[key].dtype == value.dtype, key
            assert torch.allclose(got[key], value, atol=ATOL, rtol=0), \
                f"{key}: max difference {float((got[key] - value).abs().max())}"
        elif isinstance(value, torch.Tensor):
            assert torch.equal(got[key], value), key
        else:
            assert got[key] == value, key


def test_the_choices_are_device_and_processor() -> None:
    assert PREPROCESS_BACKENDS == ("device", "processor")
    assert TransformersConfig().preprocess == "device"


def test_each_backend_preprocesses_where_it_was_asked(pair) -> None:
    device, processor = pair
    assert device.preprocessing == "device"
    assert processor.preprocessing == "processor"


@pytest.mark.parametrize("case", sorted(CASES))
def test_device_inputs_equal_the_processors(pair, case: str) -> None:
    device, processor = pair
    want, want_visual, want_opener = processor.prepare(prompt_for(processor, CASES[case]))
    got, got_visual, got_opener = device.prepare(prompt_for(device, CASES[case]))
    assert_same_inputs(got, want)
    assert (got_visual, got_opener) == (want_visual, want_opener)
    assert ("pixel_values" in want) == any(frames == 1 for _, _, frames in CASES[case])


def test_cached_frames_give_the_same_inputs_as_the_processor(pair) -> None:
    """The second request over the same frames takes their patches from the backend's cache (a hit per temporal
    patch group) and still equals the processor's input; another scene (new frames) misses and matches too."""
    device, processor = pair
    resized = FrameCache()
    cameras = CASES["two_cameras_3_and_7"]
    scene = clips(cameras)
    first, _, _ = device.prepare(prompt_for(device, scene, resized))
    before = device.frame_cache.stats()
    again, _, _ = device.prepare(prompt_for(device, scene, resized))
    after = device.frame_cache.stats()
    groups = sum(-(-frames // device.family.temporal_patch_size) for _, _, frames in cameras)
    assert after.hits - before.hits == groups  # every temporal patch group of both cameras
    want, _, _ = processor.prepare(prompt_for(processor, scene))
    assert_same_inputs(first, want)
    assert_same_inputs(again, want)
    other, _, _ = device.prepare(prompt_for(device, cameras, resized, seed=1))
    assert_same_inputs(other, processor.prepare(prompt_for(processor, cameras, seed=1))[0])
    assert not torch.equal(other["pixel_values_videos"], want["pixel_values_videos"])


@pytest.mark.parametrize("case", ["odd_frames_5", "one_frame"])
def test_generated_text_is_the_same_both_ways(pair, case: str) -> None:
    device, processor = pair
    sampling = SamplingParams(temperature=0.0, max_new_tokens=24)
    got = device.generate(GenerationRequest(prompt=prompt_for(device, CASES[case]), sampling=sampling))
    want = processor.generate(GenerationRequest(prompt=prompt_for(processor, CASES[case]), sampling=sampling))
    assert got.text == want.text
    assert got.stats.generated_tokens == want.stats.generated_tokens > 0


def test_a_sliding_window_reuses_aligned_groups_and_still_equals_the_processor(pair) -> None:
    """Windows moving over one camera's frames: by an even count the temporal groups line up with cached ones
    (hits; the timestamp strip, redrawn for the new t0, is patched anew), by an odd count they do not (misses);
    every input equals the processor's."""
    device, processor = pair
    resized = FrameCache()
    (camera,) = clips([(353, 261, 9)])
    windows = {"first": camera.frames[0:6], "two later": camera.frames[2:8], "one later": camera.frames[3:9]}
    for name, chosen in windows.items():
        scene = [CameraClip("front", chosen)]
        before = device.frame_cache.stats()
        got, _, _ = device.prepare(prompt_for(device, scene, resized))
        after = device.frame_cache.stats()
        assert_same_inputs(got, processor.prepare(prompt_for(processor, scene))[0])
        if name == "two later" and device.family.temporal_patch_size == 2:
            assert after.hits - before.hits == 2  # frames 2-3 and 4-5 were a group in the first window too
