"""One-token yes/no answers and the shared prefill, on real tiny models of every family.

* Continuing from the prefilled prefix (system + video + watch instruction) gives the SAME first-token logits
  as a full forward of prefix + question, for every family in ``TINY_FAMILIES`` (M-RoPE offsets included);
  a control with the prefix's M-RoPE offset dropped shows the comparison would catch a position error.
* N questions over the same frames cost one forward over the video: ``CountingForward`` (a test double that
  wraps the real model's ``forward`` and counts its calls) sees one call with pixels and N without.
* On the taught one-word models (``tiny_model.WATCH_SCENARIOS``) the answer read from the logits is the answer
  the model generates, for every family; an untaught model puts almost no mass on yes or no: UNKNOWN.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Observed
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.models.backend import GenerationRequest, SamplingParams, YesNoRequest, first_word_answer
from cosmos_reason_ros.core.models.prefix import AnswerTokens, answer_tokens, last_logits, suffix_start
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.core.modes.prompts import build_watch_prompt, watch_question
from cosmos_reason_ros.core.modes.watches import MIN_ANSWER_MASS, score_result
from cosmos_reason_ros.testing.tiny_model import TINY_FAMILIES, WATCH_SCENARIOS

#: Largest difference allowed between the logits of a continuation and of a full forward (float32 on the CPU:
#: the same operations in a different grouping). Measured 2026-12-07 on the tiny models: at most 1e-6 for a
#: correct continuation, at least 5e-4 for one whose positions ignore the prefix's M-RoPE offset.
LOGIT_TOLERANCE = 1e-5
QUESTIONS = ("Is a person inside the arm's workspace?", "Is the door open?", "Has the pallet tipped over?")


def load(path) -> TransformersBackend:
    backend = TransformersBackend(TransformersConfig(model=str(path), device="cpu", warmup=False))
    backend.load()
    return backend


def watch_request(backend: TransformersBackend, questions=QUESTIONS, cameras=("front",)) -> YesNoRequest:
    rng = np.random.default_rng(7)
    clips = [CameraClip(name, [Frame(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), 5.0 + 0.25 * i)
                               for i in range(4)]) for name in cameras]
    assert backend.family is not None
    prepared = prepare_clips(clips, backend.family, VideoBudget())
    prompt = build_watch_prompt(backend.family, prepared, backend.control_tokens)
    return YesNoRequest(prompt, tuple(watch_question(q, backend.control_tokens, backend.family) for q in questions))


class CountingForward:
    """Test double: wraps a real model's ``forward`` and counts calls, those that carry pixels apart."""

    def __init__(self, model: Any) -> None:
        self._model, self._forward = model, model.forward
        self.calls = self.with_pixels = 0
        model.forward = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.with_pixels += any(kwargs.get(k) is not None for k in ("pixel_values", "pixel_values_videos"))
        return self._forward(*args, **kwargs)

    def remove(self) -> None:
        del self._model.forward


@pytest.fixture(scope="module")
def random_backends() -> dict[str, TransformersBackend]:
    from conftest import build_tiny_model

    return {family: load(build_tiny_model(family, teach=False)) for family in TINY_FAMILIES}


@pytest.fixture(scope="module")
def taught_backends() -> dict[tuple[str, str], TransformersBackend]:
    from conftest import build_tiny_model

    wanted = [(family, "watch_yes") for family in TINY_FAMILIES] + [("reason2", "watch_no")]
    return {(family, scenario): load(build_tiny_model(family, True, scenario)) for family, scenario in wanted}


# ------------------------------------------------------------------------------------------- token ids


def test_answer_tokens_are_the_single_token_spellings(random_backends):
    tokenizer = random_backends["reason1"]._processor.tokenizer
    tokens = answer_tokens(tokenizer)
    assert tokens.usable
    assert {tokenizer.decode([i]).strip().lower() for i in tokens.yes} == {"yes"}
    assert {tokenizer.decode([i]).strip().lower() for i in tokens.no} == {"no"}


def test_spellings_split_into_pieces_are_left_out():
    class Pieces:  # a tokenizer that writes "yes" as two tokens and "No" as one
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return {"No": [7], " No": [7]}.get(text, [1, 2])

    tokens = answer_tokens(Pieces())
    assert tokens == AnswerTokens(yes=(), no=(7,)) and not tokens.usable


def test_suffix_start_finds_only_a_clean_cut():
    assert suffix_start([1, 2, 3, 4], [3, 4]) == 2
    assert suffix_start([1, 2, 3, 4], [2, 4]) is None  # tokens merged differently at the cut
    assert suffix_start([3, 4], [3, 4]) is None  # nothing shared


# --------------------------------------------------------------------------- continuation = full forward


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_continuing_from_the_prefix_gives_the_full_forwards_logits(random_backends, family):
    from cosmos_reason_ros.core.models.prefix import SharedPrefill

    backend = random_backends[family]
    request = watch_request(backend)
    model = backend._model
    with torch.inference_mode():
        inputs, _, _ = backend.prepare(request.prompt_for(0))
        full_ids = inputs["input_ids"][0].tolist()
        suffixes = [backend._question_tokens(request, i) for i in range(len(QUESTIONS))]
        cut = suffix_start(full_ids, suffixes[0])
        assert cut is not None and not backend._visual_after(full_ids[cut:])
        shared = SharedPrefill(model, inputs, cut)
        for index, suffix in enumerate(suffixes):
            whole, _, _ = backend.prepare(request.prompt_for(index))
            assert whole["input_ids"][0].tolist() == full_ids[:cut] + suffix  # the cut reproduces the tokens
            expected = last_logits(model, whole)
            continued = shared.continue_with(suffix)
            assert torch.allclose(continued, expected, atol=LOGIT_TOLERANCE, rtol=0), \
                (family, index, float((continued - expected).abs().max()))
        # Control: the same continuation without the prefix's M-RoPE offset is measurably different.
        shared = SharedPrefill(model, inputs, cut)
        deltas = model.model.rope_deltas
        model.model.rope_deltas = torch.zeros_like(deltas)
        try:
            wrong = shared.continue_with(suffixes[0])
        finally:
            model.model.rope_deltas = deltas
        assert float((wrong - last_logits(model, inputs)).abs().max()) > 10 * LOGIT_TOLERANCE


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_n_questions_cost_one_prefill_of_the_video(random_backends, family):
    backend = random_backends[family]
    counting = CountingForward(backend._model)
    try:
        together = backend.answer_yes_no(watch_request(backend))
        assert (counting.with_pixels, counting.calls) == (1, 1 + len(QUESTIONS))
        assert together.prefills == 1 and "shared prefill" in together.note
        counting.calls = counting.with_pixels = 0
        apart = [backend.answer_yes_no(watch_request(backend, (q,))) for q in QUESTIONS]
        assert (counting.with_pixels, counting.calls) == (len(QUESTIONS), len(QUESTIONS))
    finally:
        counting.remove()
    for shared, alone in zip(together.scores, apart, strict=True):  # the same answers either way
        assert shared.p_yes == pytest.approx(alone.scores[0].p_yes, abs=1e-5)
        assert shared.p_no == pytest.approx(alone.scores[0].p_no, abs=1e-5)


def test_a_stopped_request_scores_nothing(random_backends):
    backend = random_backends["reason2"]
    request = watch_request(backend)
    request.cancel.set()
    assert backend.answer_yes_no(request).stop_reason == "canceled"


# ---------------------------------------------------------------------- logits answer = generated answer


@pytest.mark.parametrize("family,scenario", [*((f, "watch_yes") for f in TINY_FAMILIES), ("reason2", "watch_no")])
def test_the_answer_from_logits_is_the_generated_answer(taught_backends, family, scenario):
    backend = taught_backends[(family, scenario)]
    request = watch_request(backend)
    scores = backend.answer_yes_no(request).scores
    for index, score in enumerate(scores):
        generated = backend.generate(GenerationRequest(request.prompt_for(index),
                                                       SamplingParams(temperature=0.0, max_new_tokens=3)))
        word = first_word_answer(generated.text)
        assert word == WATCH_SCENARIOS[scenario], generated.text
        result = score_result(score)
        assert result.answer == (Observed.YES if word == "yes" else Observed.NO), score
        assert result.confidence > 0.9 and score.tokens == 1


def test_an_untaught_model_answers_neither_and_the_check_is_unknown(random_backends):
    """A random model spreads its first token over the whole vocabulary: yes and no together hold far less
    than MIN_ANSWER_MASS, so the check is UNKNOWN with the figures, never a silent "no alert"."""
    backend = random_backends["reason1"]
    for score in backend.answer_yes_no(watch_request(backend)).scores:
        assert score.p_yes + score.p_no < MIN_ANSWER_MASS
        result = score_result(score)
        assert not result.answered and "neither yes nor no" in result.reason


def test_edge_is_asked_with_its_thinking_switch_off(random_backends):
    """Cosmos3-Edge's template opens an empty think block when asked without reasoning, and a reasoning one
    otherwise: the one-token prompt is in the form the family documents for answering without reasoning."""
    backend = random_backends["cosmos3_edge"]
    request = watch_request(backend)
    decode = backend._processor.tokenizer.decode
    asked = request.prompt_for(0)
    assert decode(backend.prepare(asked)[0]["input_ids"][0]).endswith("<think></think>")
    reasoning = dataclasses.replace(asked, reasoning=True)
    assert decode(backend.prepare(reasoning)[0]["input_ids"][0]).rstrip().endswith("<think>")
