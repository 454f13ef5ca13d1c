"""The body of an OpenAI-compatible chat-completions request for one Prompt.

Frames become inline JPEG data URLs (the server needs no access to the robot's files). ``images`` sends
every frame as an image after a line naming its camera, index and time (any server); ``video`` sends
each clip as one JPEG-sequence video (vLLM's ``data:video/jpeg;base64,...`` convention).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from cosmos_reason_ros.core.errors import ModelError
from cosmos_reason_ros.core.models.backend import GenerationRequest
from cosmos_reason_ros.core.models.families import DEFAULT_MODEL
from cosmos_reason_ros.core.modes.prompts import Prompt, quote_text

#: How clips reach the server (``OpenAIConfig.media``).
MEDIA = ("images", "video")
#: Accepted JPEG qualities, inclusive (below 10 the artefacts cost the model more than the bytes saved).
JPEG_QUALITY_RANGE = (10, 100)


@dataclass(frozen=True)
class OpenAIConfig:
    """Where the model server is and how to talk to it. Each field is meant as a node parameter:
    ``openai.<field>``, except ``model`` and ``model_family``, which are the node's top-level ones."""

    base_url: str = "http://127.0.0.1:8000/v1"  # the server's OpenAI API root, including /v1
    model: str = DEFAULT_MODEL  # name as served (vLLM: --served-model-name; transformers serve: its path)
    api_key_env: str = "COSMOS_REASON_API_KEY"  # NAME of the env variable holding the key; unset or empty: no auth
    model_family: str = "auto"  # auto (from "Reason1"/"Reason2" in model; else reason1, warned) | reason1 | reason2
    request_timeout: float = 120.0  # s to wait for the response to start, then for each streamed chunk
    connect_timeout: float = 5.0  # s to open the connection (TCP and TLS)
    retries: int = 2  # extra attempts after connection errors, HTTP 429 and 5xx, before any text arrived
    retry_backoff: float = 0.5  # s before the first retry, doubling per retry; never waits past the deadline
    verify_tls: bool = True  # check the server's certificate (https base_url)
    jpeg_quality: int = 90  # JPEG_QUALITY_RANGE, quality of the JPEG frames sent
    media: str = "images"  # MEDIA: images (one JPEG image_url per frame, any server) | video (one per clip, vLLM)


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


def request_fields(model: str, media: str, quality: int,
                   request: GenerationRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request's fields in the OpenAI schema, and the sampling fields outside it (``extra_body``).

    Frames are encoded here, once per request, whatever the retries.
    """
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
    return fields, extra
