"""The body of an OpenAI-compatible chat-completions request for one Prompt.

Frames become inline JPEG data URLs (the server needs no access to the robot's files). ``images`` sends
every frame as an image after a line naming its camera, index and time (any server); ``video`` sends
each clip as one JPEG-sequence video (vLLM's ``data:video/jpeg;base64,...`` convention).
"""
from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np

from .backend_base import GenerationRequest
from .errors import ModelError
from .prompts import Prompt, quote_text


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
            for i, (frame, t) in enumerate(zip(part.pixels, part.timestamps), start=1):
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
