"""Run Cosmos Reason and the Cosmos 3 reasoners locally with ``transformers``: load, prepare inputs, generate.

Loading is separate from construction (``load()``), reports progress and ends with a short warm-up
generation so the first goal is not the slow one. Generation follows the pipeline split: ``preprocess``
(prompt → tensors on the device), ``_forward`` (``generate`` under ``torch.inference_mode``, nothing
else) and ``_postprocess`` (stop reason and timing). Out-of-memory errors free the request's tensors
and the allocator cache and surface as ``OutOfMemoryError``; the backend stays usable.

Processors differ by family, and what a checkpoint's saved processor config says differs too, so the
request states what the backend relies on: video metadata returned (Cosmos3-Edge writes frame times from it),
multimodal token types returned (its M-RoPE needs them), and the geometry is read from the processor itself
(``ModelFamily.with_geometry``). A chat template that opens the answer with ``<think>`` (Edge's) gets that
opener put back in front of the generated text, so the reasoning reads as reasoning.
"""
from __future__ import annotations

import gc
import importlib.util
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cosmos_reason_ros.core.datatypes import GenerationOutput, GenerationStats
from cosmos_reason_ros.core.errors import (
    DependencyMissingError,
    ModelError,
    ModelLoadError,
    ModelNotReadyError,
    OutOfMemoryError,
)
from cosmos_reason_ros.core.frames.frame_cache import FrameCache
from cosmos_reason_ros.core.frames.video import PreparedClip
from cosmos_reason_ros.core.models import load_faults as model_faults
from cosmos_reason_ros.core.models.backend import (
    BackendState,
    GenerationRequest,
    ModelBackend,
    ProgressCallback,
    SamplingParams,
    YesNoOutput,
    YesNoRequest,
    YesNoScore,
)
from cosmos_reason_ros.core.models.device_preprocess import (
    PREPROCESS_BACKENDS,
    DevicePreprocessor,
    processor_with_outputs,
    vision_layout,
)
from cosmos_reason_ros.core.models.families import DEFAULT_MODEL, THINK_OPEN, ModelFamily, family_for_model_type
from cosmos_reason_ros.core.models.prefix import AnswerTokens, SharedPrefill, answer_tokens, suffix_start, yes_no_mass
from cosmos_reason_ros.core.modes.prompts import Prompt

if TYPE_CHECKING:  # streaming imports torch: only when generating
    from cosmos_reason_ros.core.models.streaming import CallbackStreamer, RequestStoppingCriteria

_LOG = logging.getLogger(__name__)

QUANTIZATIONS = ("none", "4bit", "8bit")
BNB_4BIT_QUANT_TYPES = ("nf4", "fp4")
ATTENTION_IMPLEMENTATIONS = ("auto", "sdpa", "flash_attention_2", "eager")
DTYPES = ("auto", "bfloat16", "float16", "float32")

@dataclass(frozen=True)
class TransformersConfig:
    """How to load and run the model. Every field is a node parameter of the same name."""

    model: str = DEFAULT_MODEL  # Hugging Face id or local directory
    revision: str = ""  # hub revision (branch, tag or commit); "" = default branch
    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda | cuda:N
    dtype: str = "auto"  # DTYPES: auto (bfloat16 on CUDA, float32 on CPU) | bfloat16 | float16 | float32
    attn_implementation: str = "auto"  # auto (flash_attention_2 if installed on CUDA, else sdpa) | sdpa | ...
    quantization: str = "none"  # QUANTIZATIONS: none | 4bit | 8bit (bitsandbytes, CUDA only)
    bnb_4bit_quant_type: str = "nf4"  # BNB_4BIT_QUANT_TYPES
    bnb_4bit_double_quant: bool = True
    model_family: str = "auto"  # auto (from config.model_type) | a families.FAMILIES key
    offline: bool = False  # never contact the hub (also on when HF_HUB_OFFLINE=1)
    warmup: bool = True
    preprocess: str = "device"  # PREPROCESS_BACKENDS: normalise + patch on the model's device | processor (CPU)


#: Video-processor options sent only to processors that take them (Edge's rejects Qwen's pixel cap).
_OPTIONAL_VIDEO_KWARGS = {"cap_pixels_per_frame": False, "return_metadata": True}


def processor_geometry(processor: Any, family: ModelFamily) -> ModelFamily:
    """``family`` with the vision geometry of ``processor``: pixels per visual token side (patch x merge) and the
    frames per temporal patch, from the video processor (the image processor where there is none)."""
    vision = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
    patch, merge = getattr(vision, "patch_size", None), getattr(vision, "merge_size", None)
    temporal = getattr(vision, "temporal_patch_size", None) or 1
    if not isinstance(patch, int) or not isinstance(merge, int):
        raise ModelLoadError(f"the processor {type(processor).__name__} states no patch_size and merge_size; "
                             f"cannot size frames for the {family.name} family")
    return family.with_geometry(patch * merge, int(temporal))


def opened_reasoning(prompt_text: str) -> str:
    """The reasoning opener a chat template already wrote at the start of the answer ("" when none)."""
    tail = prompt_text.rstrip()
    return THINK_OPEN + "\n" if tail.endswith(THINK_OPEN) else ""


def video_options(video_processor: Any) -> dict[str, Any]:
    """The options of ``_OPTIONAL_VIDEO_KWARGS`` that ``video_processor`` declares (its ``valid_kwargs``
    TypedDict, inherited keys too): what a request may send it beside the options every video processor takes."""
    import typing

    declared = getattr(video_processor, "valid_kwargs", None)
    try:
        accepted = set(typing.get_type_hints(declared)) if declared is not None else set()
    except (TypeError, NameError):  # annotations that do not resolve: fall back to the raw names
        accepted = set(getattr(declared, "__annotations__", {}))
    return {key: value for key, value in _OPTIONAL_VIDEO_KWARGS.items() if key in accepted}


def template_switches(processor: Any, reasoning: bool = True) -> dict[str, Any]:
    """Chat-template variables to set: a template with a thinking switch (Cosmos3-Edge's) has it on for a
    request that asks for reasoning and off for one that does not (a one-token watch check); other templates
    get none (an unused variable draws a warning)."""
    return {"enable_thinking": reasoning} if "enable_thinking" in str(processor.chat_template) else {}


def _oom_types() -> tuple[type, ...]:
    import torch

    types: list[type] = []
    for name in ("OutOfMemoryError",):
        t = getattr(torch, name, None) or getattr(torch.cuda, name, None)
        if isinstance(t, type):
            types.append(t)
    return tuple(types)


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, _oom_types()) or "out of memory" in str(error).lower()


class TransformersBackend(ModelBackend):
    """Cosmos Reason1/2 through the real ``transformers`` model classes."""

    def __init__(self, config: TransformersConfig) -> None:
        super().__init__()
        self.config = config
        self._model: Any = None
        self._processor: Any = None
        self._video_options: dict[str, Any] = {}  # read from the processor once, when it is adopted
        self._template_switches: dict[bool, dict[str, Any]] = {True: {}, False: {}}  # by Prompt.reasoning
        self._answer_tokens = AnswerTokens((), ())  # yes/no token ids of the tokenizer, read when adopted
        self._device: Any = None
        #: Normalises and patches on the model's device (None: the processor's CPU path); with its per-frame cache.
        self._device_preprocessor: DevicePreprocessor | None = None
        self.frame_cache = FrameCache()
        self._lock = threading.Lock()

    @classmethod
    def from_loaded(cls, model: Any, processor: Any, config: TransformersConfig) -> TransformersBackend:
        """A ready backend around a model and processor built in memory (benchmarks, custom loading)."""
        backend = cls(config)
        backend._model, backend._device = model.eval(), model.device
        backend.family = family_for_model_type(model.config.model_type, config.model_family)
        backend._adopt_processor(processor)
        backend._adopt_device()
        backend.state = BackendState.READY
        return backend

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def control_tokens(self) -> tuple[str, ...]:
        """What this tokenizer reads as control tokens (its specials and tag-like added tokens), so user
        text that contains them can be neutralised in the prompt."""
        tokenizer = getattr(self._processor, "tokenizer", None)
        if tokenizer is None:
            return ()
        added = getattr(tokenizer, "added_tokens_decoder", None) or {}
        tokens = {t.content for t in added.values() if t.special or t.content.lstrip()[:1] in ("<", "[")}
        tokens.update(getattr(tokenizer, "all_special_tokens", None) or ())
        return tuple(sorted(tokens))

    # ----------------------------------------------------------------------------------------- loading
    def _resolve_device(self):
        import torch

        want = self.config.device
        if want == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise DependencyMissingError(
                f"device {want!r} requested but CUDA is not available to torch {torch.__version__} "
                "(no GPU, no driver, or a CPU-only torch build); set device to auto or cpu"
            )
        try:
            return torch.device(want)
        except RuntimeError as e:
            raise ModelLoadError(f"invalid device {want!r}: use auto, cpu, cuda or cuda:N") from e

    def _resolve_dtype(self, device):
        import torch

        if self.config.dtype not in DTYPES:
            raise ModelLoadError(f"invalid dtype {self.config.dtype!r}: choose one of {', '.join(DTYPES)}")
        if self.config.dtype == "auto":
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        return getattr(torch, self.config.dtype)

    def _resolve_attention(self, device) -> str:
        attn = self.config.attn_implementation
        if attn not in ATTENTION_IMPLEMENTATIONS:
            raise ModelLoadError(f"invalid attn_implementation {attn!r}: choose one of "
                                 f"{', '.join(ATTENTION_IMPLEMENTATIONS)}")
        has_flash = importlib.util.find_spec("flash_attn") is not None
        if attn == "auto":
            return "flash_attention_2" if (has_flash and device.type == "cuda") else "sdpa"
        if attn == "flash_attention_2" and not (has_flash and device.type == "cuda"):
            raise DependencyMissingError(
                "attn_implementation flash_attention_2 needs CUDA and the flash-attn package "
                "(pip install flash-attn --no-build-isolation); use sdpa instead"
            )
        return attn

    def _quantization_config(self, device, dtype):
        quant = self.config.quantization
        if quant not in QUANTIZATIONS:
            raise ModelLoadError(f"invalid quantization {quant!r}: choose one of {', '.join(QUANTIZATIONS)}")
        if quant == "none":
            return None
        if device.type != "cuda":
            raise DependencyMissingError(f"quantization {quant} (bitsandbytes) needs a CUDA device; got {device}")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise DependencyMissingError(
                f"quantization {quant} needs the bitsandbytes package: pip install bitsandbytes"
            )
        from transformers import BitsAndBytesConfig

        if quant == "8bit":
            return BitsAndBytesConfig(load_in_8bit=True)
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.config.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=self.config.bnb_4bit_double_quant,
            bnb_4bit_compute_dtype=dtype,
        )

    def _source_kwargs(self) -> dict[str, Any]:
        offline = self.config.offline or os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        kwargs: dict[str, Any] = {"local_files_only": offline}
        if self.config.revision:
            kwargs["revision"] = self.config.revision
        return kwargs

    def _model_source(self) -> str:
        """A checked local directory, or the hub id as given (model_faults says what is wrong with either)."""
        model = self.config.model
        return str(model_faults.check_local_model_dir(model)) if model_faults.looks_local(model) else model

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Load config, processor and weights, then warm up. Raises ModelLoadError subclasses."""
        report = progress or (lambda message: None)
        self.state = BackendState.LOADING
        self.load_error = None
        try:
            self._load(report)
        except ModelLoadError as e:
            self.state = BackendState.FAILED
            self.load_error = e.message
            raise
        except Exception as e:  # anything else from torch/transformers: one clear error, cause chained
            self.state = BackendState.FAILED
            self.load_error = f"{type(e).__name__}: {e}"
            raise ModelLoadError(f"loading {self.config.model!r} failed: {self.load_error}") from e
        self.state = BackendState.READY

    def _load(self, report: ProgressCallback) -> None:
        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

        source = self._model_source()
        kwargs = self._source_kwargs()
        report(f"reading config of {source}")
        local = model_faults.looks_local(self.config.model)
        offline, revision = kwargs["local_files_only"], self.config.revision
        try:
            hf_config = AutoConfig.from_pretrained(source, **kwargs)
        except (OSError, ValueError, KeyError) as e:
            raise model_faults.config_error(e, source, local, offline, revision) from e
        self.family = family_for_model_type(hf_config.model_type, self.config.model_family)
        if local:
            model_faults.check_local_weights(Path(source))
        device = self._resolve_device()
        dtype = self._resolve_dtype(device)
        attention = self._resolve_attention(device)
        quantization = self._quantization_config(device, dtype)
        report(f"loading processor ({self.family.name} family)")
        try:
            processor = AutoProcessor.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as e:
            raise model_faults.files_error(e, source, local, offline, revision, "processor") from e
        self._adopt_processor(processor)
        report(f"loading weights on {device} as {dtype}, attention {attention}, "
               f"quantization {self.config.quantization}")
        load_kwargs: dict[str, Any] = dict(kwargs, dtype=dtype, attn_implementation=attention)
        if quantization is not None:
            load_kwargs.update(quantization_config=quantization, device_map={"": device.index or 0})
        try:
            model = AutoModelForImageTextToText.from_pretrained(source, **load_kwargs)
        except OSError as e:
            raise model_faults.files_error(e, source, local, offline, revision, "weights") from e
        if quantization is None:
            model = model.to(device)
        model.eval()
        self._model, self._device = model, device
        self._adopt_device()
        if self.config.warmup:
            report("warm-up generation")
            started = time.monotonic()
            self._warmup()
            report(f"warm-up done in {time.monotonic() - started:.2f} s")

    def _adopt_processor(self, processor: Any) -> None:
        """Use ``processor``: the family takes its geometry, and what each request sends it is read once here,
        off the goals' path."""
        assert self.family is not None
        self.family = processor_geometry(processor, self.family)
        self._processor = processor
        self._video_options = video_options(processor.video_processor)
        self._template_switches = {r: template_switches(processor, r) for r in (True, False)}
        self._answer_tokens = answer_tokens(processor.tokenizer)

    def _adopt_device(self) -> None:
        """Choose where frames are normalised and patched: on the model's device when ``preprocess`` is device
        and the processor's layout can be reproduced there, else in the processor (said in the load log)."""
        if self.config.preprocess not in PREPROCESS_BACKENDS:
            raise ModelLoadError(f"invalid preprocess {self.config.preprocess!r}: choose one of "
                                 f"{', '.join(PREPROCESS_BACKENDS)}")
        self._device_preprocessor = None
        if self.config.preprocess != "device":
            return
        video = vision_layout(getattr(self._processor, "video_processor", None), video=True)
        image = vision_layout(getattr(self._processor, "image_processor", None), video=False)
        if video is None:
            _LOG.warning("the processor %s cannot be reproduced on the device (no patchify, or crop/pad options): "
                         "frames are normalised by the processor on the CPU", type(self._processor).__name__)
            return
        self._device_preprocessor = DevicePreprocessor(video, image, self._device, self.frame_cache,
                                                       dtype=getattr(self._model, "dtype", None))

    @property
    def preprocessing(self) -> str:
        """Where frames are normalised and patched now: device or processor."""
        return "device" if self._device_preprocessor is not None else "processor"

    def _warmup(self) -> None:
        """One short generation on a blank two-frame clip: compiles kernels and sizes the allocator."""
        assert self.family is not None
        side = 2 * self.family.pixels_per_token_side
        clip = PreparedClip(camera="warmup", pixels=np.zeros((2, side, side, 3), dtype=np.uint8),
                            timestamps=[0.0, 0.5], source_stamps=[0.0, 0.5], fps=2.0, visual_tokens=4)
        prompt = Prompt(system=self.family.system_text(), parts=[clip, "Describe the scene."], mode=None)
        request = GenerationRequest(prompt=prompt, sampling=SamplingParams(temperature=0.0, max_new_tokens=4))
        self._generate_locked(request)

    # -------------------------------------------------------------------------------------- generation
    def generate(self, request: GenerationRequest) -> GenerationOutput:
        if not self.ready:
            raise ModelNotReadyError(self.not_ready_message())
        return self._generate_locked(request)

    def _generate_locked(self, request: GenerationRequest) -> GenerationOutput:
        with self._lock:
            started = time.monotonic()
            stopped = request.stop_reason()
            if stopped is not None:  # canceled or late before the model was even asked: skip the work
                return GenerationOutput(text="", stats=GenerationStats(stop_reason=stopped))
            inputs: Any = None
            try:
                inputs, visual_tokens, opener = self.prepare(request.prompt)
                if request.n > 1:  # K sampled sequences in one generate (the critic's N-run agreement)
                    from cosmos_reason_ros.core.models.sequences import generate_sequences
                    return generate_sequences(self._model, self._processor.tokenizer, inputs,
                                              self._generation_kwargs(request.sampling), request, visual_tokens,
                                              started, opener)
                return self._postprocess(*self._forward(inputs, request, started, opener), inputs, visual_tokens,
                                         started)
            except (ModelError, ModelNotReadyError):
                raise
            except Exception as e:
                inputs = None  # the traceback keeps this frame alive: drop the request's tensors now
                if _is_oom(e):
                    traceback.clear_frames(e.__traceback__)
                    self._release_memory()
                    raise OutOfMemoryError(
                        f"out of accelerator memory during generation ({e}); memory was released. "
                        "Lower video.max_visual_tokens or frames.max_frames, or use quantization 4bit"
                    ) from e
                raise ModelError(f"generation failed: {type(e).__name__}: {e}") from e

    def answer_yes_no(self, request: YesNoRequest) -> YesNoOutput:
        """Each question answered by its first token's P(yes) / P(no), the shared prompt prefilled ONCE.

        The first question's whole prompt goes through ``prepare`` (the request path goals use); the others
        differ only in their last text part, so each needs only its own tokens. Where a question's tokens do
        not start cleanly after the shared ones (a merge across the cut) or a visual token would follow the
        cut, every question gets its own full forward instead, and ``note`` says so. A tokenizer with no
        single-token yes or no falls back to the generated text (``ModelBackend.answer_yes_no``)."""
        if not self.ready:
            raise ModelNotReadyError(self.not_ready_message())
        if not self._answer_tokens.usable:
            return super().answer_yes_no(request)
        with self._lock:
            try:
                return self._answer_yes_no_locked(request)
            except (ModelError, ModelNotReadyError):
                raise
            except Exception as e:
                if _is_oom(e):
                    traceback.clear_frames(e.__traceback__)
                    self._release_memory()
                    raise OutOfMemoryError(f"out of accelerator memory during a yes/no check ({e}); memory was "
                                           "released. Lower video.max_visual_tokens or frames.max_frames") from e
                raise ModelError(f"yes/no check failed: {type(e).__name__}: {e}") from e

    def _answer_yes_no_locked(self, request: YesNoRequest) -> YesNoOutput:
        import torch

        started = time.monotonic()
        stopped = request.stop_reason()
        if stopped is not None or not request.questions:
            return YesNoOutput([], stopped)
        inputs, visual, _ = self.prepare(request.prompt_for(0))
        full_ids = inputs["input_ids"][0].tolist()
        tails = [self._question_tokens(request, i) for i in range(len(request.questions))]
        suffixes = [tail for tail in tails if tail is not None]
        cut = suffix_start(full_ids, suffixes[0]) if len(suffixes) == len(tails) else None
        if cut is not None and self._visual_after(full_ids[cut:]):
            cut = None
        scores: list[YesNoScore] = []
        prefills = 0
        with torch.inference_mode():
            if len(request.questions) == 1 or cut is None:
                note = "one forward" if len(request.questions) == 1 else \
                    "separate forwards: the question's tokens merge with the shared prompt's at the cut"
                for index in range(len(request.questions)):
                    if (stopped := request.stop_reason()) is not None:
                        break
                    if index:
                        inputs, _, _ = self.prepare(request.prompt_for(index))
                    logits = self._model(**inputs, use_cache=False, logits_to_keep=1).logits[:, -1]
                    prefills += 1
                    scores.append(YesNoScore(*yes_no_mass(logits, self._answer_tokens)))
            else:
                note = f"shared prefill of {cut} tokens, {len(request.questions)} continuations"
                shared = SharedPrefill(self._model, inputs, cut)
                prefills = 1
                for suffix in suffixes:
                    if (stopped := request.stop_reason()) is not None:
                        break
                    scores.append(YesNoScore(*yes_no_mass(shared.continue_with(suffix), self._answer_tokens)))
        return YesNoOutput(scores, stopped, prefills, len(full_ids), visual, time.monotonic() - started, note)

    def _question_tokens(self, request: YesNoRequest, index: int) -> list[int] | None:
        """The tokens of question ``index`` and what the chat template writes after it (the end of the user
        turn, the assistant's opening), tokenized on their own; None when the template changed the question's
        text (then no cut is trusted)."""
        prompt = request.prompt_for(index)
        messages = self._conversation(prompt)[0]
        text = self._processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                   **self._template_switches[prompt.reasoning])
        where = text.rfind(request.questions[index])
        if where < 0:
            return None
        return list(self._processor.tokenizer(text[where:], add_special_tokens=False)["input_ids"])

    def _visual_after(self, ids: list[int]) -> bool:
        """Whether any image or video token is among ``ids`` (they must all be in the shared prefix)."""
        config = self._model.config
        visual = {getattr(config, key, None) for key in ("image_token_id", "video_token_id")} - {None}
        return any(i in visual for i in ids)

    def _conversation(self, prompt: Prompt) -> tuple[list[dict], list[np.ndarray], list[np.ndarray], list[dict]]:
        """Chat messages for the processor's template, plus the images, videos and video metadata in order."""
        content: list[dict] = []
        images: list[np.ndarray] = []
        videos: list[np.ndarray] = []
        metadata: list[dict] = []
        for part in prompt.parts:
            if isinstance(part, str):
                content.append({"type": "text", "text": part})
            elif part.num_frames == 1:
                content.append({"type": "image"})
                images.append(part.pixels[0])
            else:
                content.append({"type": "video"})
                videos.append(part.pixels)
                metadata.append(self._video_metadata(part))
        messages = [
            {"role": "system", "content": [{"type": "text", "text": prompt.system}]},
            {"role": "user", "content": content},
        ]
        return messages, images, videos, metadata

    def _video_metadata(self, clip: PreparedClip) -> dict:
        """What the processor needs to know about a clip's timing (its frames are already sampled)."""
        assert self.family is not None
        if self.family.frame_time_base:  # times written into the prompt as index / rate: use a fine rate
            rate = self.family.frame_time_base
            return {"fps": rate, "total_num_frames": clip.num_frames,
                    "frames_indices": [int(round(t * rate)) for t in clip.timestamps]}
        fps = clip.fps if clip.fps > 0 else 1.0  # the sampling rate drives temporal position ids
        return {"fps": fps, "total_num_frames": clip.num_frames, "frames_indices": list(range(clip.num_frames))}

    def preprocess(self, prompt: Prompt) -> tuple[dict[str, Any], int]:
        """The prompt as the model's input tensors on its device and dtype, and its visual token count.

        Public so that ``benchmarks/preprocessing.py`` can time the real processor path on its own."""
        inputs, visual, _ = self.prepare(prompt)
        return inputs, visual

    def _processor_for(self, prompt: Prompt) -> Any:
        """The processor to call: the real one, or (device preprocessing) a copy whose vision processors return
        the clips normalised and patched on the device; the text side is the real processor's either way."""
        pre = self._device_preprocessor
        if pre is None:
            return self._processor
        clips = [part for part in prompt.parts if isinstance(part, PreparedClip)]
        stills = [c for c in clips if c.num_frames == 1]
        moving = [c for c in clips if c.num_frames != 1]
        if stills and pre.image_layout is None:
            return self._processor
        return processor_with_outputs(self._processor, pre.videos(moving) if moving else None,
                                      pre.images(stills) if stills else None)

    def prepare(self, prompt: Prompt) -> tuple[dict[str, Any], int, str]:
        """``preprocess`` plus the reasoning opener the chat template wrote into the prompt ("" or "<think>\n")."""
        messages, images, videos, metadata = self._conversation(prompt)
        processor = self._processor_for(prompt)
        text = self._processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                   **self._template_switches[prompt.reasoning])
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt", "return_mm_token_type_ids": True}
        if images:
            kwargs["images"] = images
            kwargs["images_kwargs"] = {"do_resize": False}
        if videos:
            kwargs["videos"] = videos
            kwargs["videos_kwargs"] = {"do_resize": False, "do_sample_frames": False, "video_metadata": metadata,
                                       **self._video_options}
        inputs = processor(**kwargs)
        inputs.pop("video_metadata", None)  # returned for the prompt's frame times; not a model input
        merge = self._processor.video_processor.merge_size ** 2
        visual = 0
        for key in ("image_grid_thw", "video_grid_thw"):
            if key in inputs:
                visual += int(inputs[key].prod(dim=-1).sum()) // merge
        dtype = self._model.dtype
        moved = {}
        for key, value in inputs.items():
            if hasattr(value, "to"):
                value = value.to(self._device, dtype=dtype) if value.is_floating_point() else value.to(self._device)
            moved[key] = value
        return moved, visual, opened_reasoning(text)

    def _generation_kwargs(self, sampling: SamplingParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens}
        if sampling.temperature <= 0:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                          top_k=sampling.top_k if sampling.top_k > 0 else None)
        kwargs["repetition_penalty"] = sampling.repetition_penalty
        if sampling.ignore_eos:
            kwargs["min_new_tokens"] = sampling.max_new_tokens
        return kwargs

    def _forward(self, inputs: dict, request: GenerationRequest, started: float,
                 opener: str = "") -> tuple[CallbackStreamer, RequestStoppingCriteria]:
        import torch

        from cosmos_reason_ros.core.models.streaming import CallbackStreamer, RequestStoppingCriteria

        streamer = CallbackStreamer(self._processor.tokenizer, request, started, opener)
        stopping = RequestStoppingCriteria(request)
        if request.sampling.seed is not None:
            torch.manual_seed(request.sampling.seed)
        with torch.inference_mode():
            self._model.generate(**inputs, **self._generation_kwargs(request.sampling), streamer=streamer,
                                 stopping_criteria=[stopping])
        return streamer, stopping

    def _postprocess(self, streamer: CallbackStreamer, stopping: RequestStoppingCriteria, inputs: dict,
                     visual_tokens: int, started: float) -> GenerationOutput:
        finished = time.monotonic()
        eos = self._model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
        if stopping.reason is not None:
            reason = stopping.reason
        elif streamer.last_token_id in eos_ids:
            reason = "eos"
        else:
            reason = "max_tokens"
        decode_time = (streamer.last_token_time or finished) - (streamer.first_token_time or finished)
        stats = GenerationStats(
            time_to_first_token=(streamer.first_token_time - started) if streamer.first_token_time else -1.0,
            generation_time=finished - started,
            prompt_tokens=int(inputs["input_ids"].shape[1]),
            visual_tokens=visual_tokens,
            generated_tokens=streamer.tokens,
            tokens_per_second=(streamer.tokens - 1) / decode_time if streamer.tokens > 1 and decode_time > 0 else 0.0,
            stop_reason=reason,
        )
        return GenerationOutput(text=streamer.text, stats=stats)

    # ------------------------------------------------------------------------------------------ memory
    def _release_memory(self) -> None:
        import torch

        self.frame_cache.clear()  # patches kept on the device count against its memory too
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def memory_stats(self) -> dict[str, float]:
        import torch

        if self._device is None or self._device.type != "cuda":
            return {}
        index = self._device.index or 0
        return {
            "allocated": float(torch.cuda.memory_allocated(index)),
            "reserved": float(torch.cuda.memory_reserved(index)),
            "max_allocated": float(torch.cuda.max_memory_allocated(index)),
            "total": float(torch.cuda.get_device_properties(index).total_memory),
        }

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._processor = None
            self._device_preprocessor = None
            self.frame_cache.clear()
            self.state = BackendState.UNLOADED
            self._release_memory()
