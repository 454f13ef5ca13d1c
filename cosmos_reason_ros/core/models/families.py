"""Model families: what differs between Cosmos-Reason1 (Qwen2.5-VL), Cosmos-Reason2 (Qwen3-VL), the Cosmos 3
reasoners Nano/Super (Qwen3-VL) and Cosmos3-Edge (a Nemotron-style decoder with a SigLIP2 vision tower).

A family is a configuration row, not a code branch: its prompt format, sampling defaults (with and without
reasoning), default vision geometry, timestamp style, grounding convention, critic prompt form and the extra
text its tokenizer reads as control switches. The family is chosen from the model's config (``model_type``),
never from the model's name, so fine-tunes and later releases with the same architecture work unchanged; a
local backend replaces the default geometry with its processor's own (``with_geometry``). ``MODELS`` lists
the checkpoints the package supports, for the README's table (the only place their facts are written).
"""
from __future__ import annotations

import dataclasses
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
    presence_penalty: float = 0.0  # servers only (vLLM, NIM); transformers has no presence penalty


#: Critic prompt forms (``ModelFamily.critic_form``; core.modes.plausibility writes and reads each).
CRITIC_COMPONENTS = "components"  # Reason1: <component> analysis with <anomaly> tags, then Yes/No to "anomalies?"
CRITIC_SCORE = "score"  # Reason2: four criteria, one integer score 1-5
CRITIC_CHOICE = "choice"  # Cosmos 3: "(A) Possible (B) Impossible", one letter back
CRITIC_FORMS = (CRITIC_COMPONENTS, CRITIC_SCORE, CRITIC_CHOICE)


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
    #: Human name of the family (logs, docs).
    title: str = ""
    #: Sampling without reasoning (a request that asks for no <think> block); None: the reasoning sampling.
    plain_sampling: SamplingDefaults | None = None
    #: Frames per second the recipe samples video at (docs; servers are told each clip's own rate).
    recommended_fps: float = 4.0
    #: CRITIC_FORMS: the critic prompt the family is asked in.
    critic_form: str = CRITIC_SCORE
    #: Text its tokenizer or chat template reads as a control switch that is not tag-shaped (Edge: /think),
    #: neutralised in user text beside the tag-shaped specials (core.text_safety).
    reserved_text: tuple[str, ...] = ()
    #: Lower-case fragments of served model names that suggest this family (a remote server cannot say).
    name_hints: tuple[str, ...] = ()

    def with_geometry(self, pixels_per_token_side: int, temporal_patch_size: int) -> ModelFamily:
        """This family with the vision geometry a loaded processor reports (its patch x merge, temporal patch)."""
        if pixels_per_token_side <= 0 or temporal_patch_size <= 0:
            raise ModelLoadError(f"processor geometry {pixels_per_token_side} px per token, temporal patch "
                                 f"{temporal_patch_size} is not usable")
        if (pixels_per_token_side, temporal_patch_size) == (self.pixels_per_token_side, self.temporal_patch_size):
            return self  # the row's default geometry: the same row
        return dataclasses.replace(self, pixels_per_token_side=pixels_per_token_side,
                                   temporal_patch_size=temporal_patch_size)

    def sampling_for(self, reasoning: bool) -> SamplingDefaults:
        """The recipe's sampling with or without a reasoning block."""
        return self.sampling if reasoning or self.plain_sampling is None else self.plain_sampling

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
    title="Cosmos-Reason1 (Qwen2.5-VL)",
    critic_form=CRITIC_COMPONENTS,
    name_hints=("reason1",),
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
    title="Cosmos-Reason2 (Qwen3-VL)",
    critic_form=CRITIC_SCORE,
    name_hints=("reason2",),
)

#: Cosmos 3 reasoners, from the Cosmos 3 prompt guide: Reason2's format (the training suffix on the user turn,
#: the answer bare after </think>), Qwen3-VL's non-thinking sampling when no reasoning is asked for.
_COSMOS3_SAMPLING = SamplingDefaults(temperature=0.6, top_p=0.95, top_k=20, repetition_penalty=1.0,
                                     max_new_tokens=4096, presence_penalty=0.0)
_COSMOS3_PLAIN_SAMPLING = SamplingDefaults(temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.0,
                                           max_new_tokens=4096, presence_penalty=1.5)

COSMOS3 = dataclasses.replace(
    REASON2,
    name="cosmos3",
    model_types=("cosmos3_omni",),
    sampling=_COSMOS3_SAMPLING,
    title="Cosmos 3 Nano / Super reasoner (Qwen3-VL)",
    plain_sampling=_COSMOS3_PLAIN_SAMPLING,
    critic_form=CRITIC_CHOICE,
    name_hints=("cosmos3", "cosmos-3"),
)

#: Cosmos3-Edge: its own SigLIP2 processor (patch 16, merge 2, one frame per temporal patch, read from the
#: processor when loaded); a chat template that may open the answer with <think> and reads /think, /no_think.
COSMOS3_EDGE = dataclasses.replace(
    COSMOS3,
    name="cosmos3_edge",
    model_types=("cosmos3_edge",),
    title="Cosmos3-Edge reasoner (Nemotron-style decoder, SigLIP2 vision)",
    temporal_patch_size=1,
    reserved_text=("<s>", "</s>", "/think", "/no_think"),
    name_hints=("cosmos3-edge", "cosmos3_edge", "cosmos-3-edge"),
)

FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (REASON1, REASON2, COSMOS3, COSMOS3_EDGE)}


def family_for_model_type(model_type: str, override: str | None = None) -> ModelFamily:
    """Pick the family from a config's ``model_type``; ``override`` (a FAMILIES key) wins if given."""
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
        f"model architecture {model_type!r} is not a Cosmos Reason or Cosmos 3 family (supported model_type: "
        f"{supported}); set model_family to one of {', '.join(FAMILIES)} to force a prompt format"
    )


def family_from_name(model: str) -> ModelFamily | None:
    """The family a served model name suggests ("nvidia/cosmos3-nano-reasoner" -> cosmos3), or None: the
    longest matching hint wins, so Cosmos3-Edge is not read as Cosmos 3 Nano. Only a hint: names are free."""
    lowered = model.lower()
    hits = [(len(hint), family) for family in FAMILIES.values() for hint in family.name_hints if hint in lowered]
    return max(hits, key=lambda hit: hit[0])[1] if hits else None


@dataclass(frozen=True)
class SupportedModel:
    """One checkpoint the package runs: what a team needs to know to choose it."""

    hub_id: str
    family: str  # a FAMILIES key
    size: str  # parameters
    gpu_memory: str  # what it needs to run in bf16 (vendor figures)
    gated: bool | None  # the hub asks for an accepted licence and a token first; None = not stated here
    jetson: str  # which Jetson it fits, "" = none
    serving: str  # where it runs: local transformers, vLLM, NIM


#: The supported checkpoints; the first is the default (``DEFAULT_MODEL``).
MODELS: tuple[SupportedModel, ...] = (
    SupportedModel("nvidia/Cosmos3-Edge", "cosmos3_edge", "4B", "9.2 GB of weights: a 16 GB GPU", False,
                   "made for Jetson: Orin, Thor", "local (transformers); vLLM >= 0.29; Jetson: TensorRT-Edge-LLM"),
    SupportedModel("nvidia/Cosmos3-Nano", "cosmos3", "8B reasoner (16B checkpoint)", "16-17 GB; NIM: 23.1 GiB",
                   True, "AGX Orin 32/64 GB, Thor (by memory)", "local (transformers); vLLM >= 0.23; NIM"),
    SupportedModel("nvidia/Cosmos3-Super", "cosmos3", "32B reasoner (64B checkpoint)", "4 GPUs (tensor parallel)",
                   True, "", "vLLM >= 0.23 (--tensor-parallel-size 4); NIM"),
    SupportedModel("nvidia/Cosmos-Reason2-2B", "reason2", "2B", "24 GB (vendor)", None,
                   "Thor (NVIDIA recipe); Orin Nano 8 GB at W4A16 (community)", "local (transformers); vLLM"),
    SupportedModel("nvidia/Cosmos-Reason2-8B", "reason2", "8B", "32 GB (vendor)", None,
                   "Thor (NVFP4), AGX Orin (W4A16), on vLLM", "local (transformers); vLLM"),
    SupportedModel("nvidia/Cosmos-Reason2-32B", "reason2", "32B", "several GPUs", None, "", "vLLM"),
    SupportedModel("nvidia/Cosmos-Reason1-7B", "reason1", "7B", "24 GB (vendor)", None,
                   "AGX Orin 32/64 GB, Thor (by memory)", "local (transformers); vLLM"),
)

#: The model both backends use when none is configured (the node's ``model`` parameter default): the Cosmos 3
#: reasoner a robot team can start with today. It is not gated (the first launch downloads it without a
#: token), its 4B weights fit 16 GB GPUs and Jetson Orin and Thor, and it is the current family (Reason2 is in
#: limited maintenance). Cosmos3-Nano is the step up where a 24 GB GPU or a shared server is at hand.
DEFAULT_MODEL = MODELS[0].hub_id  # Cosmos3-Edge: the table's first row


_GATED = {True: "yes", False: "no", None: "see its hub page"}


def models_table() -> str:
    """The README's table of supported models, written from ``MODELS`` and the family rows."""
    lines = ["| model | family | size | GPU memory (bf16) | gated | Jetson | runs on | recipe fps |",
             "|---|---|---|---|---|---|---|---|"]
    for m in MODELS:
        default = " (default)" if m.hub_id == DEFAULT_MODEL else ""
        lines.append(f"| `{m.hub_id}`{default} | `{m.family}`: {FAMILIES[m.family].title} | {m.size} | "
                     f"{m.gpu_memory} | {_GATED[m.gated]} | {m.jetson or '-'} | {m.serving} | "
                     f"{FAMILIES[m.family].recommended_fps:g} |")
    return "\n".join(lines)
