"""Requests for each kind of model server: where a video's frame rate goes (vLLM's mm_processor_kwargs, NIM's
media_io_kwargs), the Cosmos 3 sampling fields, and NIM's limit of one video and five images per request,
refused before anything is sent with a message that says what to change."""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_reason_ros.core.errors import InvalidRequestError
from cosmos_reason_ros.core.frames.video import PreparedClip
from cosmos_reason_ros.core.models.backend import GenerationRequest
from cosmos_reason_ros.core.models.families import COSMOS3
from cosmos_reason_ros.core.models.openai_request import SERVERS, MediaLimitError, media_counts, request_fields
from cosmos_reason_ros.core.modes.prompts import Prompt
from cosmos_reason_ros.core.reasoner import SamplingOverrides


def clip(camera: str, frames: int, fps: float = 4.0) -> PreparedClip:
    return PreparedClip(camera=camera, pixels=np.zeros((frames, 32, 64, 3), np.uint8),
                        timestamps=[i / fps for i in range(frames)], source_stamps=[i / fps for i in range(frames)],
                        fps=fps, visual_tokens=frames)


def request(*clips: PreparedClip) -> GenerationRequest:
    parts: list = []
    for c in clips:
        parts += [f"Camera {c.camera}", c]
    parts.append("What is happening?")
    return GenerationRequest(prompt=Prompt(system="s", parts=parts, mode=None),
                             sampling=SamplingOverrides().apply(COSMOS3, 256))


def test_vllm_gets_the_clip_rate_in_mm_processor_kwargs() -> None:
    fields, extra = request_fields("nvidia/Cosmos3-Nano", "video", 80, request(clip("front", 8, fps=2.0)),
                                   SERVERS["vllm"])
    assert extra["mm_processor_kwargs"] == {"fps": 2.0, "do_sample_frames": False}
    assert "media_io_kwargs" not in extra
    assert fields["messages"][1]["content"][1]["type"] == "video_url"
    assert (fields["temperature"], fields["top_p"], extra["top_k"]) == (0.6, 0.95, 20.0)


def test_nim_gets_the_clip_rate_in_media_io_kwargs() -> None:
    _, extra = request_fields("nvidia/cosmos3-nano-reasoner", "video", 80, request(clip("front", 8)), SERVERS["nim"])
    assert extra["media_io_kwargs"] == {"video": {"fps": 4.0}} and "mm_processor_kwargs" not in extra


def test_a_generic_server_and_image_frames_get_no_rate_field() -> None:
    _, extra = request_fields("m", "video", 80, request(clip("front", 8)), SERVERS["generic"])
    assert "mm_processor_kwargs" not in extra and "media_io_kwargs" not in extra
    _, extra = request_fields("m", "images", 80, request(clip("front", 8)), SERVERS["vllm"])
    assert "mm_processor_kwargs" not in extra  # images carry their times as text lines


def test_plain_sampling_sends_the_presence_penalty() -> None:
    plain = COSMOS3.sampling_for(False)
    req = request(clip("front", 2))
    req.sampling = type(req.sampling)(temperature=plain.temperature, top_p=plain.top_p, top_k=plain.top_k,
                                      repetition_penalty=1.0, presence_penalty=plain.presence_penalty)
    fields, _ = request_fields("m", "images", 80, req)
    assert fields["presence_penalty"] == 1.5


@pytest.mark.parametrize("media, clips, what", [
    ("video", (clip("front", 8), clip("wrist", 8)), "2 videos"),
    ("images", (clip("front", 8),), "8 images"),
    ("video", (clip("front", 8), clip("a", 1), clip("b", 1), clip("c", 1), clip("d", 1), clip("e", 1),
               clip("f", 1)), "6 images"),
])
def test_nim_refuses_what_it_cannot_take_and_says_what_to_change(media, clips, what) -> None:
    with pytest.raises(MediaLimitError) as excinfo:
        request_fields("nvidia/cosmos3-nano-reasoner", media, 80, request(*clips), SERVERS["nim"])
    assert isinstance(excinfo.value, InvalidRequestError)  # the goal's INVALID_GOAL
    message = excinfo.value.message
    assert what in message and "1 video and 5 images" in message and '"front"' in message
    assert ("openai.media to video" in message) == (media == "images")


def test_nim_takes_one_video_and_five_images() -> None:
    clips = (clip("front", 8), *(clip(name, 1) for name in "abcde"))
    assert media_counts(request(*clips).prompt, "video") == (1, 5)
    request_fields("nvidia/cosmos3-nano-reasoner", "video", 80, request(*clips), SERVERS["nim"])  # no error
