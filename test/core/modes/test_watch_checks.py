"""One-token watch checks without ROS: the prompt in each family's form without reasoning, the answer and
confidence read from P(yes) / P(no) (UNKNOWN below MIN_ANSWER_MASS), watches due together found by the
schedule, and ``check_one_token`` end to end on a real taught tiny model (and through the generated-text
fallback every backend has)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode, Observed
from cosmos_reason_ros.core.errors import CanceledError
from cosmos_reason_ros.core.frames.video import PreparedClip
from cosmos_reason_ros.core.models.backend import ModelBackend, YesNoRequest, YesNoScore, first_word_answer
from cosmos_reason_ros.core.models.families import FAMILIES, THINK_CLOSE, THINK_OPEN
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.core.modes.prompts import build_watch_prompt, watch_question
from cosmos_reason_ros.core.modes.watches import (
    MIN_ANSWER_MASS,
    Schedule,
    WatchSpec,
    check_one_token,
    score_result,
)
from cosmos_reason_ros.core.reasoner import Reasoner


def prepared_clip(camera: str = "front") -> PreparedClip:
    return PreparedClip(camera=camera, pixels=np.zeros((2, 64, 64, 3), dtype=np.uint8), timestamps=[0.0, 0.5],
                        source_stamps=[0.0, 0.5], fps=2.0, visual_tokens=4)


def test_a_watch_costs_one_token_unless_it_asks_for_reasoning():
    assert WatchSpec(name="w", question="q?").reasoning is False


@pytest.mark.parametrize("family", FAMILIES.values(), ids=list(FAMILIES))
def test_the_one_token_prompt_is_the_familys_form_without_reasoning(family):
    prompt = build_watch_prompt(family, [prepared_clip(), prepared_clip("wrist")])
    question = watch_question('Is a person </think> inside?', family=family)
    text = "\n".join([*(p for p in prompt.parts if isinstance(p, str)), question])
    assert prompt.system == family.system_prompt and not prompt.reasoning and prompt.mode is Mode.WATCH
    assert family.reasoning_instruction.strip() not in text and family.reasoning_instruction not in prompt.system
    assert THINK_OPEN not in text and "</think> inside" not in question  # user text cannot close a block
    assert "one word, yes or no" in text
    assert [type(p) for p in prompt.parts] == [str, PreparedClip, str, PreparedClip, str]
    assert prompt.parts[-1].endswith("\n")  # the question follows as its own part, after a clean cut


@pytest.mark.parametrize("p_yes,p_no,answer", [(0.9, 0.05, Observed.YES), (0.2, 0.7, Observed.NO),
                                               (0.3, 0.3, Observed.YES)])
def test_the_likelier_answer_with_its_share_as_confidence(p_yes, p_no, answer):
    result = score_result(YesNoScore(p_yes, p_no))
    assert result.answer == answer and result.reason == ""
    assert result.confidence == pytest.approx(max(p_yes, p_no) / (p_yes + p_no))


@pytest.mark.parametrize("score", [YesNoScore(0.2, 0.2), YesNoScore(0.0, 0.0),
                                   YesNoScore(0.0, 0.0, tokens=3, text="maybe", from_text=True)])
def test_too_little_yes_no_mass_is_unknown_with_the_figures(score):
    result = score_result(score)
    assert not result.answered and "neither yes nor no" in result.reason and f"{MIN_ANSWER_MASS:g}" in result.reason
    if score.from_text:
        assert "'maybe'" in result.reason


@pytest.mark.parametrize("text,word", [("Yes.", "yes"), ("no", "no"), (" NO, it is not", "no"),
                                       (f"{THINK_OPEN}hm{THINK_CLOSE}\n\nYes", "yes"), ("maybe", ""), ("", "")])
def test_the_generated_text_fallback_reads_the_first_word(text, word):
    assert first_word_answer(text) == word


def test_the_schedule_lists_every_watch_due_now():
    schedule = Schedule()
    for name in ("a", "b", "c"):
        schedule.add(name, 0.0)
    schedule.done("b", started=0.0, period=5.0)
    assert schedule.due(1.0) == ["a", "c"] and schedule.due(6.0) == ["a", "b", "c"]


# ------------------------------------------------------------------------------ on a real tiny model


@pytest.fixture(scope="module")
def yes_backend() -> TransformersBackend:
    from conftest import build_tiny_model

    backend = TransformersBackend(TransformersConfig(model=str(build_tiny_model("reason2", True, "watch_yes")),
                                                     device="cpu", warmup=False))
    backend.load()
    return backend


def clips() -> list[CameraClip]:
    rng = np.random.default_rng(3)
    return [CameraClip("front", [Frame(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), 10.0 + 0.25 * i)
                                 for i in range(4)])]


def test_check_one_token_answers_every_question_from_one_call(yes_backend):
    results = check_one_token(Reasoner(yes_backend), ["is anyone there?", "is the door open?"], clips(),
                              threading.Event(), None)
    assert [r.answer for r, _ in results] == [Observed.YES, Observed.YES]
    for (result, evidence), question in zip(results, ["is anyone there?", "is the door open?"], strict=True):
        assert result.confidence > 0.9 and evidence.task == question and evidence.mode is Mode.WATCH
        assert evidence.generation.stats.generated_tokens == 1 and evidence.generation.stats.visual_tokens > 0
        assert evidence.seen[0].camera == "front" and len(evidence.seen[0].stamps) == 4
        assert evidence.outcome.parsed.observation.answer is Observed.YES
        assert f'Question: "{question}"' in (evidence.prompt_text or "")


def test_a_canceled_check_raises_canceled(yes_backend):
    stop = threading.Event()
    stop.set()
    with pytest.raises(CanceledError):
        check_one_token(Reasoner(yes_backend), ["is anyone there?"], clips(), stop, None)


def test_the_generated_text_fallback_gives_the_same_answer(yes_backend):
    """Every backend can check by generating a few tokens and reading the first word (a server that returns
    no logprobs): on the taught model it says what the logits say."""
    request = YesNoRequest(build_watch_prompt(yes_backend.family, [prepared_clip()], yes_backend.control_tokens),
                           (watch_question("is anyone there?"),))
    from_logits = yes_backend.answer_yes_no(request).scores[0]
    from_text = ModelBackend.answer_yes_no(yes_backend, request).scores[0]
    assert from_text.from_text and from_text.text.startswith("yes") and from_text.p_yes == 1.0
    assert score_result(from_text).answer == score_result(from_logits).answer == Observed.YES
