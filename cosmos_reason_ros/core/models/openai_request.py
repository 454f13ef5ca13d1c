"""The body of an OpenAI-compatible chat-completions request for one Prompt.

Frames become inline JPEG data URLs (the server needs no access to the robot's files). ``images`` sends
every frame as an image after a line naming its camera, index and time (any server); ``video`` sends
each clip as one JPEG-sequence video (vLLM's ``data:video/jpeg;base64,...`` convention).

Servers differ in how they are told a video's frame rate (the model writes frame times from it) and in how
much media one request may carry: ``SERVERS`` holds one row per kind. A request that exceeds the server's
limit is refused before anything is sent (``MediaLimitError``, the goal's INVALID_GOAL) with what to change.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from cosmos_reason_ros.core.errors import InvalidRequestError, ModelError
from cosmos_reason_ros.core.models.backend import GenerationRequest
from cosmos_reason_ros.core.models.families import DEFAULT_MODEL
from cosmos_reason_ros.core.modes.prompts import Prompt, quote_text

#: How clips reach the server (``OpenAIConfig.media``).
MEDIA = ("images", "video")


@dataclass(frozen=True)
class ServerKind:
    """What differs between model servers behind the same OpenAI API."""

    name: str
    #: Where a video's frame rate goes in the request body: "mm_processor_kwargs" (vLLM: {"fps": ...,
    #: "do_sample_frames": false}), "media_io_kwargs" (NIM: {"video": {"fps": ...}}), or "" (not sent).
    fps_field: str
    max_videos: int  # videos one request may carry; 0 = no limit
    max_images: int  # images one request may carry; 0 = no limit
    note: str  # for messages and docs


SERVERS: dict[str, ServerKind] = {k.name: k for k in (
    ServerKind("generic", "", 0, 0, "any OpenAI-compatible server (transformers serve, SGLang, ...)"),
    ServerKind("vllm", "mm_processor_kwargs", 0, 0, "vLLM >= 0.23"),
    ServerKind("nim", "media_io_kwargs", 1, 5, "NVIDIA NIM (cosmos3-reasoner): 1 video and 5 images per request"),
)}


class MediaLimitError(InvalidRequestError):
    """The request carries more videos or images than the server accepts in one request."""


#: Accepted JPEG qualities, inclusive (below 10 the artefacts cost the model more than the bytes saved).
JPEG_QUALITY_RANGE = (10, 100)


@dataclass(frozen=True)
class OpenAIConfig:
    """Where the model server is and how to talk to it. Each field is meant as a node parameter:
    ``openai.<field>``, except ``model`` and ``model_family``, which are the node's top-level ones."""

    base_url: str = "http://127.0.0.1:8000/v1"  # the server's OpenAI API root, including /v1
    model: str = DEFAULT_MODEL  # name as served (vLLM: --served-model-name; transformers serve: its path)
    api_key_env: str = "COSMOS_REASON_API_KEY"  # NAME of the env variable holding the key; unset or empty: no auth
    model_family: str = "auto"  # auto (families.family_from_name; else cosmos3, warned) | a FAMILIES key
    request_timeout: float = 120.0  # s to wait for the response to start, then for each streamed chunk
    connect_timeout: float = 5.0  # s to open the connection (TCP and TLS)
    retries: int = 2  # extra attempts after connection errors, HTTP 429 and 5xx, before any text arrived
    retry_backoff: float = 0.5  # s before the first retry, doubling per retry; never waits past the deadline
    verify_tls: bool = True  # check the server's certificate (https base_url)
    jpeg_quality: int = 90  # JPEG_QUALITY_RANGE, quality of the JPEG frames sent
    media: str = "images"  # MEDIA: images (one JPEG image_url per frame, any server) | video (one per clip, vLLM)
    server: str = "generic"  # SERVERS: generic | vllm (fps via mm_processor_kwargs) | nim (media_io_kwargs, limits)


def encode_jpeg(rgb: np.ndarray, quality: int) -> str:
    """One H×W×3 RGB frame as base64 JPEG."""
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ModelError(f"could not encode a {rgb.shape} frame as JPEG")
    return base64.b64encode(buffer.tobytes()).decode("ascii")


def chat_messages(prompt: Prompt, media: str, quality: int) -> list[dict[str, Any]]:
    """Text parts as they are; each clip as JPEG frames, each after a line naming its camera and time."""
    content: list[dict[str, Any]] = []
    for part in prompt.parts:
        if isinstance(part, str):
            content.append({"type": "text", "text": part})
        elif media == "video" and part.num_frames > 1:
            frames = ",".join(encode_jpeg(frame, quality) for frame in part.pixels)
            content.append({"type": "video_url", "video_url": {"url": f"data:video/jpeg;base64,{frames}"}})
        else:
            camera = quote_text(part.camera)  # user data: cleaned and neutralised like the prompt's labels
            for i, (frame, t) in enumerate(zip(part.pixels, part.timestamps, strict=False), start=1):
                url = f"data:image/jpeg;base64,{encode_jpeg(frame, quality)}"
                content += [{"type": "text", "text": f"{camera} frame {i} of {part.num_frames} at {t:.2f} s:"},
                            {"type": "image_url", "image_url": {"url": url}}]
    return [{"role": "system", "content": prompt.system}, {"role": "user", "content": content}]


def media_counts(prompt: Prompt, media: str) -> tuple[int, int]:
    """(videos, images) the prompt becomes with ``media``: in video media a clip of one frame is an image."""
    videos = sum(1 for clip in prompt.clips if media == "video" and clip.num_frames > 1)
    images = sum(clip.num_frames for clip in prompt.clips if not (media == "video" and clip.num_frames > 1))
    return videos, images


def check_media_limits(prompt: Prompt, media: str, server: ServerKind) -> None:
    """Raise MediaLimitError, saying what to change, when the prompt exceeds what ``server`` takes."""
    videos, images = media_counts(prompt, media)
    cameras = ", ".join(quote_text(clip.camera) for clip in prompt.clips)
    if server.max_videos and videos > server.max_videos:
        raise MediaLimitError(
            f"{server.note}: this goal would send {videos} videos (cameras {cameras}); name at most "
            f"{server.max_videos} camera(s) in the goal's cameras, or use a server without the limit (vLLM)")
    if server.max_images and images > server.max_images:
        hint = "set openai.media to video (one video per camera)" if media == "images" else "use fewer cameras"
        raise MediaLimitError(
            f"{server.note}: this goal would send {images} images (cameras {cameras}); {hint}, or lower the "
            f"goal's max_frames so that at most {server.max_images} frames are sent as images")


def _fps_fields(prompt: Prompt, media: str, server: ServerKind) -> dict[str, Any]:
    """The frame rate of the request's videos in the server's own field (the model writes frame times from it);
    the clips of one request share the node's sampling rate, so the first video's rate stands for all."""
    rates = [clip.fps for clip in prompt.clips if media == "video" and clip.num_frames > 1 and clip.fps > 0]
    if not rates or not server.fps_field:
        return {}
    if server.fps_field == "media_io_kwargs":
        return {"media_io_kwargs": {"video": {"fps": float(rates[0])}}}
    return {"mm_processor_kwargs": {"fps": float(rates[0]), "do_sample_frames": False}}


def request_fields(model: str, media: str, quality: int, request: GenerationRequest,
                   server: ServerKind = SERVERS["generic"]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request's fields in the OpenAI schema, and the fields outside it (``extra_body``).

    Frames are encoded here, once per request, whatever the retries. Raises MediaLimitError first when the
    request exceeds what the server takes.
    """
    check_media_limits(request.prompt, media, server)
    s = request.sampling
    fields: dict[str, Any] = {
        "model": model, "messages": chat_messages(request.prompt, media, quality), "max_tokens": s.max_new_tokens,
        "temperature": float(s.temperature), "top_p": float(s.top_p), "stream_options": {"include_usage": True},
    }
    if s.seed is not None:
        fields["seed"] = s.seed
    if request.n > 1:  # several sampled sequences of one prompt (the critic's N-run agreement)
        fields["n"] = request.n
    # Floats, never ints: integer extra values have broken some servers' streaming paths.
    extra: dict[str, Any] = {"repetition_penalty": float(s.repetition_penalty)}
    if s.top_k > 0:
        extra["top_k"] = float(s.top_k)
    if s.ignore_eos:
        extra["ignore_eos"] = True
    if s.presence_penalty:
        fields["presence_penalty"] = float(s.presence_penalty)
    if request.top_logprobs > 0:  # a one-token yes/no check reads P(yes) and P(no) from them
        fields["logprobs"] = True
        fields["top_logprobs"] = int(request.top_logprobs)
    if not request.prompt.reasoning:  # a template with a thinking switch (Cosmos3-Edge) renders it off
        extra["chat_template_kwargs"] = {"enable_thinking": False}
    extra.update(_fps_fields(request.prompt, media, server))
    return fields, extra
