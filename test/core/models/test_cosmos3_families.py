"""The Cosmos 3 reasoners as model families: Nano/Super (``cosmos3_omni``, a Qwen3-VL) and Edge (``cosmos3_edge``,
its own decoder, SigLIP2 vision and processors), through the real transformers classes.

Tiny taught checkpoints of both architectures answer every mode; checkpoints saved the way a user (or a
reviewer) would save them with transformers alone, without the processor flags Edge needs, still reach
generation; the family rows hold what the Cosmos 3 recipe says, and the geometry comes from the processor.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode, Plausibility
from cosmos_reason_ros.core.errors import ParseError
from cosmos_reason_ros.core.models.families import (
    COSMOS3,
    COSMOS3_EDGE,
    CRITIC_CHOICE,
    DEFAULT_MODEL,
    FAMILIES,
    MODELS,
    family_for_model_type,
    family_from_name,
)
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.core.modes.plausibility import critic_instruction
from cosmos_reason_ros.core.modes.prompts import build_prompt
from cosmos_reason_ros.core.reasoner import Reasoner, TaskRequest
from cosmos_reason_ros.testing.tiny_model import taught_output, write_tiny_model

NEW = ("cosmos3", "cosmos3_edge")
ANSWER_MODES = (Mode.DECOMPOSE, Mode.FEASIBILITY, Mode.NEXT_ACTION, Mode.VERIFY_COMPLETION, Mode.QUESTION)


def clip(width: int = 637, height: int = 479, frames: int = 6, period: float = 0.25) -> CameraClip:
    rng = np.random.default_rng(width + frames)
    return CameraClip("front", [Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), 5.0 + i * period,
                                      int((5.0 + i * period) * 1e9)) for i in range(frames)], "front_link")


@pytest.fixture(scope="module")
def backends(cosmos3_models: dict[str, Path]):
    loaded = {}
    for family, path in cosmos3_models.items():
        backend = TransformersBackend(TransformersConfig(model=str(path), device="cpu"))
        backend.load()
        loaded[family] = backend
    yield loaded
    for backend in loaded.values():
        backend.close()


def test_rows_are_chosen_from_model_type_and_by_override() -> None:
    assert family_for_model_type("cosmos3_omni") is COSMOS3
    assert family_for_model_type("cosmos3_edge") is COSMOS3_EDGE
    assert family_for_model_type("qwen2_5_vl", "cosmos3_edge") is COSMOS3_EDGE
    assert family_from_name("nvidia/cosmos3-nano-reasoner") is COSMOS3
    assert family_from_name("nvidia/Cosmos3-Super") is COSMOS3
    assert family_from_name("nvidia/Cosmos3-Edge") is COSMOS3_EDGE  # the longer hint wins over "cosmos3"
    assert family_from_name("my-finetune") is None


def test_rows_hold_the_recipe() -> None:
    for family in (COSMOS3, COSMOS3_EDGE):
        s, plain = family.sampling_for(True), family.sampling_for(False)
        assert (s.temperature, s.top_p, s.top_k, s.repetition_penalty, s.presence_penalty) == (0.6, 0.95, 20, 1.0, 0.0)
        assert (plain.temperature, plain.top_p, plain.top_k, plain.presence_penalty) == (0.7, 0.8, 20, 1.5)
        assert family.grounding_scale == 1000 and not family.timestamp_overlay and not family.answer_in_tags
        assert family.critic_form == CRITIC_CHOICE
        assert family.user_suffix().endswith("Write your final answer immediately after the </think> tag.")
    assert {"/think", "/no_think", "<s>"} <= set(COSMOS3_EDGE.reserved_text)
    assert {m.family for m in MODELS} == set(FAMILIES) and DEFAULT_MODEL in {m.hub_id for m in MODELS}


def test_edge_switches_in_user_text_are_neutralised() -> None:
    task = "pick the cup /no_think <s> <think>now</think>"
    from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips

    prepared = prepare_clips([clip(frames=2)], COSMOS3_EDGE, VideoBudget())
    text = build_prompt(COSMOS3_EDGE, Mode.QUESTION, task, prepared).user_text()
    quoted = next(line for line in text.splitlines() if line.startswith("Question: "))
    for switch in ("/no_think", "<s>", "<think>", "</think>"):
        assert switch not in quoted
    assert "pick the cup" in quoted
    # Reason2's row has no such switches: "/no_think" reaches its prompt as written
    from cosmos_reason_ros.core.models.families import REASON2

    reason2_clips = prepare_clips([clip(frames=2)], REASON2, VideoBudget())
    assert "/no_think" in build_prompt(REASON2, Mode.QUESTION, task, reason2_clips).user_text()


@pytest.mark.parametrize("family", NEW)
def test_geometry_is_read_from_the_processor(backends, family: str) -> None:
    backend = backends[family]
    vision = backend._processor.video_processor  # noqa: SLF001 (the test reads the real processor's own config)
    assert backend.family.name == family
    assert backend.family.pixels_per_token_side == vision.patch_size * vision.merge_size
    assert backend.family.temporal_patch_size == vision.temporal_patch_size
    assert backend.family.temporal_patch_size == (1 if family == "cosmos3_edge" else 2)


@pytest.mark.parametrize("family", NEW)
def test_every_mode_answers_with_the_taught_model(backends, family: str) -> None:
    reasoner = Reasoner(backends[family])
    expected_reasoning = taught_output(family).split("<think>\n", 1)[1].split("\n</think>", 1)[0]
    for mode in ANSWER_MODES:
        result = reasoner.run(TaskRequest(task="put the red cup on the tray", mode=mode, clips=[clip()],
                                          max_new_tokens=400))
        assert result.generation.stats.stop_reason == "eos", mode
        assert result.outcome.ok, (mode, result.outcome.error)
        assert result.outcome.reasoning == expected_reasoning, mode  # reasoning, also where the template opened it
        if mode is Mode.DECOMPOSE:
            assert [s.action for s in result.outcome.parsed.subtasks] == ["pick", "place"]


def test_edge_answer_reads_its_template_opened_think(backends) -> None:
    """Edge's template writes "<think>\\n" before the model's first token: the text still starts with it."""
    from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
    from cosmos_reason_ros.core.models.backend import GenerationRequest, SamplingParams

    backend = backends["cosmos3_edge"]
    clips = prepare_clips([clip()], backend.family, VideoBudget())
    prompt = build_prompt(backend.family, Mode.DECOMPOSE, "tidy the table", clips)
    inputs, _, opener = backend.prepare(prompt)
    assert opener == "<think>\n"
    events = []
    sampling = SamplingParams(temperature=0, max_new_tokens=400)
    output = backend.generate(GenerationRequest(prompt=prompt, sampling=sampling, on_stream=events.append))
    assert output.text == taught_output("cosmos3_edge")
    assert events[0].delta.startswith("<think>\n") and "".join(e.delta for e in events) == output.text


@pytest.mark.parametrize("family", NEW)
def test_frame_times_reach_the_prompt(backends, family: str) -> None:
    """The processor writes the frames' own times (Edge one per frame, Nano one per frame pair)."""
    from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips

    backend = backends[family]
    prepared = prepare_clips([clip(frames=4, period=0.5)], backend.family, VideoBudget())
    prompt = build_prompt(backend.family, Mode.QUESTION, "what moves?", prepared)
    inputs, _ = backend.preprocess(prompt)
    text = backend._processor.tokenizer.decode(inputs["input_ids"][0])  # noqa: SLF001 (the real tokenizer)
    times = [t - prepared[0].timestamps[0] for t in prepared[0].timestamps]
    if family == "cosmos3_edge":
        expected = [f"<{t:.1f} seconds>" for t in times]
    else:
        expected = [f"<{(times[i] + times[i + 1]) / 2:.1f} seconds>" for i in range(0, len(times), 2)]
    found = [piece for piece in expected if piece in text]
    assert found == expected, text[:400]


def test_critic_is_asked_in_the_choice_form() -> None:
    text = critic_instruction(COSMOS3, "", [object()], ())
    assert "(A) Possible\n(B) Impossible" in text and "Write only the letter" in text
    for answer, verdict in (("A", Plausibility.PLAUSIBLE), ("(B) Impossible", Plausibility.IMPLAUSIBLE)):
        outcome = parse_output(f"<think>\nlooked\n</think>\n\n{answer}", COSMOS3_EDGE, Mode.CRITIC, stop_reason="eos")
        assert outcome.ok and outcome.parsed.critique.plausible is verdict


@pytest.mark.parametrize("family", NEW)
def test_a_checkpoint_saved_with_transformers_alone_reaches_generation(tmp_path: Path, family: str) -> None:
    """A checkpoint as saved outside the project (no return_metadata in the video processor config, no
    return_mm_token_type_ids in the tokenizer config, random weights): the goal reaches generation and ends
    as a parse failure of random text, never a model error."""
    out = write_tiny_model(tmp_path / family, family=family, teach_answer=False)
    processor_config = json.loads((out / "processor_config.json").read_text())
    processor_config.get("video_processor", {})["return_metadata"] = False
    (out / "processor_config.json").write_text(json.dumps(processor_config))
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    tokenizer_config.pop("return_mm_token_type_ids", None)
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    backend = TransformersBackend(TransformersConfig(model=str(out), device="cpu"))
    backend.load()
    try:
        with pytest.raises(ParseError) as excinfo:
            Reasoner(backend).run(TaskRequest(task="is the cup reachable?", mode=Mode.FEASIBILITY, clips=[clip()],
                                              max_new_tokens=24))
        assert excinfo.value.partial is not None
        assert excinfo.value.partial.generation.stats.generated_tokens > 0
    finally:
        backend.close()
