"""Node settings → the model backend they ask for (local transformers or a remote server).

Each backend config field is the parameter ``<prefix>.<field>`` (``local.`` or ``openai.``), except
``model`` and ``model_family``, which are top-level: the mapping is by name, so a config field without a
parameter fails here at once instead of silently keeping a default of its own.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from cosmos_reason_ros.core.models.backend import ModelBackend
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig

TOP_LEVEL_FIELDS = ("model", "model_family")


def config_from_settings(config_type: type, prefix: str, s: Any) -> Any:
    """Build ``config_type`` from the settings fields ``<prefix>_<field>`` (top-level ones as they are)."""
    values = {}
    for f in dataclasses.fields(config_type):
        name = f.name if f.name in TOP_LEVEL_FIELDS else f"{prefix}_{f.name}"
        values[f.name] = getattr(s, name)
    return config_type(**values)


def make_backend(s: Any) -> ModelBackend:
    """Build (not load) the backend; loading happens on the node's loader thread."""
    if s.backend == "openai":
        from cosmos_reason_ros.core.models.openai_backend import OpenAIBackend, OpenAIConfig

        return OpenAIBackend(config_from_settings(OpenAIConfig, "openai", s))
    return TransformersBackend(config_from_settings(TransformersConfig, "local", s))
