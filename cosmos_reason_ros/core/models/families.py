"""Model families: what differs between Cosmos-Reason1 (Qwen2.5-VL) and Cosmos-Reason2 (Qwen3-VL).

A family owns its prompt format, its sampling defaults and its vision geometry. The family is chosen from
the model's config (``model_type``), never from the model's name, so fine-tunes and later releases with
the same architecture work unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from cosmos_reason_ros.core.errors import ModelLoadError

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"


@dataclass(frozen=True)
class SamplingDefaults:
    """Generation settings the family was tuned with for reasoning."""

    temperature: float
    top_p: float
    top_k: int  # 0 = no top-k filtering
    repetition_penalty: float
    max_new_tokens: int


@dataclass(frozen=True)
class ModelFamily:
    """Prompt format, sampling and vision geometry of one model family."""

    name: str
    #: ``config.model_type`` values that belong to this family.
    model_types: tuple[str, ...]
    system_prompt: str
    #: Reasoning-format instruction appended to the system prompt (Reason1) or to the user prompt (Reason2).
    reasoning_instruction: str
    reasoning_in_system_prompt: bool
    #: Whether the final answer is wrapped in <answer>...</answer> (Reason1) or follows </think> bare (Reason2).
    answer_in_tags: bool
    sampling: SamplingDefaults
    #: Pixels per visual-token side after the 2×2 merge (patch 14 → 28, patch 16 → 32).
    pixels_per_token_side: int
    #: Frames folded into one temporal patch.
    temporal_patch_size: int
    #: Whether the model expects each frame's time drawn on a black strip under it.
    timestamp_overlay: bool
    #: Frame-index rate for the processor's video metadata, when the processor writes frame times into the
    #: prompt as index / rate (Qwen3-VL): a fine rate keeps irregular times exact. None: use the clip's own
    #: sampling rate, which Qwen2.5-VL turns into temporal position ids.
    frame_time_base: float | None = None
    #: How the family writes 2D points and boxes (core.grounding): 0 = absolute pixels of the image as resized
    #: for the model (Qwen2.5-VL); N = each axis normalised to 0..N over that image (Qwen3-VL: 1000).
    grounding_scale: int = 0

    def system_text(self) -> str:
        """The system message for a reasoning request."""
        if self.reasoning_in_system_prompt:
            return f"{self.system_prompt} {self.reasoning_instruction}"
        return self.system_prompt

    def user_suffix(self) -> str:
        """Text appended after the user's instruction ("" for families that put it in the system prompt)."""
        return "" if self.reasoning_in_system_prompt else self.reasoning_instruction


REASON1 = ModelFamily(
    name="reason1",
    model_types=("qwen2_5_vl",),
    system_prompt="You are a helpful assistant.",
    reasoning_instruction=(
        "Answer the question in the following format: "
        "<think>\nyour reasoning\n</think>\n\n<answer>\nyour answer\n</answer>."
    ),
    reasoning_in_system_prompt=True,
    answer_in_tags=True,
    sampling=SamplingDefaults(temperature=0.6, top_p=0.95, top_k=0, repetition_penalty=1.05, max_new_tokens=4096),
    pixels_per_token_side=28,
    temporal_patch_size=2,
    timestamp_overlay=True,
)

REASON2 = ModelFamily(
    name="reason2",
    model_types=("qwen3_vl", "qwen3_vl_moe"),
    system_prompt="You are a helpful assistant.",
    reasoning_instruction=(
        "\n\nAnswer the question using the following format:\n\n<think>\nYour reasoning.\n</think>\n\n"
        "Write your final answer immediately after the </think> tag."
    ),
    reasoning_in_system_prompt=False,
    answer_in_tags=False,
    sampling=SamplingDefaults(temperature=0.6, top_p=0.95, top_k=20, repetition_penalty=1.0, max_new_tokens=4096),
    pixels_per_token_side=32,
    temporal_patch_size=2,
    timestamp_overlay=False,
    frame_time_base=1000.0,
    grounding_scale=1000,
)

FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (REASON1, REASON2)}
#: The model both backends use when none is configured (the node's ``model`` parameter default).
DEFAULT_MODEL = "nvidia/Cosmos-Reason1-7B"


def family_for_model_type(model_type: str, override: str | None = None) -> ModelFamily:
    """Pick the family from a config's ``model_type``; ``override`` ("reason1"/"reason2") wins if given."""
    if override and override != "auto":
        try:
            return FAMILIES[override]
        except KeyError as e:
            raise ModelLoadError(
                f"unknown model family {override!r}; choose one of: auto, {', '.join(FAMILIES)}"
            ) from e
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    supported = ", ".join(t for f in FAMILIES.values() for t in f.model_types)
    raise ModelLoadError(
        f"model architecture {model_type!r} is not a Cosmos Reason family (supported model_type: {supported}); "
        "set model_family to reason1 or reason2 to force a prompt format"
    )
