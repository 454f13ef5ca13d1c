"""The transformers backend against real tiny Qwen2.5-VL / Qwen3-VL models, loaded exactly as users load
Cosmos Reason: ``TransformersBackend(TransformersConfig(model=DIR)).load(progress=...)``.

The taught tiny models always answer ``taught_output(family)``; the random one emits arbitrary tokens and
rarely stops, which is what the stop-reason tests need. Faults are injected with a test double that wraps
the real model's ``forward``; everything else is the real code path.
"""
from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import CameraClip, Frame, GenerationOutput, Mode
from cosmos_reason_ros.core.errors import (
    DependencyMissingError,
    ModelError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    OutOfMemoryError,
)
from cosmos_reason_ros.core.frames.video import PreparedClip, VideoBudget, clip_tokens, prepare_clips
from cosmos_reason_ros.core.models import transformers_backend as tb
from cosmos_reason_ros.core.models.backend import BackendState, GenerationRequest, SamplingParams, StreamEvent
from cosmos_reason_ros.core.models.families import REASON1, REASON2, THINK_CLOSE, ModelFamily
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.core.modes.prompts import Prompt, camera_label
from cosmos_reason_ros.testing.tiny_model import taught_output

FAMILIES = {"reason1": REASON1, "reason2": REASON2}
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=48)

needs_bitsandbytes = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                                        reason="needs bitsandbytes (a CUDA install)")


# ------------------------------------------------------------------------------------------------ helpers


@dataclass
class Loaded:
    """A backend loaded once per module, with the progress messages its load reported."""

    backend: TransformersBackend
    progress: list[str]


def load(model_dir: Path | str, **config: Any) -> Loaded:
    messages: list[str] = []
    backend = TransformersBackend(TransformersConfig(model=str(model_dir), **config))
    backend.load(progress=messages.append)
    return Loaded(backend, messages)


def prepared_clip(family: ModelFamily, frames: int, camera: str = "front", height: int = 64,
                  width: int = 96, t0: float = 100.0) -> PreparedClip:
    """Random frames, 0.25 s apart, prepared for ``family`` with the default budget."""
    rng = np.random.default_rng(frames * 31 + height)
    clip = CameraClip(camera, [Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), t0 + 0.25 * i,
                                     int(t0 * 1e9) + 250_000_000 * i) for i in range(frames)])
    (prepared,) = prepare_clips([clip], family, VideoBudget())
    return prepared


def short_prompt(family: ModelFamily, clips: list[PreparedClip]) -> Prompt:
    """A short prompt in the family's format: keeps CPU prefill cheap (the taught answer does not depend on it)."""
    parts: list[Any] = []
    for clip in clips:
        parts += [camera_label(clip), clip]
    parts.append("Describe the scene." + family.user_suffix())
    return Prompt(system=family.system_text(), parts=parts, mode=None)


@contextmanager
def wrapped(model: Any, name: str, make: Callable[[Callable], Callable]) -> Iterator[None]:
    """Replace ``model.<name>`` on the instance by ``make(original)`` for the duration of the block."""
    original = getattr(model, name)
    setattr(model, name, make(original))
    try:
        yield
    finally:
        delattr(model, name)  # the class attribute shows through again
    assert getattr(model, name) == original


class FaultInjector:
    """Test double around the real model's ``forward``: raises ``error`` on the ``at_call``-th forward call,
    ``times`` times in a row, and otherwise runs the real forward pass."""

    def __init__(self, error: BaseException, at_call: int = 2, times: int = 1) -> None:
        self.error = error
        self.at_call = at_call
        self.times = times
        self.calls = 0
        self.raised = 0

    def __call__(self, forward: Callable) -> Callable:
        @functools.wraps(forward)  # generate() checks its inputs against forward's signature
        def faulty(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls >= self.at_call and self.raised < self.times:
                self.raised += 1
                raise self.error
            return forward(*args, **kwargs)

        return faulty


class GenerateSpy:
    """Records the model inputs each real ``generate`` call received (tensors and lists), then runs it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, generate: Callable) -> Callable:
        @functools.wraps(generate)
        def spy(**kwargs: Any) -> Any:
            self.calls.append({k: v for k, v in kwargs.items() if isinstance(v, (torch.Tensor, list))})
            return generate(**kwargs)

        return spy


@dataclass
class Run:
    """One generation and everything observed while it ran."""

    clips: list[PreparedClip]
    output: GenerationOutput
    events: list[StreamEvent] = field(default_factory=list)
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)


def generate(backend: TransformersBackend, clips: list[PreparedClip], sampling: SamplingParams = GREEDY,
             on_event: Callable[[StreamEvent, GenerationRequest], None] | None = None,
             deadline: float | None = None) -> Run:
    assert backend.family is not None
    events: list[StreamEvent] = []
    spy = GenerateSpy()
    request = GenerationRequest(prompt=short_prompt(backend.family, clips), sampling=sampling, deadline=deadline)

    def on_stream(event: StreamEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event, request)

    request.on_stream = on_stream
    with wrapped(backend._model, "generate", spy):
        output = backend.generate(request)
    return Run(clips, output, events, spy.calls[0] if spy.calls else {})


@contextmanager
def batching(tokens: int, seconds: float | None = None) -> Iterator[None]:
    """Stream reports every ``tokens`` tokens (and ``seconds``) while inside (1: a report per token)."""
    from cosmos_reason_ros.core.models import streaming

    saved = streaming.STREAM_BATCH_TOKENS, streaming.STREAM_BATCH_SECONDS
    streaming.STREAM_BATCH_TOKENS = tokens
    streaming.STREAM_BATCH_SECONDS = saved[1] if seconds is None else seconds
    try:
        yield
    finally:
        streaming.STREAM_BATCH_TOKENS, streaming.STREAM_BATCH_SECONDS = saved


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def taught(reason1_model: Path, reason2_model: Path) -> dict[str, Loaded]:
    """Both taught families, loaded (with warm-up) once for the module."""
    return {"reason1": load(reason1_model), "reason2": load(reason2_model)}


@pytest.fixture(scope="module")
def random_backend(random_model: Path) -> TransformersBackend:
    return load(random_model).backend


@pytest.fixture(scope="module")
def runs(taught: dict[str, Loaded]) -> Callable[[str, int], Run]:
    """Greedy generations of the taught models, one per (family, frame count), cached for the module."""
    cache: dict[tuple[str, int], Run] = {}

    def get(family: str, frames: int) -> Run:
        if (family, frames) not in cache:
            backend = taught[family].backend
            cache[family, frames] = generate(backend, [prepared_clip(FAMILIES[family], frames)])
        return cache[family, frames]

    return get


# ------------------------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("family", FAMILIES)
def test_load_reports_progress_including_warmup(taught: dict[str, Loaded], family: str) -> None:
    loaded = taught[family]
    messages = loaded.progress
    assert loaded.backend.state is BackendState.READY and loaded.backend.ready
    assert loaded.backend.load_error is None
    assert messages[0].startswith("reading config of ")
    assert f"loading processor ({family} family)" in messages
    weights = next(m for m in messages if m.startswith("loading weights"))
    assert "on cpu" in weights or "on cuda" in weights
    assert "warm-up generation" in messages
    assert messages[-1].startswith("warm-up done in ")
    assert messages.index(weights) < messages.index("warm-up generation") < len(messages) - 1


@pytest.mark.parametrize("source,misleading_name,expected", [
    ("reason1", "Cosmos-Reason2-2B", "reason1"),
    ("reason2", "Cosmos-Reason1-7B", "reason2"),
])
def test_family_comes_from_config_model_type_not_the_name(request: pytest.FixtureRequest, tmp_path: Path,
                                                          source: str, misleading_name: str, expected: str) -> None:
    """A fine-tune saved under any name is still run with its architecture's prompt format."""
    target = tmp_path / "nvidia" / misleading_name
    shutil.copytree(request.getfixturevalue(f"{source}_model"), target)
    backend = load(target, warmup=False).backend
    assert backend.family is FAMILIES[expected]
    assert backend.ready


def test_model_family_override_wins(reason1_model: Path) -> None:
    """The forced family's prompt format; the geometry stays the processor's own (Qwen2.5-VL: 28 px per token)."""
    backend = load(reason1_model, warmup=False, model_family="reason2").backend
    assert backend.family == REASON2.with_geometry(28, 2)
    assert backend.family.name == "reason2" and backend.family.reasoning_instruction == REASON2.reasoning_instruction


def test_unknown_model_family_override_is_a_load_error(reason1_model: Path) -> None:
    backend = TransformersBackend(TransformersConfig(model=str(reason1_model), model_family="reason9"))
    with pytest.raises(ModelLoadError, match="unknown model family 'reason9'"):
        backend.load()
    assert backend.state is BackendState.FAILED and "reason9" in (backend.load_error or "")


def test_load_without_progress_callback_and_warmup_off(reason2_model: Path) -> None:
    backend = TransformersBackend(TransformersConfig(model=str(reason2_model), warmup=False))
    assert backend.state is BackendState.UNLOADED and not backend.ready
    backend.load()
    assert backend.ready and backend.family is REASON2
    backend.close()
    assert backend.state is BackendState.UNLOADED
    with pytest.raises(ModelNotReadyError):
        backend.generate(GenerationRequest(short_prompt(REASON2, [prepared_clip(REASON2, 1)]), GREEDY))


def test_missing_local_directory_says_how_to_provide_weights(tmp_path: Path) -> None:
    backend = TransformersBackend(TransformersConfig(model=str(tmp_path / "no-such-model")))
    with pytest.raises(ModelNotFoundError) as excinfo:
        backend.load()
    message = str(excinfo.value)
    assert "no-such-model" in message
    assert "hf download" in message
    assert "local directory" in message
    assert "make_tiny_model" in message
    assert backend.state is BackendState.FAILED and backend.load_error == excinfo.value.message


def test_local_directory_without_config_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "weights-only").mkdir()
    (tmp_path / "weights-only" / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        TransformersBackend(TransformersConfig(model=str(tmp_path / "weights-only"))).load()


def test_hub_id_offline_with_empty_cache_is_not_found(offline_empty_cache: Path) -> None:
    """HF_HUB_OFFLINE=1 and an empty HF_HOME: a clear ModelNotFoundError, never a network call or hang."""
    backend = TransformersBackend(TransformersConfig(model="nvidia/Cosmos-Reason1-7B"))
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError) as excinfo:
        backend.load()
    assert time.monotonic() - started < 30
    message = str(excinfo.value)
    assert "offline" in message and "nvidia/Cosmos-Reason1-7B" in message
    assert "hf download nvidia/Cosmos-Reason1-7B" in message
    assert backend.state is BackendState.FAILED


def test_unsupported_architecture_is_a_load_error_naming_the_families(tmp_path: Path) -> None:
    model_dir = tmp_path / "some-llm"
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"model_type": "llama", "hidden_size": 64}', encoding="utf-8")
    backend = TransformersBackend(TransformersConfig(model=str(model_dir)))
    with pytest.raises(ModelLoadError) as excinfo:
        backend.load()
    assert not isinstance(excinfo.value, ModelNotFoundError)
    assert "'llama' is not a Cosmos Reason or Cosmos 3 family" in str(excinfo.value)
    assert "qwen2_5_vl" in str(excinfo.value) and "qwen3_vl" in str(excinfo.value)


def test_4bit_on_cpu_needs_cuda(reason1_model: Path) -> None:
    backend = TransformersBackend(TransformersConfig(model=str(reason1_model), device="cpu", quantization="4bit"))
    with pytest.raises(DependencyMissingError, match="CUDA"):
        backend.load()
    assert backend.state is BackendState.FAILED


def test_cuda_device_without_cuda(reason1_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    backend = TransformersBackend(TransformersConfig(model=str(reason1_model), device="cuda"))
    with pytest.raises(DependencyMissingError, match="CUDA is not available"):
        backend.load()


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_flash_attention_without_flash_attn(reason1_model: Path, monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(tb.importlib.util, "find_spec",
                        lambda name, *a: None if name == "flash_attn" else real_find_spec(name, *a))
    backend = TransformersBackend(TransformersConfig(model=str(reason1_model), device=device,
                                                     attn_implementation="flash_attention_2"))
    with pytest.raises(DependencyMissingError, match="flash-attn"):
        backend.load()


@pytest.mark.parametrize("field_name,value,match", [
    ("dtype", "float8", "invalid dtype"),
    ("quantization", "3bit", "invalid quantization"),
    ("attn_implementation", "magic", "invalid attn_implementation"),
])
def test_invalid_settings_are_load_errors(reason1_model: Path, field_name: str, value: str, match: str) -> None:
    backend = TransformersBackend(TransformersConfig(model=str(reason1_model), device="cpu", **{field_name: value}))
    with pytest.raises(ModelLoadError, match=match):
        backend.load()


def test_generate_before_load_is_not_ready(reason1_model: Path) -> None:
    backend = TransformersBackend(TransformersConfig(model=str(reason1_model)))
    with pytest.raises(ModelNotReadyError, match="unloaded"):
        backend.generate(GenerationRequest(short_prompt(REASON1, [prepared_clip(REASON1, 1)]), GREEDY))


# --------------------------------------------------------------------------------------------- generation


@pytest.mark.parametrize("family", FAMILIES)
def test_single_frame_goes_in_as_an_image(runs: Callable[[str, int], Run], family: str) -> None:
    run = runs(family, 1)
    assert "pixel_values" in run.inputs and "image_grid_thw" in run.inputs
    assert "pixel_values_videos" not in run.inputs
    clip = run.clips[0]
    assert run.output.stats.visual_tokens == clip.visual_tokens
    assert clip.visual_tokens == clip_tokens(1, clip.pixels.shape[1], clip.pixels.shape[2], FAMILIES[family])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("frames", [2, 4, 5])
def test_multi_frame_clip_goes_in_as_a_video(runs: Callable[[str, int], Run], family: str, frames: int) -> None:
    run = runs(family, frames)
    assert "pixel_values_videos" in run.inputs and "video_grid_thw" in run.inputs
    assert "pixel_values" not in run.inputs
    clip = run.clips[0]
    expected = clip_tokens(frames, clip.pixels.shape[1], clip.pixels.shape[2], FAMILIES[family])
    assert clip.visual_tokens == expected
    assert run.output.stats.visual_tokens == expected
    assert run.output.stats.prompt_tokens > expected


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("frames", [1, 4])
def test_taught_model_gives_its_answer_greedily(runs: Callable[[str, int], Run], family: str, frames: int) -> None:
    output = runs(family, frames).output
    assert output.text == taught_output(family)
    assert output.stats.stop_reason == "eos"
    assert output.stats.generated_tokens >= 5
    assert output.stats.tokens_per_second > 0
    assert parse_output(output.text, FAMILIES[family], Mode.DECOMPOSE).ok


@pytest.mark.parametrize("family", FAMILIES)
def test_time_to_first_token_is_within_generation_time(runs: Callable[[str, int], Run], family: str) -> None:
    stats = runs(family, 4).output.stats
    assert 0 < stats.time_to_first_token <= stats.generation_time


@pytest.mark.parametrize("family", FAMILIES)
def test_stream_events_are_ordered_and_concatenate_to_the_text(runs: Callable[[str, int], Run], family: str) -> None:
    run = runs(family, 4)
    events, output = run.events, run.output
    counts = [e.tokens for e in events]  # reported in batches: the first token at once, then every few
    assert counts[0] == 1 and counts == sorted(set(counts)) and counts[-1] == output.stats.generated_tokens
    assert "".join(e.delta for e in events) == output.text
    accumulated = ""
    for event in events:
        accumulated += event.delta
        assert event.text == accumulated
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed) and 0 < elapsed[0] and elapsed[-1] <= output.stats.generation_time
    answering = [e.answering for e in events]
    flip = answering.index(True)
    assert not any(answering[:flip]) and all(answering[flip:])
    assert THINK_CLOSE in events[flip].text and THINK_CLOSE not in events[flip - 1].text
    # The token that closes the reasoning is reported at once: the switch is seen at that token, not a batch later.
    assert events[flip].text.rstrip().endswith(THINK_CLOSE)


@pytest.mark.parametrize("family", FAMILIES)
def test_image_and_video_cameras_in_one_request(taught: dict[str, Loaded], family: str) -> None:
    fam = FAMILIES[family]
    clips = [prepared_clip(fam, 1, "wrist", 56, 56), prepared_clip(fam, 3, "head", 64, 96)]
    run = generate(taught[family].backend, clips)
    assert "image_grid_thw" in run.inputs and "video_grid_thw" in run.inputs
    assert run.output.stats.visual_tokens == sum(c.visual_tokens for c in clips)
    assert run.output.text == taught_output(family)


def offset_cameras(family: ModelFamily) -> list[PreparedClip]:
    """A 4 Hz head camera and a slower 2 Hz wrist camera whose frames fall 0.2 s after the head's."""
    rng = np.random.default_rng(5)

    def clip(name: str, stamps: list[float]) -> CameraClip:
        return CameraClip(name, [Frame(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8), s) for s in stamps])

    return prepare_clips([clip("head", [50.0, 50.25, 50.5, 50.75]), clip("wrist", [50.2, 50.7, 51.2, 51.7])],
                         family, VideoBudget())


def test_reason2_prompt_times_match_the_frames_times(taught: dict[str, Loaded]) -> None:
    """Qwen3-VL writes "<t seconds>" before each frame pair (the mean time of the pair). Those times must be
    the clip's own times on the request's shared origin, so cameras line up (to the 0.1 s printed)."""
    backend = taught["reason2"].backend
    clips = offset_cameras(REASON2)
    assert clips[1].timestamps == pytest.approx([0.2, 0.7, 1.2, 1.7])
    run = generate(backend, clips)
    text = backend._processor.tokenizer.decode(run.inputs["input_ids"][0])
    printed = [float(t) for t in re.findall(r"<(\d+(?:\.\d+)?) seconds>", text)]
    expected = [(a + b) / 2 for clip in clips
                for a, b in zip(clip.timestamps[::2], clip.timestamps[1::2], strict=False)]
    assert expected == pytest.approx([0.125, 0.625, 0.45, 1.45])
    assert len(printed) == len(expected)
    for got, want in zip(printed, expected, strict=False):
        assert abs(got - want) <= 0.05 + 1e-9, f"prompt says {printed}, frames are at {expected}"


def test_reason1_video_temporal_positions_follow_each_clip_rate(taught: dict[str, Loaded]) -> None:
    """Qwen2.5-VL spaces video positions by seconds per temporal patch: 2 frames / the clip's fps."""
    clips = offset_cameras(REASON1)
    run = generate(taught["reason1"].backend, clips)
    seconds = [float(x) for x in torch.as_tensor(run.inputs["second_per_grid_ts"]).tolist()]
    assert [clip.fps for clip in clips] == pytest.approx([4.0, 2.0])
    assert seconds == pytest.approx([0.5, 1.0])
    assert run.output.text == taught_output("reason1")


def test_max_new_tokens_stops_exactly(random_backend: TransformersBackend) -> None:
    run = generate(random_backend, [prepared_clip(REASON1, 2)], SamplingParams(temperature=0.0, max_new_tokens=5))
    stats = run.output.stats
    assert stats.generated_tokens == 5
    assert stats.stop_reason == "max_tokens"
    assert run.events[0].tokens == 1 and run.events[-1].tokens == 5  # the first token and the end, reported


def test_batched_reports_give_the_same_text_as_a_report_per_token(random_backend: TransformersBackend) -> None:
    """The random model writes arbitrary tokens (partial multi-byte characters included): decoding them in
    batches gives the same text as one by one, and as decoding all the ids at once."""
    sampling = SamplingParams(temperature=0.0, max_new_tokens=80)
    with batching(tokens=1):
        single = generate(random_backend, [prepared_clip(REASON1, 2)], sampling)
    with batching(tokens=16, seconds=3600.0):
        batched = generate(random_backend, [prepared_clip(REASON1, 2)], sampling)
    assert single.output.stats.generated_tokens == batched.output.stats.generated_tokens == 80
    assert batched.output.text == single.output.text and single.output.text
    assert len(batched.events) < len(single.events) == 80
    assert [e.tokens for e in batched.events] == [1, 17, 33, 49, 65, 80]
    assert "".join(e.delta for e in batched.events) == batched.output.text
    for size in (2, 3, 5, 7):  # batches that end inside a multi-byte character at other places
        with batching(tokens=size, seconds=3600.0):
            assert generate(random_backend, [prepared_clip(REASON1, 2)], sampling).output.text == single.output.text


def test_seed_makes_sampling_reproducible(random_backend: TransformersBackend) -> None:
    clips = [prepared_clip(REASON1, 1)]
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=12, seed=7)
    first = generate(random_backend, clips, sampling).output.text
    again = generate(random_backend, clips, sampling).output.text
    assert first == again and first


@pytest.mark.parametrize("after", [1, 3, 6])
def test_cancel_from_the_stream_callback_stops_within_a_few_tokens(random_backend: TransformersBackend,
                                                                    after: int) -> None:
    canceled_at: list[int] = []

    def cancel(event: StreamEvent, request: GenerationRequest) -> None:
        if event.tokens >= after and not canceled_at:
            canceled_at.append(event.tokens)
            request.cancel.set()

    with batching(tokens=1):  # a report per token, so the cancel comes at the token asked for
        run = generate(random_backend, [prepared_clip(REASON1, 2)],
                       SamplingParams(temperature=0.0, max_new_tokens=60), on_event=cancel)
    stats = run.output.stats
    assert stats.stop_reason == "canceled"
    assert after <= canceled_at[0] <= stats.generated_tokens <= canceled_at[0] + 2
    assert run.output.text == run.events[-1].text


def test_deadline_passing_mid_generation_stops_it(random_backend: TransformersBackend) -> None:
    def expire(event: StreamEvent, request: GenerationRequest) -> None:
        if event.tokens == 3:
            request.deadline = time.monotonic()  # the deadline passes now

    with batching(tokens=1):
        run = generate(random_backend, [prepared_clip(REASON1, 2)],
                       SamplingParams(temperature=0.0, max_new_tokens=60), on_event=expire,
                       deadline=time.monotonic() + 3600)
    assert run.output.stats.stop_reason == "deadline"
    assert 3 <= run.output.stats.generated_tokens <= 5


def test_deadline_already_passed_stops_at_once(random_backend: TransformersBackend) -> None:
    run = generate(random_backend, [prepared_clip(REASON1, 2)], SamplingParams(temperature=0.0, max_new_tokens=60),
                   deadline=time.monotonic() - 1.0)
    assert run.output.stats.stop_reason == "deadline"
    assert run.output.stats.generated_tokens <= 2


@pytest.mark.parametrize("family", FAMILIES)
def test_out_of_memory_is_reported_and_the_backend_stays_usable(taught: dict[str, Loaded], family: str) -> None:
    backend = taught[family].backend
    clips = [prepared_clip(FAMILIES[family], 2)]
    injector = FaultInjector(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), at_call=2)
    with wrapped(backend._model, "forward", injector):
        with pytest.raises(OutOfMemoryError) as excinfo:
            generate(backend, clips)
        assert injector.raised == 1
        assert isinstance(excinfo.value.__cause__, torch.OutOfMemoryError)
        assert "memory was released" in str(excinfo.value)
        assert backend.ready
        # same backend, injector still in place (it fires once): a normal generation follows
        after = generate(backend, clips)
    assert after.output.text == taught_output(family)
    assert after.output.stats.stop_reason == "eos"


def test_runtime_error_in_the_model_is_a_model_error(taught: dict[str, Loaded]) -> None:
    backend = taught["reason1"].backend
    clips = [prepared_clip(REASON1, 2)]
    injector = FaultInjector(RuntimeError("CUDA error: an illegal memory access was encountered"), at_call=1)
    with wrapped(backend._model, "forward", injector), pytest.raises(ModelError) as excinfo:
        generate(backend, clips)
    assert type(excinfo.value) is ModelError  # not mistaken for an out-of-memory error
    assert "RuntimeError" in str(excinfo.value) and "illegal memory access" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, RuntimeError)
    assert generate(backend, clips).output.text == taught_output("reason1")


# --------------------------------------------------------------------------------------------- GPU only


@pytest.mark.gpu
@pytest.mark.parametrize("family", FAMILIES)
def test_bf16_on_cuda(request: pytest.FixtureRequest, family: str) -> None:
    loaded = load(request.getfixturevalue(f"{family}_model"))
    backend = loaded.backend
    try:
        assert backend._device.type == "cuda"
        assert backend._model.dtype == torch.bfloat16
        assert any("as torch.bfloat16" in m for m in loaded.progress)
        run = generate(backend, [prepared_clip(FAMILIES[family], 4)])
        assert run.output.stats.stop_reason == "eos"
        assert run.output.stats.visual_tokens == run.clips[0].visual_tokens
        assert parse_output(run.output.text, FAMILIES[family], Mode.DECOMPOSE).ok
        memory = backend.memory_stats()
        assert memory["allocated"] > 0 and memory["total"] >= memory["reserved"] >= memory["allocated"]
    finally:
        backend.close()


@pytest.mark.gpu
@needs_bitsandbytes
@pytest.mark.parametrize("quantization,layer", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_bitsandbytes_quantization_on_cuda(reason1_model: Path, quantization: str, layer: str) -> None:
    loaded = load(reason1_model, quantization=quantization)
    backend = loaded.backend
    try:
        assert any(f"quantization {quantization}" in m for m in loaded.progress)
        assert any(type(m).__name__ == layer for m in backend._model.modules())
        run = generate(backend, [prepared_clip(REASON1, 2)], SamplingParams(temperature=0.0, max_new_tokens=8))
        assert run.output.stats.generated_tokens >= 1
        assert run.output.stats.stop_reason in ("eos", "max_tokens")
    finally:
        backend.close()
