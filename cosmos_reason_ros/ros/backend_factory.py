"""Node settings → the model backend they ask for (local transformers or a remote server)."""
from __future__ import annotations

from ..core.backend_base import ModelBackend
from ..core.transformers_backend import TransformersBackend, TransformersConfig
from .parameters import Settings


def make_backend(s: Settings) -> ModelBackend:
    """Build (not load) the backend; loading happens on the node's loader thread."""
    if s.backend == "openai":
        from ..core.openai_backend import OpenAIBackend, OpenAIConfig

        return OpenAIBackend(OpenAIConfig(
            base_url=s.openai_base_url, model=s.model, api_key_env=s.openai_api_key_env,
            model_family=s.model_family, request_timeout=s.openai_request_timeout,
            connect_timeout=s.openai_connect_timeout, retries=s.openai_retries, retry_backoff=s.openai_retry_backoff,
            verify_tls=s.openai_verify_tls, jpeg_quality=s.openai_jpeg_quality, media=s.openai_media,
        ))
    return TransformersBackend(TransformersConfig(
        model=s.model, revision=s.local_revision, device=s.local_device, dtype=s.local_dtype,
        attn_implementation=s.local_attn_implementation, quantization=s.local_quantization,
        bnb_4bit_quant_type=s.local_bnb_4bit_quant_type, bnb_4bit_double_quant=s.local_bnb_4bit_double_quant,
        model_family=s.model_family, offline=s.local_offline, warmup=s.local_warmup,
    ))
